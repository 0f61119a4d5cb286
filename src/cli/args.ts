import { readFileSync } from 'node:fs';
import type { BlueprintLimits } from '../blueprints/validate.ts';
import { natsAuthOf, type NatsAuth } from '../natsAuth.ts';
import { RUNTIME_ID } from '../wire/subjects.ts';
import { ClientError } from './client.ts';

/**
 * The command line as the `weft` verbs read it: flags and positional arguments, the settings they
 * give (NATS, prefix, credentials, limits, cluster, request limits) over their environment
 * variables, and the JSON a flag or file holds. A bad value is a `ClientError`, reported as a usage
 * or input error.
 */

export interface Parsed {
  readonly positional: readonly string[];
  readonly flags: ReadonlyMap<string, string | true>;
}

const BOOLEAN_FLAGS = new Set([
  'json',
  'wait',
  'once',
  'help',
  'check',
  'http-read-only',
  'offline',
]);

export const parseArgs = (argv: readonly string[]): Parsed => {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      if (eq !== -1) flags.set(name, arg.slice(eq + 1));
      else if (BOOLEAN_FLAGS.has(name)) flags.set(name, true);
      else {
        const value = argv[i + 1];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
        flags.set(name, value);
        i++;
      }
    } else positional.push(arg);
  }
  return { positional, flags };
};

export class UsageError extends Error {}

export const flag = (parsed: Parsed, name: string): string | undefined => {
  const value = parsed.flags.get(name);
  return typeof value === 'string' ? value : undefined;
};

export const intFlag = (parsed: Parsed, name: string): number | undefined => {
  const value = flag(parsed, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
};

const LIMIT_KEYS = ['maxSteps', 'maxDepth', 'maxBytes', 'maxArrayItems', 'maxMapItems'] as const;

/** `--limits '{"maxSteps":500}'` or `WEFT_LIMITS`: blueprint limits, each a positive integer. */
export const limitsOf = (text: string | undefined): Partial<BlueprintLimits> | undefined => {
  if (text === undefined) return undefined;
  const parsed = jsonArg(text, '--limits');
  const limits: Partial<Record<(typeof LIMIT_KEYS)[number], number>> = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (
      !(LIMIT_KEYS as readonly string[]).includes(key) ||
      typeof value !== 'number' ||
      !Number.isInteger(value) ||
      value < 1
    ) {
      throw new UsageError(
        `--limits: '${key}' must be one of ${LIMIT_KEYS.join(', ')} with a positive integer`,
      );
    }
    limits[key as (typeof LIMIT_KEYS)[number]] = value;
  }
  return limits;
};

/** The NATS credentials and TLS files of the flags, else of `WEFT_NATS_*`; a bad mix is a usage error. */
const authOf = (parsed: Parsed): NatsAuth => {
  try {
    return natsAuthOf((name) => flag(parsed, name));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
};

export const configOf = (parsed: Parsed) => {
  const limits = limitsOf(flag(parsed, 'limits') ?? process.env.WEFT_LIMITS);
  return {
    nats: flag(parsed, 'nats') ?? process.env.WEFT_NATS_URL ?? 'nats://127.0.0.1:4222',
    auth: authOf(parsed),
    prefix: flag(parsed, 'prefix') ?? process.env.WEFT_PREFIX ?? 'weft',
    store: flag(parsed, 'store') ?? process.env.WEFT_STORE ?? 'sqlite:./.weft/events.db',
    ...(limits === undefined ? {} : { limits }),
  };
};

/** A positive integer from a flag or an environment variable, within bounds. */
const boundedInt = (text: string | undefined, what: string, min: number, max: number) => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(
      `${what} must be an integer from ${String(min)} to ${String(max)}, got '${text}'`,
    );
  return n;
};

/** `weft serve`'s place in a cluster (README "Running a cluster"). */
export const clusterOf = (parsed: Parsed) => {
  const partitions = boundedInt(
    flag(parsed, 'partitions') ?? process.env.WEFT_PARTITIONS,
    '--partitions (WEFT_PARTITIONS)',
    1,
    4096,
  );
  const leaseMs = boundedInt(process.env.WEFT_LEASE_MS, 'WEFT_LEASE_MS', 300, 600_000);
  const runtimeId = process.env.WEFT_RUNTIME_ID;
  if (runtimeId !== undefined && !RUNTIME_ID.test(runtimeId))
    throw new UsageError(`WEFT_RUNTIME_ID must match ${String(RUNTIME_ID)}, got '${runtimeId}'`);
  return {
    ...(partitions === undefined ? {} : { partitions }),
    ...(leaseMs === undefined ? {} : { leaseMs }),
    ...(runtimeId === undefined || runtimeId === '' ? {} : { runtimeId }),
  };
};

/** `weft serve`'s request limits (README "Security"): `--max-payload`, … , else `WEFT_MAX_*`. */
export const requestLimitsFlags = async (parsed: Parsed) => {
  const { requestLimitsOf } = await import('../requestLimits.ts');
  try {
    return requestLimitsOf((name) => flag(parsed, name));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
};

/** JSON from an argument: inline text, or `@path` to read a file. */
export const jsonArg = (text: string, what: string): unknown => {
  let source = text;
  if (text.startsWith('@')) {
    try {
      source = readFileSync(text.slice(1), 'utf8');
    } catch (error) {
      throw new ClientError(
        'invalid_request',
        `cannot read ${text.slice(1)} (${what}): ${(error as Error).message}`,
      );
    }
  }
  try {
    return JSON.parse(source) as unknown;
  } catch (error) {
    throw new ClientError('invalid_json', `${what} is not valid JSON: ${(error as Error).message}`);
  }
};

export const readJsonFile = (path: string): unknown => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ClientError('invalid_request', `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ClientError('invalid_json', `${path} is not valid JSON: ${(error as Error).message}`);
  }
};

export const need = (parsed: Parsed, index: number, what: string): string => {
  const value = parsed.positional[index];
  if (value === undefined) throw new UsageError(`missing ${what}`);
  return value;
};

export const out = (text: string) => process.stdout.write(`${text}\n`);
