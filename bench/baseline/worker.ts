import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import type { ActivityContext } from '../../src/index.ts';
import { add_field, noop } from '../activities.ts';

/**
 * The baseline's worker process (bench/README.md, "Baseline"): answers `baseline.task` requests
 * (core NATS, queue group `baseline-worker`) by running the bench's own activities
 * (bench/activities.ts) and replying `{ output }`. No JetStream, acks, heartbeats or retries.
 *
 * `node bench/baseline/worker.ts --nats URL`; prints `baseline worker serving` once it listens.
 */

const { values } = parseArgs({ options: { nats: { type: 'string' } }, strict: true });
if (values.nats === undefined) throw new Error('usage: node bench/baseline/worker.ts --nats URL');

const ACTIVITIES = { add_field, noop } as const;
const never = new AbortController().signal;

const nc = await connect({ servers: values.nats });
nc.subscribe('baseline.task', {
  queue: 'baseline-worker',
  callback: (_, msg) => {
    const { activity, stepId, input } = msg.json<{ activity: keyof typeof ACTIVITIES; stepId: string; input: unknown }>();
    const ctx: ActivityContext = { runId: '', stepId, taskId: stepId, attempt: 1, signal: never };
    msg.respond(JSON.stringify({ output: ACTIVITIES[activity](input, ctx) }));
  },
});
await nc.flush();
process.on('SIGTERM', () => {
  void nc.drain().finally(() => process.exit(0));
});
process.stdout.write('baseline worker serving\n');
