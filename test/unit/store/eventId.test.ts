import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Json } from '../../../src/blueprints/json.ts';
import { eventId } from '../../../src/store/eventId.ts';
import { runStream } from '../../../src/store/streams.ts';

/** A UUID of version 8 (custom) with the RFC 9562 variant. */
const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/u;

const stream = fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/u).map((runId) => runStream(runId));
const revision = fc.nat();
// Event types are constants in the code (`StepCompleted`, …): names, never containing U+0000.
const type = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,30}$/u);
const data = fc.jsonValue().map((v) => v as Json);
const place = fc.record({ stream, revision, type, data });

describe('eventId', () => {
  it('gives the same UUID-shaped id for the same stream, revision, type and data, whatever came before (property)', () => {
    fc.assert(
      fc.property(place, place, (e, other) => {
        const first = eventId(e.stream, e.revision, e.type, e.data);
        expect(first).toMatch(UUID_V8);
        eventId(other.stream, other.revision, other.type, other.data);
        // Data rebuilt from its JSON text: an event decided again is a new object, same content.
        const rebuilt = JSON.parse(JSON.stringify(e.data)) as Json;
        expect(eventId(e.stream, e.revision, e.type, rebuilt)).toBe(first);
      }),
      { numRuns: 300 },
    );
  });

  it('is stable across versions: a known event keeps its id (sha256 of the fields, cross-checked with sha256sum)', () => {
    expect(eventId('run-order-1', 0, 'RunStarted', { input: { amount: 120 } })).toBe(
      'a6e0dd1a-2821-8909-800a-b071edf72dcf',
    );
  });

  it('gives a different id when any one of stream, revision, type or data changes (property)', () => {
    fc.assert(
      fc.property(
        place,
        fc.constantFrom('stream', 'revision', 'type', 'data'),
        place,
        (e, field, other) => {
          const changed = { ...e, [field]: other[field] };
          fc.pre(
            field === 'data'
              ? JSON.stringify(e.data) !== JSON.stringify(other.data)
              : e[field] !== other[field],
          );
          expect(eventId(changed.stream, changed.revision, changed.type, changed.data)).not.toBe(
            eventId(e.stream, e.revision, e.type, e.data),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('tells apart neighbours a property test rarely draws: next revision, key order, a moved separator', () => {
    const id = (s: string, r: number, t: string, d: Json) => eventId(s, r, t, d);
    const base = id('run-a', 1, 'StepCompleted', { a: 1, b: 2 });
    expect(
      new Set([
        base,
        id('run-a', 2, 'StepCompleted', { a: 1, b: 2 }),
        id('run-a', 11, 'StepCompleted', { a: 1, b: 2 }),
        id('run-a1', 1, 'StepCompleted', { a: 1, b: 2 }),
        id('run-a', 1, 'StepCompleted', { b: 2, a: 1 }),
        id('run-a', 1, 'StepFailed', { a: 1, b: 2 }),
        id('run-a', 1, 'StepCompleted', null),
        id('run-a', 1, 'StepCompleted', 'null'),
      ]).size,
    ).toBe(8);
  });
});
