import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/blueprints/duration.ts';

describe('parseDuration', () => {
  it.each([
    ['200ms', 200],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1_500],
    ['0ms', 0],
    [0, 0],
    [1500, 1500],
  ] as const)('%j → %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    '',
    '5',
    '5 minutes',
    '-1s',
    '1w',
    's',
    '1.s',
    '1e3ms',
    ' 1s',
    '1s ',
    '999999999999999d',
  ])('rejects %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60])(
    'rejects the number %d',
    (input) => {
      expect(parseDuration(input)).toBeUndefined();
    },
  );

  it('rejects strings longer than 256 characters, even well-formed ones', () => {
    expect(parseDuration('1s'.repeat(128))).toBe(128_000);
    expect(parseDuration('1s'.repeat(129))).toBeUndefined();
    expect(parseDuration('1s'.repeat(1_000_000))).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it('writes the largest units first', () => {
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(86_400_000 + 1)).toBe('1d1ms');
  });

  it('throws on what is not a duration', () => {
    expect(() => formatDuration(-1)).toThrow(RangeError);
    expect(() => formatDuration(0.5)).toThrow(RangeError);
  });

  it('round-trips through parseDuration (property)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });
});
