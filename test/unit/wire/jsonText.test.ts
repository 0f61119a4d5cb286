import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkJsonText, invalidUtf8Offset, scanJsonText } from '../../../src/wire/jsonText.ts';

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

describe('UTF-8', () => {
  it('accepts any well-formed text and returns it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const text = JSON.stringify({ s });
        expect(checkJsonText(Buffer.from(text), 200)).toEqual({ ok: true, text });
      }),
    );
  });

  it('names the byte where the first invalid sequence starts', () => {
    const cases: [Uint8Array, number][] = [
      [bytes('{"s":"ab', [0xc3, 0x28], '"}'), 8], // bad continuation
      [bytes('"', [0xff], '"'), 1], // never valid
      [bytes('"é', [0xc0, 0xaf], '"'), 3], // overlong
      [bytes('"', [0xed, 0xa0, 0x80], '"'), 1], // an encoded surrogate
      [bytes('"', [0xf4, 0x90, 0x80, 0x80], '"'), 1], // above U+10FFFF
      [bytes('"😀', [0xe2, 0x82]), 5], // cut short at the end
    ];
    for (const [input, offset] of cases) {
      expect(invalidUtf8Offset(input)).toBe(offset);
      expect(checkJsonText(input, 200)).toEqual({ ok: false, problem: { kind: 'utf8', offset } });
    }
    expect(invalidUtf8Offset(bytes('"é😀€"'))).toBe(-1);
  });
});

describe('nesting depth', () => {
  it('accepts exactly maxDepth levels and names the character where maxDepth + 1 opens', () => {
    expect(scanJsonText(`${'['.repeat(200)}${']'.repeat(200)}`, 200)).toBeUndefined();
    expect(scanJsonText(`{"a":${'['.repeat(201)}${']'.repeat(201)}}`, 200)).toEqual({
      kind: 'depth',
      offset: 5 + 199,
      maxDepth: 200,
    });
  });

  it('does not count brackets inside strings, nor escaped quotes as string ends', () => {
    const text = JSON.stringify({ s: `\\"${'['.repeat(1000)}`, t: '{{{{' });
    expect(scanJsonText(text, 2)).toBeUndefined();
  });

  it('stops a 10,000-deep value in one pass, without recursion', () => {
    const deep = Buffer.from(`${'['.repeat(10_000)}${']'.repeat(10_000)}`);
    expect(checkJsonText(deep, 200)).toMatchObject({ ok: false, problem: { kind: 'depth' } });
  });
});

describe('surrogate escapes', () => {
  it('accepts escaped pairs and refuses a lone high or low surrogate', () => {
    expect(scanJsonText('"\\ud83d\\ude00 \\u00e9"', 200)).toBeUndefined();
    expect(JSON.parse('"\\ud83d\\ude00"')).toBe('😀');
    expect(scanJsonText('"ab\\ud800"', 200)).toEqual({ kind: 'surrogate', offset: 3 });
    expect(scanJsonText('"\\ud800\\u0041"', 200)).toEqual({ kind: 'surrogate', offset: 1 });
    expect(scanJsonText('"\\udc00"', 200)).toEqual({ kind: 'surrogate', offset: 1 });
    expect(scanJsonText('"\\\\ud800"', 200)).toBeUndefined();
  });
});
