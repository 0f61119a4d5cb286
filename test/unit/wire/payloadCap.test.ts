import { describe, expect, it } from 'vitest';
import { payloadCapNote, requestLimitsOf } from '../../../src/requestLimits.ts';
import { DEFAULT_MAX_PAYLOAD, overCap, payloadCap } from '../../../src/wire/payloadCap.ts';
import { REPLY_RESERVE_BYTES } from '../../../src/wire/pages.ts';

/**
 * README "Security", Limits: the payload cap (`--max-payload`) measured in bytes of a value's
 * JSON as weft stores it, bounded by the NATS connection's max_payload, and the settings'
 * flags and variables.
 */

describe('the payload cap', () => {
  it('lets a value of exactly the cap through and refuses one byte more, naming the size and the cap', () => {
    const fits = 'x'.repeat(98); // "…" : 100 bytes of JSON
    expect(overCap('the input', fits, 100)).toBeUndefined();
    const error = overCap('the input', `${fits}x`, 100);
    expect(error).toMatchObject({
      code: 'payload_too_large',
      message: 'the input is 101 bytes, over the cap of 100 bytes (--max-payload)',
      details: { bytes: 101, maxPayload: 100 },
    });
  });

  it('counts UTF-8 bytes, not characters', () => {
    expect(overCap('the payload', 'é'.repeat(40), 100)).toBeUndefined();
    expect(overCap('the payload', 'é'.repeat(50), 100)).toMatchObject({
      details: { bytes: 102 },
    });
  });

  it('measures the value as stored, not the message it came in (a number written out grows)', () => {
    const text = `[${Array.from({ length: 20 }, () => '9e20').join(',')}]`;
    const value = JSON.parse(text) as unknown;
    expect(text.length).toBeLessThanOrEqual(200);
    expect(overCap('the args', value, 200, text.length)).toMatchObject({
      code: 'payload_too_large',
    });
  });

  it('does not measure a value from a message far below the cap', () => {
    const unmeasurable = {
      toJSON() {
        throw new Error('measured');
      },
    };
    expect(overCap('the input', unmeasurable, 600, 100)).toBeUndefined();
    expect(() => overCap('the input', unmeasurable, 600, 101)).toThrow('measured');
  });

  it('is never more than the NATS connection carries with a reply envelope around it', () => {
    expect(payloadCap(DEFAULT_MAX_PAYLOAD, 1024 * 1024)).toBe(DEFAULT_MAX_PAYLOAD);
    expect(payloadCap(8_000_000, 1024 * 1024)).toBe(1024 * 1024 - REPLY_RESERVE_BYTES);
    expect(payloadCapNote(DEFAULT_MAX_PAYLOAD, 1024 * 1024)).toBeUndefined();
    expect(payloadCapNote(8_000_000, 1024 * 1024)).toBe(
      `--max-payload 8000000 is more than NATS carries here (max_payload 1048576 less ${REPLY_RESERVE_BYTES} bytes for a reply's envelope): values are capped at ${1024 * 1024 - REPLY_RESERVE_BYTES} bytes`,
    );
  });
});

describe('the request limit settings', () => {
  const none = () => undefined;

  it('default to a 1 MB payload, 10,000 signals a run and no start limits', () => {
    expect(requestLimitsOf(none, {})).toEqual({ maxPayload: 1_000_000, maxSignals: 10_000 });
  });

  it('come from the environment, and a flag wins over its variable', () => {
    const env = {
      WEFT_MAX_PAYLOAD: '2048',
      WEFT_MAX_SIGNALS: '5',
      WEFT_MAX_STARTS_PER_SECOND: '50',
      WEFT_MAX_RUNNING: '100',
    };
    expect(requestLimitsOf(none, env)).toEqual({
      maxPayload: 2048,
      maxSignals: 5,
      maxStartsPerSecond: 50,
      maxRunning: 100,
    });
    const flags: Record<string, string> = { 'max-payload': '4096', 'max-running': '0' };
    expect(requestLimitsOf((name) => flags[name], env)).toEqual({
      maxPayload: 4096,
      maxSignals: 5,
      maxStartsPerSecond: 50,
    });
    expect(requestLimitsOf(none, { WEFT_MAX_STARTS_PER_SECOND: 'off' })).not.toHaveProperty(
      'maxStartsPerSecond',
    );
  });

  it('name the setting and its bounds when a value is wrong', () => {
    expect(() => requestLimitsOf(none, { WEFT_MAX_PAYLOAD: '1mb' })).toThrow(
      "WEFT_MAX_PAYLOAD must be an integer from 1024 to 2147483647, got '1mb'",
    );
    expect(() => requestLimitsOf((n) => (n === 'max-signals' ? '0' : undefined), {})).toThrow(
      /--max-signals must be an integer from 1/,
    );
    expect(() => requestLimitsOf(none, { WEFT_MAX_RUNNING: '-3' })).toThrow(
      /WEFT_MAX_RUNNING must be an integer from 1 to \d+ \(or 0 for no limit\)/,
    );
  });
});
