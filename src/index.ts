export { createWorker, defineActivity, TerminalError } from './actors/worker.ts';
export type {
  Activity,
  ActivityContext,
  ActivityDefinition,
  Worker,
  WorkerOptions,
} from './actors/worker.ts';
export { startRuntime } from './main.ts';
export type { Runtime, RuntimeOptions } from './main.ts';
