import * as Schema from 'effect/Schema';
import { NAME, RUN_ID } from '../blueprints/names.ts';

/** One Schema per request of CONTRACT §3. The gateway decodes `unknown` with these; nothing casts. */

export const Name = Schema.String.pipe(
  Schema.check(
    Schema.isPattern(NAME, {
      message: 'must match ^[a-zA-Z_][a-zA-Z0-9_]*$ (at most 64 characters)',
    }),
  ),
);
export const RunId = Schema.String.pipe(
  Schema.check(Schema.isPattern(RUN_ID, { message: 'must match ^[A-Za-z0-9_-]{1,128}$' })),
);
/** A `runs.list` cursor as replies give it: `<start time>|<run id>`. */
const Cursor = Schema.String.pipe(
  Schema.check(
    Schema.isPattern(/^[0-9TZ:.+-]{1,40}\|[A-Za-z0-9_-]{1,128}$/, {
      message: 'must be a cursor from a previous runs.list reply',
    }),
  ),
);
const Count = Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)));
const Positive = Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1)));

export const BlueprintRequest = Schema.Struct({ blueprint: Schema.Unknown });
export const GetBlueprintRequest = Schema.Struct({
  name: Name,
  version: Schema.optionalKey(Positive),
});
export const NameRequest = Schema.Struct({ name: Name });
/** A request with no fields; the gateway admits only JSON objects. */
export const Empty = Schema.Struct({});

export const StartFields = {
  blueprint: Schema.Union([Name, Schema.Record(Schema.String, Schema.Unknown)]),
  version: Schema.optionalKey(Positive),
  input: Schema.optionalKey(Schema.Json),
  runId: Schema.optionalKey(RunId),
  signals: Schema.optionalKey(Schema.Array(Schema.Unknown)),
  queries: Schema.optionalKey(Schema.Array(Schema.Unknown)),
  plugins: Schema.optionalKey(Schema.Array(Schema.Unknown)),
};
export const StartRequest = Schema.Struct(StartFields);
export const ExecuteRequest = Schema.Struct({
  ...StartFields,
  timeoutMs: Schema.optionalKey(Positive),
});

export const ListRunsRequest = Schema.Struct({
  status: Schema.optionalKey(
    Schema.Literals(['running', 'completed', 'failed', 'cancelled', 'timed_out']),
  ),
  blueprint: Schema.optionalKey(Name),
  limit: Schema.optionalKey(Positive),
  cursor: Schema.optionalKey(Cursor),
});
export const HistoryRequest = Schema.Struct({
  from: Schema.optionalKey(Count),
  limit: Schema.optionalKey(Positive),
});
export const CancelRequest = Schema.Struct({ reason: Schema.optionalKey(Schema.String) });
export const QueryRequest = Schema.Struct({ args: Schema.optionalKey(Schema.Json) });
