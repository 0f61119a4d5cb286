import type jsonata from 'jsonata';
import type { ExpressionLimits } from './sandbox.ts';

/**
 * What keeps an evaluation in the sandbox while it runs: a `Guard` per evaluation, bound under a
 * name no JSONata variable can spell, counted and checked by JSONata's entry and exit hooks
 * (steps, depth, the size of values on the way), and the built-ins replaced: `$now()` and
 * `$millis()` answer the decision's time, `$pad` is bounded, `$eval`, `$random` and `$shuffle`
 * refuse. A limit reached or a refused built-in stops the evaluation with a `SandboxStop`.
 */

/** Built-ins that never work in the sandbox: naming one is reported at compile time. */
export const FORBIDDEN_FUNCTIONS: Readonly<Record<string, string>> = {
  eval: 'expressions cannot build and run other expressions',
  random: 'expressions must be deterministic',
  shuffle: 'expressions must be deterministic',
};

/** Stops an evaluation: a limit was reached or a forbidden built-in was called. */
export class SandboxStop extends Error {
  readonly code: 'expression_limit' | 'expression_error';
  constructor(code: 'expression_limit' | 'expression_error', message: string) {
    super(message);
    this.code = code;
  }
}

/** Per-evaluation state, bound under a name no JSONata variable can spell (it holds a space). */
export const GUARD = 'weft guard';

export class Guard {
  readonly limits: ExpressionLimits;
  readonly now: number | undefined;
  steps = 0;
  started = false;
  constructor(limits: ExpressionLimits, now: number | undefined) {
    this.limits = limits;
    this.now = now;
  }
}

/** The part of JSONata's environment frame the hooks use (not in its published types). */
interface Frame {
  readonly base: { depth: number; timestamp: Date | null; lookup(name: string): unknown };
}
const frameOf = (focus: jsonata.Focus): Frame => focus.environment as unknown as Frame;

const guardOf = (frame: Frame): Guard => {
  const guard = frame.base.lookup(GUARD);
  if (!(guard instanceof Guard))
    throw new SandboxStop('expression_error', 'evaluation outside the sandbox');
  return guard;
};

const onEntry = (_node: unknown, _input: unknown, frame: Frame): void => {
  const guard = guardOf(frame);
  if (!guard.started) {
    guard.started = true;
    // JSONata reads its clock for date pictures without a date part: pin it.
    frame.base.timestamp = new Date(guard.now ?? 0);
  }
  guard.steps += 1;
  if (guard.steps > guard.limits.maxSteps) {
    throw new SandboxStop(
      'expression_limit',
      `the expression took more than ${guard.limits.maxSteps} evaluation steps`,
    );
  }
  if (frame.base.depth > guard.limits.maxDepth) {
    throw new SandboxStop(
      'expression_limit',
      `the expression nested deeper than ${guard.limits.maxDepth} evaluations (runaway recursion?)`,
    );
  }
};

const onExit = (_node: unknown, _input: unknown, frame: Frame, result: unknown): void => {
  const max = guardOf(frame).limits.maxResultBytes;
  if ((typeof result === 'string' || Array.isArray(result)) && result.length > max) {
    throw new SandboxStop(
      'expression_limit',
      `a value on the way is larger than ${max} (${typeof result === 'string' ? 'characters' : 'items'})`,
    );
  }
};

const unavailable = (name: string, why: string): SandboxStop =>
  new SandboxStop('expression_error', `${name} is not available in weft expressions: ${why}`);

const refuse = (name: string, why: string) => (): never => {
  throw unavailable(name, why);
};

function now(this: jsonata.Focus, picture?: string, timezone?: string): unknown {
  const at = guardOf(frameOf(this)).now;
  if (at === undefined) throw unavailable('$now()', 'no time was given to this evaluation');
  const fromMillis = this.environment.lookup('fromMillis') as {
    implementation: (...args: unknown[]) => unknown;
  };
  return fromMillis.implementation.call(this, at, picture, timezone);
}

function millis(this: jsonata.Focus): number {
  const at = guardOf(frameOf(this)).now;
  if (at === undefined) throw unavailable('$millis()', 'no time was given to this evaluation');
  return at;
}

/** JSONata's `$pad`, with the width bounded before any allocation. */
function pad(
  this: jsonata.Focus,
  str: string | undefined,
  width: number,
  char?: string,
): string | undefined {
  if (str === undefined) return undefined;
  const max = guardOf(frameOf(this)).limits.maxResultBytes;
  const w = Math.trunc(width);
  if (Math.abs(w) > max)
    throw new SandboxStop('expression_limit', `$pad width ${w} is larger than ${max}`);
  const fill = char === undefined || char.length === 0 ? ' ' : char;
  const missing = Math.abs(w) - Array.from(str).length;
  if (missing <= 0) return str;
  const padding = Array.from(fill.repeat(Math.ceil(missing / fill.length)))
    .slice(0, missing)
    .join('');
  return w > 0 ? str + padding : padding + str;
}

/** Installs the hooks and the replaced built-ins on a compiled expression. */
export const installSandbox = (expression: jsonata.Expression): void => {
  // JSONata looks its hooks up by these symbols; its typings only admit string names.
  expression.assign(Symbol.for('jsonata.__evaluate_entry') as unknown as string, onEntry);
  expression.assign(Symbol.for('jsonata.__evaluate_exit') as unknown as string, onExit);
  // Also refused at compile time; kept as a second line of defence.
  expression.registerFunction(
    'eval',
    refuse('$eval', FORBIDDEN_FUNCTIONS['eval'] ?? ''),
    '<sx?:x>',
  );
  expression.registerFunction(
    'random',
    refuse('$random', FORBIDDEN_FUNCTIONS['random'] ?? ''),
    '<:n>',
  );
  expression.registerFunction(
    'shuffle',
    refuse('$shuffle', FORBIDDEN_FUNCTIONS['shuffle'] ?? ''),
    '<a:a>',
  );
  expression.registerFunction('now', now, '<s?s?:s>');
  expression.registerFunction('millis', millis, '<:n>');
  expression.registerFunction('pad', pad, '<s-ns?:s>');
};
