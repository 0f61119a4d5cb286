import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  capFields,
  EventPage,
  fitEvent,
  fitFields,
  isTruncated,
  jsonBytes,
  MARKER_MAX_BYTES,
  PREVIEW_CHARS,
  truncate,
  utf8Bytes,
  type WireEvent,
} from '../../../src/wire/fit.ts';

const event = (revision: number, data: unknown): WireEvent => ({
  revision,
  type: 'StepCompleted',
  data,
  at: '2026-01-01T00:00:00.000Z',
});

describe('sizes', () => {
  it('utf8Bytes counts what Buffer would send, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(utf8Bytes(s)).toBe(Buffer.byteLength(s, 'utf8'));
      }),
    );
  });

  it('jsonBytes is the UTF-8 length of JSON.stringify, short or long', () => {
    for (const value of [{ a: 'é😀' }, 'x'.repeat(10_000), ['ü'.repeat(5000)], null]) {
      expect(jsonBytes(value)).toBe(Buffer.byteLength(JSON.stringify(value)));
    }
    expect(jsonBytes(undefined)).toBe(0);
  });
});

describe('truncate', () => {
  it('gives the marker with the whole size and the start of the JSON text', () => {
    const value = { blob: 'y'.repeat(10_000) };
    const marker = truncate(value);
    expect(marker.$truncated).toBe(true);
    expect(marker.bytes).toBe(JSON.stringify(value).length);
    expect(marker.preview).toBe(JSON.stringify(value).slice(0, PREVIEW_CHARS));
    expect(isTruncated(marker)).toBe(true);
    expect(isTruncated(value)).toBe(false);
  });

  it('never cuts a surrogate pair in half and stays under MARKER_MAX_BYTES', () => {
    const value = `${'a'.repeat(PREVIEW_CHARS - 2)}😀😀😀`;
    const marker = truncate(value);
    expect(marker.preview).toBe(`"${'a'.repeat(PREVIEW_CHARS - 2)}`);
    const worst = truncate('\u0001'.repeat(10_000));
    expect(jsonBytes(worst)).toBeLessThanOrEqual(MARKER_MAX_BYTES);
  });
});

describe('fitFields', () => {
  it('returns the object itself when it fits', () => {
    const summary = { runId: 'r', input: { a: 1 } };
    expect(fitFields(summary, ['input'], 1000).value).toBe(summary);
  });

  it('truncates the largest fields first, only as many as needed', () => {
    const summary = { runId: 'r', input: 'i'.repeat(5000), output: 'o'.repeat(9000), error: 'e' };
    const { value, fits } = fitFields(summary, ['input', 'output', 'error'], 8000);
    expect(fits).toBe(true);
    expect(isTruncated(value.output)).toBe(true);
    expect(value.input).toBe(summary.input);
    expect(value.error).toBe('e');
    expect(jsonBytes(value)).toBeLessThanOrEqual(8000);
  });

  it('says when even every field truncated does not fit, and leaves absent keys absent', () => {
    const { value, fits } = fitFields(
      { runId: 'r'.repeat(3000), input: 'x'.repeat(5000) },
      ['input', 'output'],
      1000,
    );
    expect(fits).toBe(false);
    expect('output' in value).toBe(false);
  });

  it('always fits within its budget when the rest of the object is small (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 3000 }), { minLength: 1, maxLength: 6 }),
        (values) => {
          const object = Object.fromEntries(values.map((v, i) => [`k${i}`, v]));
          const budget = 6 * (MARKER_MAX_BYTES + 10) + 10;
          const { value, fits } = fitFields(object, Object.keys(object), budget);
          expect(fits).toBe(true);
          expect(jsonBytes(value)).toBeLessThanOrEqual(budget);
        },
      ),
    );
  });
});

describe('capFields', () => {
  it('truncates each listed value over the cap, whatever the total', () => {
    const s = { runId: 'r', input: 'x'.repeat(2000), output: { ok: true } };
    const capped = capFields(s, ['input', 'output', 'error'], 1024);
    expect(isTruncated(capped.input)).toBe(true);
    expect(capped.output).toEqual({ ok: true });
    expect(capFields({ input: 1 }, ['input'], 1024)).toEqual({ input: 1 });
  });
});

describe('fitEvent', () => {
  it('keeps an event that fits and truncates the largest data fields of one that does not', () => {
    const small = event(1, { stepId: 's', output: 1 });
    expect(fitEvent(small, 1000)).toBe(small);
    const large = event(2, { stepId: 's', taskId: 't', output: 'z'.repeat(50_000) });
    const fitted = fitEvent(large, 4096);
    expect(fitted.data).toMatchObject({
      stepId: 's',
      taskId: 't',
      output: { $truncated: true, bytes: 50_002 },
    });
    expect(jsonBytes(fitted)).toBeLessThanOrEqual(4096);
  });

  it('replaces data that is not an object as a whole', () => {
    const fitted = fitEvent(event(3, 'q'.repeat(10_000)), 4096);
    expect(isTruncated(fitted.data)).toBe(true);
  });
});

describe('EventPage', () => {
  it('takes events until the next would pass the budget, and never more bytes than the budget', () => {
    const events = Array.from({ length: 10 }, (_, i) => event(i, { output: 'w'.repeat(900) }));
    const page = new EventPage(3000);
    const taken = events.filter((e) => page.add(e));
    expect(page.full).toBe(true);
    expect(taken.length).toBe(page.events.length);
    expect(page.events.length).toBeGreaterThan(0);
    expect(jsonBytes(page.events)).toBeLessThanOrEqual(3000);
    expect(jsonBytes([...page.events, events[page.events.length]])).toBeGreaterThan(3000);
    expect(page.events.every((e) => !isTruncated((e.data as { output: unknown }).output))).toBe(
      true,
    );
  });

  it('truncates only an event too large for a page on its own, and only as the first', () => {
    const page = new EventPage(3000);
    expect(page.add(event(0, { output: 'a'.repeat(100) }))).toBe(true);
    expect(page.add(event(1, { output: 'b'.repeat(5000) }))).toBe(false);
    const next = new EventPage(3000);
    expect(next.add(event(1, { output: 'b'.repeat(5000) }))).toBe(true);
    expect(isTruncated((next.events[0]?.data as { output: unknown }).output)).toBe(true);
    expect(jsonBytes(next.events)).toBeLessThanOrEqual(3000);
  });
});
