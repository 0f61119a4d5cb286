import { DEFAULT_MAX_SIGNALS } from './machines/messages.ts';
import { DEFAULT_MAX_PAYLOAD, payloadCap } from './wire/payloadCap.ts';

/**
 * What one request may cost a runtime (README "Security", Limits): the payload cap, the signals a
 * run may store, and the starts a runtime takes. Each is a flag of `weft serve` and an environment
 * variable (`weft dev` reads the variables); the flag wins. Pure apart from reading `env`.
 */
export interface RequestLimits {
  /** Bytes of a start's input, a signal's payload, a query's args or an activity's result. */
  readonly maxPayload: number;
  /** Signals one run stores over its whole life. */
  readonly maxSignals: number;
  /** New runs this runtime admits per second (a token bucket, burst = the rate); none: no limit. */
  readonly maxStartsPerSecond?: number;
  /** Runs this runtime owns that may be running at once; none: no limit. */
  readonly maxRunning?: number;
}

/** Each setting's flag (without `--`), variable and bounds. */
export const REQUEST_LIMIT_SETTINGS = {
  maxPayload: { flag: 'max-payload', env: 'WEFT_MAX_PAYLOAD', min: 1024, max: 2 ** 31 - 1 },
  maxSignals: { flag: 'max-signals', env: 'WEFT_MAX_SIGNALS', min: 1, max: 2 ** 31 - 1 },
  maxStartsPerSecond: {
    flag: 'max-starts-per-second',
    env: 'WEFT_MAX_STARTS_PER_SECOND',
    min: 1,
    max: 1_000_000,
  },
  maxRunning: { flag: 'max-running', env: 'WEFT_MAX_RUNNING', min: 1, max: 2 ** 31 - 1 },
} as const satisfies Record<
  keyof RequestLimits,
  { readonly flag: string; readonly env: string; readonly min: number; readonly max: number }
>;

/**
 * The limits of the flags (`flag(name)`, the name without `--`), else of the environment, else the
 * defaults (`--max-payload` 1,000,000, `--max-signals` 10,000, no start limits). `0` or `off` for
 * `--max-starts-per-second` and `--max-running` means no limit. Throws an `Error` naming the
 * setting when a value is not an integer within its bounds.
 */
export const requestLimitsOf = (
  flag: (name: string) => string | undefined = () => undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): RequestLimits => {
  const read = (key: keyof RequestLimits, optional: boolean): number | undefined => {
    const { flag: name, env: variable, min, max } = REQUEST_LIMIT_SETTINGS[key];
    const given = flag(name);
    const text = given ?? env[variable];
    if (text === undefined || text.trim() === '') return undefined;
    if (optional && (text === '0' || text === 'off')) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(
        `${given === undefined ? variable : `--${name}`} must be an integer from ${min} to ${max}${optional ? ' (or 0 for no limit)' : ''}, got '${text}'`,
      );
    return n;
  };
  const maxStartsPerSecond = read('maxStartsPerSecond', true);
  const maxRunning = read('maxRunning', true);
  return {
    maxPayload: read('maxPayload', false) ?? DEFAULT_MAX_PAYLOAD,
    maxSignals: read('maxSignals', false) ?? DEFAULT_MAX_SIGNALS,
    ...(maxStartsPerSecond === undefined ? {} : { maxStartsPerSecond }),
    ...(maxRunning === undefined ? {} : { maxRunning }),
  };
};

/**
 * The line to log when the NATS connection's max_payload lowers `--max-payload` (`payloadCap`):
 * what was asked, what NATS allows and what is in force; undefined when the cap stands as set.
 */
export const payloadCapNote = (maxPayload: number, natsMaxPayload: number): string | undefined => {
  const cap = payloadCap(maxPayload, natsMaxPayload);
  return cap >= maxPayload
    ? undefined
    : `--max-payload ${maxPayload} is more than NATS carries here (max_payload ${natsMaxPayload} less ${natsMaxPayload - cap} bytes for a reply's envelope): values are capped at ${cap} bytes`;
};
