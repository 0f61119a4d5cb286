import { SCHEMA_NAME } from './postgresSchema.ts';
import { redactStoreUrl } from './redact.ts';

const DEFAULT_SCHEMA = 'weft';

export interface PostgresConfig {
  /** The URL handed to the driver: `schema` removed. */
  readonly connectionString: string;
  /** The schema holding weft's tables (`?schema=`, default `weft`). */
  readonly schema: string;
  /** `host:port/db`, for messages; never the password. */
  readonly target: string;
}

/**
 * Reads `postgres://user:pass@host:port/db?schema=name` (also `postgresql://`). Pure; throws an
 * Error (without the password) on a malformed URL or schema name.
 */
export const parsePostgresUrl = (url: string): PostgresConfig => {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`malformed PostgreSQL URL ${redactStoreUrl(url)}`);
  }
  const schema = parsed.searchParams.get('schema') ?? DEFAULT_SCHEMA;
  if (!SCHEMA_NAME.test(schema))
    throw new Error(
      `invalid schema name ${JSON.stringify(schema)} in the PostgreSQL URL: expected ${SCHEMA_NAME.source}`,
    );
  parsed.searchParams.delete('schema');
  const host = parsed.hostname === '' ? 'localhost' : parsed.hostname;
  return {
    connectionString: parsed.toString(),
    schema,
    target: `${host}:${parsed.port === '' ? '5432' : parsed.port}${parsed.pathname}`,
  };
};
