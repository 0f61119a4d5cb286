/** `weft/worker`: what a worker process needs — serve activities by name over NATS. */
export { createWorker, defineActivity, TerminalError } from './actors/worker.ts';
export type {
  Activity,
  ActivityContext,
  ActivityDefinition,
  ActivityInput,
  ActivityOutput,
  ActivitySchema,
  AnyActivityDefinition,
  Worker,
  WorkerOptions,
} from './actors/worker.ts';
export type { NatsAuth } from './natsAuth.ts';
