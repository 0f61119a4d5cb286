import { describe, expect, it } from 'vitest';
import { Attempts, type Held } from '../../../src/actors/attempts.ts';
import type { TaskMessage } from '../../../src/wire/protocol.ts';

/**
 * `Attempts` dispatches an attempt again only when neither the tasks stream nor a worker holds it
 * (a task taken directly is in no stream) and its run still has it open.
 */

const task = (n: number): TaskMessage => ({
  taskId: `run-1:s${n}`,
  runId: 'run-1',
  stepId: `s${n}`,
  attempt: 1,
  activity: 'act',
  input: null,
  timeoutMs: 1_000,
});

const harness = (where: { stream: Held; worker: boolean; open: boolean }) => {
  let now = 0;
  const published: { taskId: string; resend: number }[] = [];
  const attempts = new Attempts({
    publish: (t, _delay, resend) => published.push({ taskId: t.taskId, resend }),
    holds: () => Promise.resolve(where.stream),
    heldByWorker: () => Promise.resolve(where.worker),
    isOpen: () => Promise.resolve(where.open),
    log: () => undefined,
    now: () => now,
  });
  return { attempts, published, where, advance: (ms: number) => (now += ms) };
};

describe('recovering an open attempt after a restart', () => {
  it('leaves one the stream holds, and one a worker is running; dispatches one neither holds', async () => {
    const h = harness({ stream: 'held', worker: false, open: true });
    await h.attempts.recover(task(1));
    h.where.stream = 'absent';
    h.where.worker = true;
    await h.attempts.recover(task(2));
    expect(h.published).toEqual([]);
    h.where.worker = false;
    await h.attempts.recover(task(3));
    expect(h.published).toEqual([{ taskId: 'run-1:s3', resend: 0 }]);
  });
});

describe('reconciling attempts with no result', () => {
  it('waits for the timeout and grace, leaves an attempt a worker still runs, dispatches a lost one again, forgets a closed one', async () => {
    const h = harness({ stream: 'absent', worker: true, open: true });
    h.attempts.dispatch(task(1), 0);
    expect(h.published).toEqual([{ taskId: 'run-1:s1', resend: 0 }]);
    h.advance(1_000);
    expect(await h.attempts.reconcile(500)).toBe(0); // not due yet
    h.advance(600);
    expect(await h.attempts.reconcile(500)).toBe(0); // due, but a worker runs it
    expect(h.published).toHaveLength(1);
    h.where.worker = false;
    h.advance(1_600);
    expect(await h.attempts.reconcile(500)).toBe(1);
    expect(h.published.at(-1)).toEqual({ taskId: 'run-1:s1', resend: 1 });
    h.where.open = false;
    h.advance(1_600);
    expect(await h.attempts.reconcile(500)).toBe(0);
    expect(h.attempts.dispatchedAt(task(1))).toBeUndefined();
  });
});
