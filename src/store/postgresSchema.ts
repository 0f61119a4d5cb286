// The PostgreSQL store's schema and its migrations. Pure text: the adapter runs it (postgres.ts).

/** A schema name weft may create and quote: an unquoted-style identifier of at most 63 bytes. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Advisory-lock keys. `hashtextextended` of a weft-specific text, so other applications' keys do not collide by accident. */
const lockKey = (schema: string, purpose: string): string =>
  `hashtextextended('weft:${purpose}:${schema}', 0)`;

/** The `LISTEN/NOTIFY` channel told of every commit that appended events; the payload is the schema. */
export const APPENDED_CHANNEL = 'weft_events_appended';

/** Taken (transaction-level) while migrations run, so two adapters starting at once migrate one after the other. */
export const migrationLock = (schema: string): string =>
  `SELECT pg_advisory_xact_lock(${lockKey(schema, 'migrate')})`;

/**
 * `append_batch`, the whole write side in one statement (guarantees below). `params` and `data`
 * are what changed between versions: version 1 takes each event's data inside the requests' JSON
 * (`ev->>'data'`), version 3 from one `bytea` beside it.
 */
const appendBatch = (
  schema: string,
  params: string,
  data: string,
): string => `CREATE FUNCTION ${schema}.append_batch(${params}) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
  request  json;
  outcomes json[] := '{}';
  stamp    timestamptz;
  head     bigint;
  expected bigint;
  first    bigint;
  wanted   text[];
  found    text[];
  last_rev bigint;
  last_pos bigint;
  last_at  timestamptz;
  ev       json;
  n        int;
  which    text;
BEGIN
  PERFORM pg_advisory_xact_lock(${lockKey(schema, 'append')});
  stamp := date_trunc('milliseconds', clock_timestamp());
  FOR request IN SELECT value FROM json_array_elements(requests) LOOP
    BEGIN
      expected := (request->>'expected')::bigint;
      first := coalesce(expected + 1, 0);
      SELECT max(e.revision) INTO head FROM ${schema}.events e WHERE e.stream = request->>'stream';
      IF head IS DISTINCT FROM expected THEN
        SELECT array_agg(x->>'id' ORDER BY o) INTO wanted
          FROM json_array_elements(request->'events') WITH ORDINALITY AS t(x, o);
        n := cardinality(wanted);
        SELECT array_agg(f.id ORDER BY f.revision), max(f.revision), max(f.position), max(f.at)
          INTO found, last_rev, last_pos, last_at
          FROM (SELECT e.id, e.revision, e.position, e.at FROM ${schema}.events e
                 WHERE e.stream = request->>'stream' AND e.revision >= first
                 ORDER BY e.revision LIMIT n) f;
        IF found = wanted THEN
          outcomes := outcomes || json_build_object('tag', 'Appended', 'revision', last_rev,
            'position', last_pos, 'at', last_at);
        ELSE
          outcomes := outcomes || json_build_object('tag', 'Conflict', 'actual', head);
        END IF;
      ELSE
        last_rev := first - 1;
        FOR ev IN SELECT x FROM json_array_elements(request->'events') WITH ORDINALITY AS t(x, o) ORDER BY o LOOP
          last_rev := last_rev + 1;
          INSERT INTO ${schema}.events (stream, revision, id, type, data, at)
            VALUES (request->>'stream', last_rev, ev->>'id', ev->>'type', ${data}, stamp)
            RETURNING position INTO last_pos;
        END LOOP;
        outcomes := outcomes || json_build_object('tag', 'Appended', 'revision', last_rev,
          'position', last_pos, 'at', stamp);
      END IF;
    EXCEPTION WHEN unique_violation THEN
      GET STACKED DIAGNOSTICS which = CONSTRAINT_NAME;
      IF which = 'events_id' THEN
        outcomes := outcomes || json_build_object('tag', 'IdTaken', 'message', SQLERRM);
      ELSE
        SELECT max(e.revision) INTO head FROM ${schema}.events e WHERE e.stream = request->>'stream';
        outcomes := outcomes || json_build_object('tag', 'Conflict', 'actual', head);
      END IF;
    END;
  END LOOP;
  RETURN array_to_json(outcomes);
END
$fn$;
`;

