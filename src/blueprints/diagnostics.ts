import { NAME_MAX_LENGTH } from './schema.ts';

/**
 * What validation reports and how it is collected: diagnostics with a JSON path, a stable code,
 * a message, an optional hint and a severity; the path helpers and the did-you-mean guess every
 * check shares. Pure.
 */

/** The codes `validateBlueprint` produces. */
export type DiagnosticCode =
  | 'schema'
  | 'invalid_name'
  | 'duplicate_id'
  | 'duplicate_name'
  | 'unknown_dependency'
  | 'self_dependency'
  | 'cycle'
  | 'map_dependencies'
  | 'while_without_max'
  | 'loop_count_and_while'
  | 'unknown_on_error_target'
  | 'invalid_completion'
  | 'wait_signal_or_when'
  | 'map_step_or_steps'
  | 'expression_syntax'
  | 'expression_limit'
  | 'invalid_duration'
  | 'duration_unit'
  | 'unknown_activity'
  | 'input_mismatch'
  | 'unknown_step'
  | 'error_unbound'
  | 'too_many_steps'
  | 'too_deep'
  | 'too_large'
  | 'array_too_large'
  | 'too_many_diagnostics';

/** `error` blocks a put or a start; `warning` never does (CONTRACT §6). */
export type Severity = 'error' | 'warning';

export interface Diagnostic {
  /** JSON path of the offending value, e.g. `$.steps[2].dependsOn[0]`. */
  readonly path: string;
  /** A `DiagnosticCode` when it comes from `validateBlueprint`; callers may add their own codes. */
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  readonly severity: Severity;
}

/** True when a diagnostic blocks: any `error`. Pure. */
export const hasErrors = (diagnostics: readonly Diagnostic[]): boolean =>
  diagnostics.some((d) => d.severity === 'error');

/** At most this many diagnostics are returned; the last one then says how many were left out. */
export const MAX_DIAGNOSTICS = 500;

export type Segment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/u;
export const segmentText = (segment: Segment): string =>
  typeof segment === 'number'
    ? `[${segment}]`
    : IDENTIFIER.test(segment)
      ? `.${segment}`
      : `[${JSON.stringify(segment)}]`;
export const pathText = (segments: readonly Segment[]): string =>
  `$${segments.map(segmentText).join('')}`;
export const child = (path: string, segment: Segment): string => `${path}${segmentText(segment)}`;

export type Raw = Readonly<Record<string, unknown>>;
export const isRecord = (value: unknown): value is Raw =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
/** An own property only: inherited ones (`constructor`, `__proto__` getters) are never read. */
export const own = (record: Raw, key: string): unknown =>
  Object.hasOwn(record, key) ? record[key] : undefined;

export const preview = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null)
    return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
};

const editDistance = (a: string, b: string): number => {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      current.push(
        Math.min(
          (previous[j] ?? 99) + 1,
          (current[j - 1] ?? 99) + 1,
          (previous[j - 1] ?? 99) + cost,
        ),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 99;
};

export const closest = (word: string, candidates: readonly string[]): string | undefined => {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
};

/**
 * Collects diagnostics: one per path and code, at most `MAX_DIAGNOSTICS` (the rest are counted
 * and summed up in a last `too_many_diagnostics`).
 */
export class Diagnostics {
  readonly list: Diagnostic[] = [];
  readonly #seen = new Set<string>();
  #dropped = 0;
  #droppedErrors = 0;
  #errors = 0;
  /** Records an `error`. */
  add(path: string, code: DiagnosticCode, message: string, hint?: string): void {
    this.#push(path, code, message, hint, 'error');
  }
  /** Records a `warning`: reported, never blocking. */
  warn(path: string, code: DiagnosticCode, message: string, hint?: string): void {
    this.#push(path, code, message, hint, 'warning');
  }
  #push(
    path: string,
    code: DiagnosticCode,
    message: string,
    hint: string | undefined,
    severity: Severity,
  ): void {
    const key = `${path}\u0000${code}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    if (severity === 'error') this.#errors += 1;
    if (this.list.length >= MAX_DIAGNOSTICS) {
      this.#dropped += 1;
      if (severity === 'error') this.#droppedErrors += 1;
      return;
    }
    this.list.push(
      hint === undefined
        ? { path, code, message, severity }
        : { path, code, message, hint, severity },
    );
  }
  /** Errors recorded so far (dropped ones included). */
  get errors(): number {
    return this.#errors;
  }
  result(): readonly Diagnostic[] {
    if (this.#dropped === 0) return this.list;
    return [
      ...this.list,
      {
        path: '$',
        code: 'too_many_diagnostics',
        message: `${this.#dropped} more problems were found and left out`,
        severity: this.#droppedErrors > 0 ? 'error' : 'warning',
      },
    ];
  }
}

export const NAME_HINT =
  'Names match ^[a-zA-Z_][a-zA-Z0-9_]*$ (at most 64 characters): they become parts of NATS subjects and stream names, where ".", "*", ">" and spaces have meaning.';

export const nameMessage = (value: unknown, what = 'name'): string =>
  typeof value === 'string'
    ? value.length > NAME_MAX_LENGTH && /^[a-zA-Z_][a-zA-Z0-9_]*$/u.test(value)
      ? `${what} ${preview(value)} is ${value.length} characters long; at most ${NAME_MAX_LENGTH} are allowed`
      : `${preview(value)} is not a valid ${what}`
    : `expected a ${what}, got ${preview(value)}`;
