import { describe, expect, it } from 'vitest';
import {
  ActivityRegistry,
  DEPARTED_RETENTION_MS,
  MISSED_HEARTBEATS,
} from '../../../src/actors/activities.ts';

/** The runtime's registry of announced activities, on a clock the test moves. */

const clock = (start = Date.parse('2026-01-01T00:00:00Z')) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

const announce = (workerId: string, names: readonly string[], heartbeatMs = 1_000) => ({
  workerId,
  heartbeatMs,
  activities: names.map((name) => ({ name })),
});

describe('ActivityRegistry', () => {
  it('counts the live workers of each activity, with description and schemas', () => {
    const registry = new ActivityRegistry(clock());
    registry.announce({
      workerId: 'w1',
      heartbeatMs: 1_000,
      activities: [
        { name: 'charge', description: 'charges a card', input: { type: 'object' } },
        { name: 'ship' },
      ],
    });
    registry.announce(announce('w2', ['charge']));
    expect(registry.list()).toEqual([
      {
        name: 'charge',
        workers: 2,
        lastSeen: '2026-01-01T00:00:00.000Z',
        description: 'charges a card',
        input: { type: 'object' },
      },
      { name: 'ship', workers: 1, lastSeen: '2026-01-01T00:00:00.000Z' },
    ]);
    expect(registry.served()).toEqual(['charge', 'ship']);
  });

  it('a heartbeat keeps a worker live; after the missed heartbeats it is no longer counted', () => {
    const time = clock();
    const registry = new ActivityRegistry(time);
    registry.announce(announce('w1', ['a']));
    registry.announce(announce('w2', ['a']));
    time.advance(MISSED_HEARTBEATS * 1_000);
    registry.announce(announce('w1', ['a'])); // w1 beats, w2 stays silent
    expect(registry.workersFor('a')).toBe(2);
    time.advance(1);
    expect(registry.workersFor('a')).toBe(1);
    time.advance(MISSED_HEARTBEATS * 1_000);
    expect(registry.list()).toEqual([
      { name: 'a', workers: 0, lastSeen: new Date(time.now() - 3_001).toISOString() },
    ]);
    expect(registry.served()).toEqual([]);
  });

  it('a goodbye removes the worker at once; a departed activity is forgotten after the retention', () => {
    const time = clock();
    const registry = new ActivityRegistry(time);
    registry.announce(announce('w1', ['a', 'b']));
    registry.announce(announce('w2', ['a']));
    registry.goodbye('w1');
    expect(registry.list().map((a) => [a.name, a.workers])).toEqual([
      ['a', 1],
      ['b', 0],
    ]);
    registry.goodbye('unknown');
    time.advance(DEPARTED_RETENTION_MS + 1);
    registry.announce(announce('w2', ['a']));
    expect(registry.list().map((a) => a.name)).toEqual(['a']);
  });

  it('an activity a worker stops announcing is no longer served by it', () => {
    const registry = new ActivityRegistry(clock());
    registry.announce(announce('w1', ['a', 'b']));
    registry.announce(announce('w1', ['a']));
    expect(registry.served()).toEqual(['a']);
    expect(registry.workersFor('b')).toBe(0);
  });

  it('clamps an announced heartbeat interval: a tiny one does not expire a worker at once', () => {
    const time = clock();
    const registry = new ActivityRegistry(time);
    registry.announce(announce('w1', ['a'], 1));
    time.advance(MISSED_HEARTBEATS * 100);
    expect(registry.workersFor('a')).toBe(1);
    time.advance(1);
    expect(registry.workersFor('a')).toBe(0);
  });
});