/**
 * Migrations in order; `schema_migrations` records which ran. A migration is never edited once
 * released: a change is a new entry.
 *
 * Version 1: the events table and `append_batch`, the whole write side in one statement.
 *
 * Guarantees of `append_batch(requests json) → json` (one outcome per request, in order):
 * - Positions are readable in order, never skipped by a reader following `after`. A bigserial alone
 *   does not give that: two transactions take positions 7 and 8, the one holding 8 commits first, a
 *   reader sees 8 and moves past 7, which commits a moment later. So each batch first takes one
 *   transaction-level advisory lock per schema and only then assigns positions; the lock is released
 *   after the commit has become visible, so every position below a visible one is visible already or
 *   was rolled back (a gap, which readers tolerate). Writers of one schema commit one at a time
 *   (as SQLite's write lock); group commit is what makes that cheap: one batch, one lock, one WAL
 *   flush for every append made within a tick. Readers take no lock.
 * - Because the head check runs under that lock, it sees every committed append. The unique key on
 *   (stream, revision) still backs it: a write that did not take the lock and collides is a conflict,
 *   never a second event at one revision.
 * - Each request runs in its own exception block (a subtransaction, i.e. a savepoint): one that
 *   conflicts or fails writes nothing and the others of the batch still commit.
 * - Idempotent: when the stream holds exactly these ids right after `expected`, the request
 *   succeeds with the stored revision, position and time, writing nothing.
 * - `at` is the server's clock at millisecond precision, one value per batch, so `at` never goes
 *   backwards along positions.
 *
 * Version 3: `append_batch(requests json, datas bytea)`, the same function taking every event's
 * data from one `bytea` (the event names its byte offset `o`, from 1, and length `n`) instead of
 * from inside the requests' JSON, which the function re-reads for every field it takes: a 16 MiB
 * event cost seconds of JSON scanning. A `text[]` is no better (PostgreSQL's array-literal parser
 * took 5 s for one 16 MiB element). Version 1's function stays for older adapters.
 *
 * Version 2: the run-summary read model (`run_summaries`, `read_model_checkpoints`; see
 * postgresSummaries.ts) and the change feed: every transaction that appends events notifies
 * `APPENDED_CHANNEL` with the schema's name as payload, once (PostgreSQL folds identical
 * notifications of one transaction) and only when it commits.
 */
export const migrations = (schema: string): readonly string[] => [
  `
CREATE TABLE ${schema}.events (
  position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream   text        NOT NULL,
  revision bigint      NOT NULL,
  id       text        NOT NULL,
  type     text        NOT NULL,
  data     text        NOT NULL,
  at       timestamptz NOT NULL,
  CONSTRAINT events_stream_revision UNIQUE (stream, revision),
  CONSTRAINT events_id UNIQUE (id)
);

${appendBatch(schema, 'requests json', "ev->>'data'")}`,
  `
CREATE TABLE ${schema}.run_summaries (
  run_id     text   COLLATE "C" PRIMARY KEY,
  status     text   NOT NULL,
  blueprint  text   NOT NULL,
  started_at text   COLLATE "C" NOT NULL,
  revision   bigint NOT NULL,
  summary    text   NOT NULL
);
CREATE INDEX run_summaries_newest ON ${schema}.run_summaries (started_at DESC, run_id);
CREATE INDEX run_summaries_running ON ${schema}.run_summaries (run_id) WHERE status = 'running';
CREATE TABLE ${schema}.read_model_checkpoints (
  name     text   PRIMARY KEY,
  position bigint NOT NULL
);

CREATE FUNCTION ${schema}.notify_appended() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('${APPENDED_CHANNEL}', '${schema}');
  RETURN NULL;
END
$fn$;
CREATE TRIGGER events_appended AFTER INSERT ON ${schema}.events
  FOR EACH STATEMENT EXECUTE FUNCTION ${schema}.notify_appended();
`,
  appendBatch(
    schema,
    'requests json, datas bytea',
    "convert_from(substring(datas from (ev->>'o')::int for (ev->>'n')::int), 'UTF8')",
  ),
];

/** Creates the schema and the migrations table if missing; run under `migrationLock`. */
export const bootstrap = (schema: string): string => `
CREATE SCHEMA IF NOT EXISTS ${schema};
CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
  version    integer     PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);
`;
