import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Effect } from 'effect';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventStoreShape } from '../../src/store/EventStore.ts';
import { makeSqliteStore, type SqliteCommit } from '../../src/store/sqlite.ts';
import { defectOf, eventStoreContract } from './eventStore.contract.ts';

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-sqlite-'));
  dirs.push(dir);
  return dir;
};

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

// A fresh file per test, in a directory that does not exist yet.
eventStoreContract('sqlite', () => makeSqliteStore(join(tempDir(), 'nested', 'events.db')));

/** `PRAGMA synchronous` of FULL: the WAL is fsynced before a commit returns. */
const FULL = 2;

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect);

describe('sqlite store', () => {
  it('keeps what it committed across close and reopen', async () => {
    const path = join(tempDir(), 'events.db');
    const first = makeSqliteStore(path);
    const appended = await run(
      first.append(
        'run-1',
        [
          { id: 'a', type: 'Started', data: { input: [1, 'two', null] } },
          { id: 'b', type: 'Completed', data: 'done' },
        ],
        'no_stream',
      ),
    );
    const before = await run(first.read('run-1'));
    await run(first.close());

    const second = makeSqliteStore(path);
    expect(await run(second.read('run-1'))).toEqual(before);
    expect(await run(second.revision('run-1'))).toBe(1);
    expect(await run(second.readAll())).toEqual(before);
    // A retry of the append whose reply was lost before the restart is still recognised.
    expect(
      await run(
        second.append(
          'run-1',
          [
            { id: 'a', type: 'Started', data: { input: [1, 'two', null] } },
            { id: 'b', type: 'Completed', data: 'done' },
          ],
          'no_stream',
        ),
      ),
    ).toEqual(appended);
    const next = await run(second.append('run-1', [{ id: 'c', type: 'More', data: {} }], 1));
    expect(next.position).toBeGreaterThan(appended.position);
    await run(second.close());
  });

  it('commits a lone append on its own connection, in WAL mode with synchronous=FULL, and leaves the file in WAL mode', async () => {
    const path = join(tempDir(), 'events.db');
    const commits: SqliteCommit[] = [];
    const store = makeSqliteStore(path, { onCommit: (c) => commits.push(c) });
    await run(store.append('s', [{ id: 'a', type: 'T', data: 1 }], 'no_stream'));
    expect(commits).toEqual([
      { thread: 'runtime', appends: 1, settings: { journalMode: 'wal', synchronous: FULL } },
    ]);
    const probe = new DatabaseSync(path, { readOnly: true });
    try {
      expect(probe.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    } finally {
      probe.close();
    }
    await run(store.close());
  });

  it('cuts a burst of large appends into group commits of at most 32 MiB together, in order', async () => {
    const path = join(tempDir(), 'events.db');
    const commits: SqliteCommit[] = [];
    const store = makeSqliteStore(path, { onCommit: (c) => commits.push(c) });
    const big = 'x'.repeat(12 * 1024 * 1024);
    const results = await Promise.all(
      ['a', 'b', 'c', 'd'].map((s) =>
        run(store.append(s, [{ id: `big-${s}`, type: 'T', data: big }], 'no_stream')),
      ),
    );
    // 12 MiB each: two fit in one batch, a third would pass 32 MiB.
    expect(commits.map((c) => c.appends)).toEqual([2, 2]);
    expect(results.map((r) => r.position)).toEqual([1, 2, 3, 4]);
    await run(store.close());
  });

  it('sees appends made by another connection to the same file', async () => {
    const path = join(tempDir(), 'events.db');
    const a: EventStoreShape = makeSqliteStore(path);
    const b: EventStoreShape = makeSqliteStore(path);
    await run(a.append('s', [{ id: 'x', type: 'T', data: 1 }], 'no_stream'));
    expect(await run(b.revision('s'))).toBe(0);
    const conflict = await run(
      Effect.flip(b.append('s', [{ id: 'y', type: 'T', data: 2 }], 'no_stream')),
    );
    expect(conflict).toMatchObject({ _tag: 'VersionConflict', actual: 0 });
    await run(b.append('s', [{ id: 'y', type: 'T', data: 2 }], 0));
    expect((await run(a.read('s'))).map((e) => e.id)).toEqual(['x', 'y']);
    await run(a.close());
    await run(b.close());
  });

  it('treats an id already used in another stream as a defect and rolls back the whole append', async () => {
    const store = makeSqliteStore(join(tempDir(), 'events.db'));
    await run(store.append('a', [{ id: 'dup', type: 'T', data: null }], 'no_stream'));
    const batch = [
      { id: 'fresh', type: 'T', data: null },
      { id: 'dup', type: 'T', data: null },
    ];
    expect(await defectOf(store.append('b', batch, 'no_stream'))).toEqual(
      new Error('append to b: an event id is already used (UNIQUE constraint failed: events.id)'),
    );
    expect(await run(store.revision('b'))).toBe('no_stream');
    expect((await run(store.readAll())).map((e) => [e.stream, e.id])).toEqual([['a', 'dup']]);
    // The failed transaction left no lock or open transaction behind.
    expect(
      (await run(store.append('b', [{ id: 'fresh', type: 'T', data: null }], 'no_stream')))
        .revision,
    ).toBe(0);
    await run(store.close());
  });

  it('commits bursts of concurrent appends (batches of more than one go to its writer thread, synchronous=FULL) durably, in position order, with conflicts kept apart', async () => {
    const path = join(tempDir(), 'events.db');
    const commits: SqliteCommit[] = [];
    const store = makeSqliteStore(path, { onCommit: (c) => commits.push(c) });
    const streams = Array.from({ length: 200 }, (_, i) => `s-${i}`);
    for (const revision of [0, 1, 2]) {
      const expected = revision === 0 ? ('no_stream' as const) : revision - 1;
      const results = await Promise.all(
        streams.flatMap((stream) => [
          run(
            store.append(
              stream,
              [{ id: `${stream}-${revision}`, type: 'T', data: { revision } }],
              expected,
            ),
          ),
          // A rival append for the same place in the same batch: exactly one of the two wins.
          run(
            Effect.flip(
              store.append(
                stream,
                [{ id: `${stream}-${revision}-rival`, type: 'T', data: null }],
                expected,
              ),
            ),
          ),
        ]),
      );
      expect(results.filter((r) => '_tag' in r && r._tag === 'VersionConflict')).toHaveLength(200);
    }
    // Every append was committed once, in batches; none of more than one on the runtime's thread.
    expect(commits.reduce((n, c) => n + c.appends, 0)).toBe(3 * 2 * 200);
    expect(commits.filter((c) => c.appends > 1 && c.thread !== 'writer')).toEqual([]);
    expect(commits.some((c) => c.thread === 'writer' && c.appends > 1)).toBe(true);
    for (const c of commits) expect(c.settings).toEqual({ journalMode: 'wal', synchronous: FULL });
    const all = await run(store.readAll());
    expect(all).toHaveLength(600);
    expect(all.every((e, i) => i === 0 || e.position > (all[i - 1]?.position ?? Infinity))).toBe(
      true,
    );
    for (const stream of streams.slice(0, 5)) {
      expect((await run(store.read(stream))).map((e) => e.id)).toEqual([
        `${stream}-0`,
        `${stream}-1`,
        `${stream}-2`,
      ]);
    }
    await run(store.close());
    const reopened = makeSqliteStore(path);
    expect(await run(reopened.readAll())).toEqual(all);
    await run(reopened.close());
  });
});
