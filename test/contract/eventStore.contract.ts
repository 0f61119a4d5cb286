import { randomUUID } from 'node:crypto';
import { Cause, Effect, Exit, Result } from 'effect';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Json } from '../../src/blueprints/json.ts';
import type {
  EventStoreShape,
  ExpectedRevision,
  NewEvent,
  RecordedEvent,
} from '../../src/store/EventStore.ts';
import { StoreRefused, StoreUnavailable, VersionConflict } from '../../src/store/errors.ts';
import { eventId } from '../../src/store/eventId.ts';
import { parseJson } from '../../src/store/shared.ts';

export interface ContractOptions {
  /** Put before every stream name, so runs against a shared server never meet. */
  readonly streamPrefix?: string;
  /** Runs of the model-based property test. */
  readonly propertyRuns?: number;
  /** Per-test timeout in ms. */
  readonly timeout?: number;
}

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect);
const failure = <A, E>(effect: Effect.Effect<A, E>): Promise<E> =>
  Effect.runPromise(Effect.flip(effect));

/**
 * The defect an effect died with. Fails the test when the effect succeeded, failed with a typed
 * error (a defect is a bug in the caller, never a case to handle), or was interrupted.
 */
export const defectOf = async <A, E>(effect: Effect.Effect<A, E>): Promise<unknown> => {
  const exit = await Effect.runPromise(Effect.exit(effect));
  if (!Exit.isFailure(exit))
    throw new Error(`expected a defect, got success ${String(exit.value)}`);
  if (Cause.hasFails(exit.cause) || Cause.hasInterrupts(exit.cause))
    throw new Error(`expected only a defect, got ${Cause.pretty(exit.cause)}`);
  const defect = Cause.findDefect(exit.cause);
  if (Result.isFailure(defect))
    throw new Error(`expected a defect, got ${Cause.pretty(exit.cause)}`);
  return defect.success;
};

const event = (type: string, data: Json = {}): NewEvent => ({ id: randomUUID(), type, data });
const events = (n: number, type = 'Happened'): NewEvent[] =>
  Array.from({ length: n }, (_, i) => event(type, { i }));

const ids = (list: readonly { readonly id: string }[]): string[] => list.map((e) => e.id);

/** What a value looks like after a trip through JSON text (e.g. -0 becomes 0). */
const viaJson = (value: Json): unknown => JSON.parse(JSON.stringify(value));

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The behaviour every `EventStoreShape` adapter must have. `make` is called once per test and the
 * store is closed after it; each test also uses stream names of its own, so a store may be shared.
 */
