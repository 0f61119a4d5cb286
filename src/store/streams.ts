/**
 * The one place stream names are built. Every id and name is checked against its rule first, so
 * nothing a user sends can make a stream name of its own choosing.
 */
import { NAME, RUN_ID } from '../blueprints/names.ts';

export { NAME, RUN_ID };

export const RUN_STREAM_PREFIX = 'run-';
export const BLUEPRINT_STREAM_PREFIX = 'blueprint-';

export const runStream = (runId: string): string => {
  if (!RUN_ID.test(runId)) throw new Error(`invalid run id: ${JSON.stringify(runId)}`);
  return `${RUN_STREAM_PREFIX}${runId}`;
};

export const blueprintStream = (name: string): string => {
  if (!NAME.test(name)) throw new Error(`invalid blueprint name: ${JSON.stringify(name)}`);
  return `${BLUEPRINT_STREAM_PREFIX}${name}`;
};
