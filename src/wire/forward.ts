import * as Schema from 'effect/Schema';
import { Name, RunId, StartFields } from './messages.ts';
import { TaskResult, TaskStart } from './protocol.ts';

/**
 * Calls between the runtimes of a cluster (`<p>.runtime.<runtimeId>.call`, core request → reply):
 * a runtime that receives a request for a run it does not own forwards it, decoded, to the owner
 * of the run's partition and relays the answer. The owner decodes every call again with these
 * schemas: the subject is internal, but nothing on it is trusted to be well formed.
 */

const Int = Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)));
const Positive = Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1)));

/** The step of a parent run that started a child. */
export const ParentRef = Schema.Struct({
  runId: RunId,
  stepId: Schema.String,
  item: Schema.optionalKey(Int),
});

export const ChildOutcome = Schema.Union([
  Schema.Struct({ ok: Schema.Literal(true), output: Schema.Json }),
  Schema.Struct({
    ok: Schema.Literal(false),
    error: Schema.Struct({
      code: Schema.String,
      message: Schema.String,
      retryable: Schema.Boolean,
    }),
  }),
]);

/** Every call names its run (the partition is the run's) and how often it was forwarded already. */
export const RuntimeCall = Schema.Union([
  Schema.Struct({
    method: Schema.Literal('start'),
    request: Schema.Struct({
      ...StartFields,
      runId: RunId,
      parent: Schema.optionalKey(ParentRef),
      bindsItem: Schema.optionalKey(Schema.Boolean),
    }),
  }),
  Schema.Struct({ method: Schema.Literal('result'), result: TaskResult }),
  Schema.Struct({ method: Schema.Literal('mayStart'), start: TaskStart, answered: Schema.Boolean }),
  Schema.Struct({
    method: Schema.Literal('signal'),
    runId: RunId,
    name: Name,
    payload: Schema.Json,
    signalId: Schema.String,
  }),
  Schema.Struct({ method: Schema.Literal('cancel'), runId: RunId, reason: Schema.String }),
  Schema.Struct({ method: Schema.Literal('query'), runId: RunId, name: Name, args: Schema.Json }),
  Schema.Struct({ method: Schema.Literal('get'), runId: RunId }),
  Schema.Struct({ method: Schema.Literal('waitForEnd'), runId: RunId, timeoutMs: Positive }),
  Schema.Struct({
    method: Schema.Literal('childResult'),
    parent: ParentRef,
    childRunId: RunId,
    outcome: ChildOutcome,
  }),
]);
export type RuntimeCall = typeof RuntimeCall.Type;

export const Forwarded = Schema.Struct({ call: RuntimeCall, hops: Int });
export const decodeForwarded = Schema.decodeUnknownResult(Forwarded);

/** The run a call is for. */
export const runOfCall = (call: RuntimeCall): string => {
  switch (call.method) {
    case 'start':
      return call.request.runId;
    case 'result':
      return call.result.runId;
    case 'mayStart':
      return call.start.runId;
    case 'childResult':
      return call.parent.runId;
    case 'signal':
    case 'cancel':
    case 'query':
    case 'get':
    case 'waitForEnd':
      return call.runId;
  }
};
