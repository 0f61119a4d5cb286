import { Effect } from 'effect';
import { describe, expect, it } from 'vitest';
import { makeMemoryStore } from '../../src/store/memory.ts';
import { defectOf, eventStoreContract } from './eventStore.contract.ts';

eventStoreContract('memory', () => makeMemoryStore());
// The limits the KurrentDB adapter states for a server's default MaxAppendSize: the ~2 MiB case
// is then refused, as it is on such a server.
eventStoreContract('memory with KurrentDB-sized limits', () =>
  makeMemoryStore({ limits: { maxEventBytes: 983_040, maxAppendBytes: 983_040 } }),
);

describe('memory store', () => {
  it('keeps two stores apart', async () => {
    const a = makeMemoryStore();
    const b = makeMemoryStore();
    await Effect.runPromise(a.append('s', [{ id: 'e1', type: 'T', data: 1 }], 'no_stream'));
    expect(await Effect.runPromise(b.revision('s'))).toBe('no_stream');
  });

  it('copies data on append, so later changes to the caller object are not seen', async () => {
    const store = makeMemoryStore();
    const data = { list: [1] };
    await Effect.runPromise(store.append('s', [{ id: 'e1', type: 'T', data }], 'no_stream'));
    data.list.push(2);
    const [read] = await Effect.runPromise(store.read('s'));
    expect(read?.data).toEqual({ list: [1] });
  });

  it('treats an id already used in another stream as a defect and writes nothing', async () => {
    const store = makeMemoryStore();
    await Effect.runPromise(store.append('a', [{ id: 'dup', type: 'T', data: null }], 'no_stream'));
    const batch = [
      { id: 'fresh', type: 'T', data: null },
      { id: 'dup', type: 'T', data: null },
    ];
    expect(await defectOf(store.append('b', batch, 'no_stream'))).toEqual(
      new Error('append to b: event id dup already used'),
    );
    expect(await Effect.runPromise(store.revision('b'))).toBe('no_stream');
    expect((await Effect.runPromise(store.readAll())).map((e) => [e.stream, e.id])).toEqual([
      ['a', 'dup'],
    ]);
  });
});