export const eventStoreContract = (
  name: string,
  make: () => EventStoreShape | Promise<EventStoreShape>,
  options: ContractOptions = {},
): void => {
  describe(`EventStore contract: ${name}`, { timeout: options.timeout ?? 10_000 }, () => {
    let store: EventStoreShape;
    let scope = '';
    const stream = (suffix: string): string => `${scope}${suffix}`;

    beforeEach(async () => {
      store = await make();
      scope = `${options.streamPrefix ?? ''}t${randomUUID().slice(0, 8)}-`;
    });

    afterEach(async () => {
      await run(store.close());
    });

    describe('append', () => {
      it('creates a stream with no_stream', async () => {
        const e = event('Started', { n: 1 });
        const result = await run(store.append(stream('a'), [e], 'no_stream'));
        expect(result.revision).toBe(0);
        const [read] = await run(store.read(stream('a')));
        expect(read).toEqual({
          stream: stream('a'),
          id: e.id,
          type: 'Started',
          data: { n: 1 },
          revision: 0,
          position: result.position,
          at: result.at,
        });
      });

      it('appends at the right revision, numbering events from there', async () => {
        const s = stream('a');
        expect((await run(store.append(s, events(2), 'no_stream'))).revision).toBe(1);
        expect((await run(store.append(s, events(1), 1))).revision).toBe(2);
        expect((await run(store.append(s, events(3), 2))).revision).toBe(5);
        const read = await run(store.read(s));
        expect(read.map((e) => e.revision)).toEqual([0, 1, 2, 3, 4, 5]);
        const positions = read.map((e) => e.position);
        expect(positions).toEqual([...positions].sort((x, y) => x - y));
        expect(new Set(positions).size).toBe(positions.length);
      });

      it('reports the last event appended: its revision, position and time', async () => {
        const s = stream('a');
        const result = await run(store.append(s, events(3), 'no_stream'));
        const last = (await run(store.read(s))).at(-1);
        expect(result).toEqual({ revision: 2, position: last?.position, at: last?.at });
      });

      it('fails with VersionConflict carrying the actual revision when the expected one is wrong', async () => {
        const s = stream('a');
        await run(store.append(s, events(2), 'no_stream'));
        for (const expected of [0, 5]) {
          const error = await failure(store.append(s, events(1), expected));
          expect(error).toBeInstanceOf(VersionConflict);
          expect(error).toMatchObject({ _tag: 'VersionConflict', stream: s, expected, actual: 1 });
        }
      });

      it('fails with VersionConflict when no_stream is expected but the stream exists', async () => {
        const s = stream('a');
        await run(store.append(s, events(1), 'no_stream'));
        const error = await failure(store.append(s, events(1), 'no_stream'));
        expect(error).toMatchObject({
          _tag: 'VersionConflict',
          stream: s,
          expected: 'no_stream',
          actual: 0,
        });
      });

      it('fails with VersionConflict (actual no_stream) when a revision is expected of a missing stream', async () => {
        const error = await failure(store.append(stream('a'), events(1), 0));
        expect(error).toMatchObject({ _tag: 'VersionConflict', expected: 0, actual: 'no_stream' });
      });

      it('is atomic: a rejected append writes none of its events', async () => {
        const s = stream('a');
        const first = events(2);
        await run(store.append(s, first, 'no_stream'));
        await failure(store.append(s, events(3), 0));
        await failure(store.append(s, events(3), 'no_stream'));
        expect(ids(await run(store.read(s)))).toEqual(ids(first));
        expect(await run(store.revision(s))).toBe(1);
      });

      it('lets exactly one of two racing appends at the same revision win', async () => {
        const s = stream('a');
        await run(store.append(s, events(1), 'no_stream'));
        const outcomes = await Promise.all([
          run(Effect.result(store.append(s, events(2, 'Left'), 0))),
          run(Effect.result(store.append(s, events(2, 'Right'), 0))),
        ]);
        expect(outcomes.filter((o) => o._tag === 'Success')).toHaveLength(1);
        expect(outcomes.flatMap((o) => (o._tag === 'Failure' ? [o.failure] : []))).toEqual([
          expect.objectContaining({ _tag: 'VersionConflict', stream: s, expected: 0, actual: 2 }),
        ]);
        const read = await run(store.read(s));
        expect(read).toHaveLength(3);
        expect(new Set(read.slice(1).map((e) => e.type)).size).toBe(1);
      });
    });

    describe('idempotency', () => {
      it('accepts a retried identical append without writing it twice', async () => {
        const s = stream('a');
        const batch = events(2);
        const first = await run(store.append(s, batch, 'no_stream'));
        const again = await run(store.append(s, batch, 'no_stream'));
        expect(again).toEqual(first);
        expect(ids(await run(store.read(s)))).toEqual(ids(batch));
      });

      it('recognises a retry after later appends, at any expected revision', async () => {
        const s = stream('a');
        const a = events(2);
        const b = events(1);
        const c = events(2);
        const ra = await run(store.append(s, a, 'no_stream'));
        const rb = await run(store.append(s, b, 1));
        const rc = await run(store.append(s, c, 2));
        expect(await run(store.append(s, a, 'no_stream'))).toEqual(ra);
        expect(await run(store.append(s, b, 1))).toEqual(rb);
        expect(await run(store.append(s, c, 2))).toEqual(rc);
        expect(await run(store.read(s))).toHaveLength(5);
        expect(await run(store.revision(s))).toBe(4);
      });

      it('recognises a decision made again (ids from eventId) after its append succeeded, and writes it once', async () => {
        const s = stream('a');
        // What a runtime builds for revisions 0 and 1; rebuilt from scratch for the retry.
        const decide = (amount: number): NewEvent[] =>
          [
            { type: 'RunStarted', data: { input: { amount } } },
            { type: 'StepScheduled', data: { stepId: 'charge', attempt: 1 } },
          ].map((e, i) => ({ id: eventId(s, i, e.type, e.data), ...e }));
        const first = await run(store.append(s, decide(120), 'no_stream'));
        expect(await run(store.append(s, decide(120), 'no_stream'))).toEqual(first);
        expect(ids(await run(store.read(s)))).toEqual(ids(decide(120)));
        // A different decision for the same place is not a retry: it conflicts.
        expect(await failure(store.append(s, decide(121), 'no_stream'))).toMatchObject({
          _tag: 'VersionConflict',
          actual: 1,
        });
        expect(await run(store.read(s))).toHaveLength(2);
      });

      it('still conflicts when the events after the expected revision have other ids', async () => {
        const s = stream('a');
        const a = events(2);
        await run(store.append(s, a, 'no_stream'));
        const changed = [a[0], event('Other')].filter((e): e is NewEvent => e !== undefined);
        const error = await failure(store.append(s, changed, 'no_stream'));
        expect(error).toMatchObject({ _tag: 'VersionConflict', actual: 1 });
        const longer = [...a, event('More')];
        expect(await failure(store.append(s, longer, 'no_stream'))).toMatchObject({
          _tag: 'VersionConflict',
        });
        expect(await run(store.read(s))).toHaveLength(2);
      });
    });

    describe('read', () => {
      it('reads from a revision, up to a limit', async () => {
        const s = stream('a');
        await run(store.append(s, events(5), 'no_stream'));
        const revisions = async (o: { from?: number; limit?: number }) =>
          (await run(store.read(s, o))).map((e) => e.revision);
        expect(await revisions({})).toEqual([0, 1, 2, 3, 4]);
        expect(await revisions({ from: 2 })).toEqual([2, 3, 4]);
        expect(await revisions({ limit: 2 })).toEqual([0, 1]);
        expect(await revisions({ from: 1, limit: 2 })).toEqual([1, 2]);
        expect(await revisions({ from: 4, limit: 10 })).toEqual([4]);
        expect(await revisions({ from: 5 })).toEqual([]);
        expect(await revisions({ limit: 0 })).toEqual([]);
      });

      it('reads a missing stream as []', async () => {
        expect(await run(store.read(stream('missing')))).toEqual([]);
        expect(await run(store.read(stream('missing'), { from: 3, limit: 1 }))).toEqual([]);
      });

      it('reports the revision of the last event, or no_stream', async () => {
        const s = stream('a');
        expect(await run(store.revision(s))).toBe('no_stream');
        await run(store.append(s, events(1), 'no_stream'));
        expect(await run(store.revision(s))).toBe(0);
        await run(store.append(s, events(3), 0));
        expect(await run(store.revision(s))).toBe(3);
        expect(await run(store.revision(stream('b')))).toBe('no_stream');
      });

      it('keeps streams apart', async () => {
        await run(store.append(stream('a'), events(2), 'no_stream'));
        await run(store.append(stream('b'), events(1), 'no_stream'));
        expect(await run(store.read(stream('a')))).toHaveLength(2);
        expect((await run(store.read(stream('b')))).map((e) => e.stream)).toEqual([stream('b')]);
      });
    });

    describe('readAll', () => {
      // Five events over two streams, interleaved: a0 b0 a1 b1 b2.
      const interleave = async (): Promise<readonly RecordedEvent[]> => {
        await run(store.append(stream('a'), [event('A0')], 'no_stream'));
        await run(store.append(stream('b'), [event('B0')], 'no_stream'));
        await run(store.append(stream('a'), [event('A1')], 0));
        await run(store.append(stream('b'), [event('B1'), event('B2')], 0));
        return run(store.readAll({ streamPrefix: scope }));
      };

      it('returns events of every stream in the order they were appended', async () => {
        const all = await interleave();
        expect(all.map((e) => e.type)).toEqual(['A0', 'B0', 'A1', 'B1', 'B2']);
        expect(all.map((e) => e.revision)).toEqual([0, 0, 1, 1, 2]);
        const positions = all.map((e) => e.position);
        for (let i = 1; i < positions.length; i++)
          expect(positions[i]).toBeGreaterThan(positions[i - 1] ?? 0);
        expect(all).toEqual(
          [...(await run(store.read(stream('a')))), ...(await run(store.read(stream('b'))))].sort(
            (x, y) => x.position - y.position,
          ),
        );
      });

      it('pages with after (exclusive) and limit', async () => {
        const all = await interleave();
        const at = (i: number): number => all[i]?.position ?? -1;
        const types = async (o: { after?: number; limit?: number }) =>
          (await run(store.readAll({ ...o, streamPrefix: scope }))).map((e) => e.type);
        expect(await types({ after: at(1) })).toEqual(['A1', 'B1', 'B2']);
        expect(await types({ limit: 2 })).toEqual(['A0', 'B0']);
        expect(await types({ after: at(0), limit: 2 })).toEqual(['B0', 'A1']);
        expect(await types({ after: at(4) })).toEqual([]);
        expect(await types({ limit: 0 })).toEqual([]);
        // Paging one event at a time visits every event once.
        const paged: string[] = [];
        let after: number | undefined;
        for (;;) {
          const page = await run(
            store.readAll({
              streamPrefix: scope,
              limit: 1,
              ...(after === undefined ? {} : { after }),
            }),
          );
          const next = page[0];
          if (next === undefined) break;
          paged.push(next.type);
          after = next.position;
        }
        expect(paged).toEqual(['A0', 'B0', 'A1', 'B1', 'B2']);
      });

      it('filters by stream prefix', async () => {
        await interleave();
        const onlyB = await run(store.readAll({ streamPrefix: stream('b') }));
        expect(onlyB.map((e) => e.type)).toEqual(['B0', 'B1', 'B2']);
        expect(await run(store.readAll({ streamPrefix: stream('c') }))).toEqual([]);
      });

      it('without a prefix, includes every stream', async () => {
        const all = await interleave();
        const first = all[0];
        if (first === undefined) throw new Error('no events');
        const after = await run(store.readAll({ after: first.position }));
        expect(after.filter((e) => e.stream.startsWith(scope)).map((e) => e.type)).toEqual([
          'B0',
          'A1',
          'B1',
          'B2',
        ]);
      });
    });

    describe('recorded data', () => {
      it('stamps `at` as an ISO-8601 UTC time of the append', async () => {
        const before = Date.now();
        await run(store.append(stream('a'), events(2), 'no_stream'));
        const read = await run(store.read(stream('a')));
        for (const e of read) {
          expect(e.at).toMatch(ISO_UTC);
          expect(new Date(e.at).toISOString()).toBe(e.at);
          // Loose bounds: a remote server's clock may differ a little from ours.
          expect(Math.abs(Date.parse(e.at) - before)).toBeLessThan(5 * 60_000);
        }
      });

      it('round-trips JSON data: nesting, unicode, numbers, null, scalars', async () => {
        const samples: Json[] = [
          { nested: { deeper: { list: [1, [2, [3, { four: 4 }]]], empty: {}, none: [] } } },
          { text: 'héllo wörld — 日本語 — 🙂👍🏽 — \u0301e — "quotes" \\ back\nslash\ttab\u0000nul' },
          { 'key with spaces': 1, ключ: 2, '🔑': 3, '': 4, 'a.b[c]': 5 },
          { ints: [0, -1, 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER] },
          { floats: [1.5, -0.25, 1e300, -1e-300, 5e-324, 0.1 + 0.2] },
          { nulls: [null, { n: null }], bools: [true, false] },
          null,
          'just a string',
          42,
          -3.5,
          true,
          [],
          [null, 'x', 1, { y: [] }],
        ];
        const batch = samples.map((data, i) => event(`Sample${i}`, data));
        await run(store.append(stream('a'), batch, 'no_stream'));
        const read = await run(store.read(stream('a')));
        expect(read.map((e) => e.data)).toEqual(samples.map(viaJson));
        expect(read.map((e) => e.type)).toEqual(batch.map((e) => e.type));
      });

      it('round-trips any JSON value (property)', async () => {
        let n = 0;
        await fc.assert(
          fc.asyncProperty(fc.json().map(parseJson), async (value) => {
            const s = stream(`json${n++}`);
            await run(store.append(s, [event('Value', value)], 'no_stream'));
            const [read] = await run(store.read(s));
            expect(read?.data).toEqual(viaJson(value));
          }),
          { numRuns: Math.max(10, Math.floor((options.propertyRuns ?? 30) / 2)) },
        );
      });
    });

    describe('limits', () => {
      /** Bytes the limits count for one event's data: its JSON text in UTF-8. */
      const bytesOf = (data: Json): number => Buffer.byteLength(JSON.stringify(data), 'utf8');
      /** A JSON string whose text is exactly `bytes` bytes (its two quotes included). */
      const sized = (bytes: number): string => 'x'.repeat(bytes - 2);

      /** Fails the test unless `effect` was refused as too large and `s` was left as it was. */
      const refusedTooLarge = async (
        effect: Effect.Effect<unknown, unknown>,
        s: string,
        before: readonly RecordedEvent[],
      ): Promise<StoreRefused> => {
        const error = await failure(effect);
        expect(error).toBeInstanceOf(StoreRefused);
        expect(error).toMatchObject({ _tag: 'StoreRefused', reason: 'too_large' });
        expect(await run(store.read(s))).toEqual(before);
        expect(await run(store.readAll({ streamPrefix: s }))).toEqual(before);
        return error as StoreRefused;
      };

      it('states the largest event and append it takes, in whole bytes', () => {
        for (const limit of [store.limits.maxEventBytes, store.limits.maxAppendBytes]) {
          expect(Number.isSafeInteger(limit)).toBe(true);
          expect(limit).toBeGreaterThanOrEqual(64 * 1024);
        }
      });

      it('takes a ~2 MiB event and reads it back identical where its limits allow; refuses it whole where not', async () => {
        const s = stream('big');
        const data: Json = {
          blob: 'x'.repeat(1_500_000),
          text: 'é日🙂 "q" \\ \n'.repeat(30_000),
          list: Array.from({ length: 2_000 }, (_, i) => ({ i, s: `item ${i}` })),
        };
        const size = bytesOf(data);
        expect(size).toBeGreaterThan(2 * 1024 * 1024);
        expect(size).toBeLessThan(2.5 * 1024 * 1024);
        const big = event('Big', data);
        const fits = size <= store.limits.maxEventBytes && size <= store.limits.maxAppendBytes;
        if (fits) {
          await run(store.append(s, [big], 'no_stream'));
          const [read] = await run(store.read(s));
          expect(read?.data).toEqual(data);
          expect((await run(store.readAll({ streamPrefix: s }))).map((e) => e.id)).toEqual([
            big.id,
          ]);
        } else {
          const error = await refusedTooLarge(store.append(s, [big], 'no_stream'), s, []);
          expect(error.message).toContain(String(size));
        }
      });

      it('takes one event of exactly maxEventBytes, and refuses one byte more without writing', async () => {
        const s = stream('edge');
        const max = Math.min(store.limits.maxEventBytes, store.limits.maxAppendBytes);
        const first = event('Edge', sized(max));
        expect(bytesOf(first.data)).toBe(max);
        await run(store.append(s, [first], 'no_stream'));
        const before = await run(store.read(s));
        expect(before.map((e) => e.id)).toEqual([first.id]);
        const over = event('Over', sized(store.limits.maxEventBytes + 1));
        const error = await refusedTooLarge(store.append(s, [event('Small'), over], 0), s, before);
        expect(error.message).toContain(String(store.limits.maxEventBytes));
      });

      it('refuses an append whose events fit alone but not together, writing none of them', async () => {
        const s = stream('sum');
        await run(store.append(s, events(1), 'no_stream'));
        const before = await run(store.read(s));
        const each = Math.min(
          store.limits.maxEventBytes,
          Math.ceil(store.limits.maxAppendBytes / 3) + 1,
        );
        const n = Math.floor(store.limits.maxAppendBytes / each) + 1;
        const batch = Array.from({ length: n }, () => event('Part', sized(each)));
        const error = await refusedTooLarge(store.append(s, batch, 0), s, before);
        expect(error.message).toContain(String(store.limits.maxAppendBytes));
      });
    });

    describe('lifecycle', () => {
      it('fails with StoreUnavailable after close; closing twice is fine', async () => {
        await run(store.append(stream('a'), events(1), 'no_stream'));
        await run(store.close());
        await run(store.close());
        expect(await failure(store.append(stream('a'), events(1), 0))).toBeInstanceOf(
          StoreUnavailable,
        );
        expect(await failure(store.read(stream('a')))).toBeInstanceOf(StoreUnavailable);
        expect(await failure(store.revision(stream('a')))).toBeInstanceOf(StoreUnavailable);
        expect(await failure(store.readAll())).toBeInstanceOf(StoreUnavailable);
      });

      it('treats an empty append as a defect, not a typed error', async () => {
        expect(await defectOf(store.append(stream('a'), [], 'no_stream'))).toEqual(
          new Error(`append to ${stream('a')}: no events`),
        );
        expect(await run(store.revision(stream('a')))).toBe('no_stream');
        expect(await run(store.readAll({ streamPrefix: scope }))).toEqual([]);
      });
    });

    describe('model', () => {
      type Mode = 'right' | 'behind' | 'ahead' | 'no_stream' | 'retry';
      const expectedFor = (
        mode: Exclude<Mode, 'retry'>,
        head: number | 'no_stream',
      ): ExpectedRevision => {
        switch (mode) {
          case 'right':
            return head;
          case 'no_stream':
            return 'no_stream';
          case 'ahead':
            return head === 'no_stream' ? 0 : head + 1;
          case 'behind':
            return head === 'no_stream' ? 0 : head === 0 ? 'no_stream' : head - 1;
        }
      };
      const command = fc.record({
        stream: fc.integer({ min: 0, max: 2 }),
        count: fc.integer({ min: 1, max: 3 }),
        mode: fc.constantFrom<Mode>('right', 'right', 'behind', 'ahead', 'no_stream', 'retry'),
      });

      it(
        'random appends with right and wrong expected revisions leave each stream as a simple model says',
        { timeout: options.timeout ?? 60_000 },
        async () => {
          let runs = 0;
          await fc.assert(
            fc.asyncProperty(
              fc.array(command, { minLength: 1, maxLength: 15 }),
              async (commands) => {
                const prefix = stream(`m${runs++}-`);
                const model = new Map<number, string[]>();
                const order: string[] = [];
                let lastSuccess:
                  { stream: number; batch: NewEvent[]; expected: ExpectedRevision } | undefined;

                for (const c of commands) {
                  const name = `${prefix}${c.stream}`;
                  const held = model.get(c.stream) ?? [];
                  const head: number | 'no_stream' =
                    held.length === 0 ? 'no_stream' : held.length - 1;

                  if (c.mode === 'retry') {
                    if (lastSuccess === undefined) continue;
                    const { batch, expected } = lastSuccess;
                    const target = `${prefix}${lastSuccess.stream}`;
                    const result = await run(store.append(target, batch, expected));
                    const there = model.get(lastSuccess.stream) ?? [];
                    expect(result.revision).toBe(there.indexOf(batch.at(-1)?.id ?? ''));
                    continue;
                  }

                  const expected = expectedFor(c.mode, head);
                  const batch = events(c.count);
                  const outcome = await run(Effect.result(store.append(name, batch, expected)));

                  if (expected === head) {
                    expect(outcome._tag).toBe('Success');
                    held.push(...batch.map((e) => e.id));
                    model.set(c.stream, held);
                    order.push(...batch.map((e) => e.id));
                    lastSuccess = { stream: c.stream, batch, expected };
                    if (outcome._tag === 'Success')
                      expect(outcome.success.revision).toBe(held.length - 1);
                  } else {
                    expect(outcome._tag).toBe('Failure');
                    if (outcome._tag === 'Failure') {
                      expect(outcome.failure).toMatchObject({
                        _tag: 'VersionConflict',
                        expected,
                        actual: head,
                      });
                    }
                  }
                }

                for (let i = 0; i <= 2; i++) {
                  const held = model.get(i) ?? [];
                  const name = `${prefix}${i}`;
                  expect(ids(await run(store.read(name)))).toEqual(held);
                  expect(await run(store.revision(name))).toBe(
                    held.length === 0 ? 'no_stream' : held.length - 1,
                  );
                }
                expect(ids(await run(store.readAll({ streamPrefix: prefix })))).toEqual(order);
              },
            ),
            { numRuns: options.propertyRuns ?? 30 },
          );
        },
      );
    });
  });
};
