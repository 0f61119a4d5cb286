import { formatDuration } from '../blueprints/duration.ts';
import type { Json } from '../blueprints/json.ts';
import type { BlueprintLimits } from '../blueprints/validate.ts';
import type { StepError } from '../machines/events.ts';
import {
  cannedFrom,
  CannedInvalid,
  simulateBlueprint,
  type SimulatedRun,
  type Simulation,
  type Waiting,
} from '../machines/simulation.ts';
import type { PathEntry } from '../machines/trace.ts';
import { InvalidBlueprintError, InvalidRequestError } from '../client/errors.ts';
import { formatDiagnostic } from './format.ts';

/**
 * `weft blueprint simulate <file> [--input JSON|@file] [--results FILE|@file|JSON]
 * [--default-output JSON]`: a dry run in this process (`machines/simulation.ts`), no server. Prints
 * the path the run takes, one line per step event, and how it ends; `--json` prints the
 * simulation whole. Exit code 0 when the run completes, 1 otherwise (failed, waiting, incomplete,
 * or an invalid blueprint or results file).
 */

export interface SimulateArgs {
  readonly blueprint: unknown;
  /** Parsed JSON (the run input; null when none is given). */
  readonly input: unknown;
  /** The parsed results file ({} when none is given). */
  readonly results: unknown;
  /** `--default-output`: the output of every activity without a canned result. */
  readonly defaultOutput?: unknown;
  readonly limits?: Partial<BlueprintLimits>;
  readonly json: boolean;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** Values longer than this are cut in the human output (`--json` shows them whole). */
const WIDTH = 100;

export const simulate = async (args: SimulateArgs): Promise<number> => {
  let result;
  try {
    const canned = cannedFrom(args.results);
    result = await simulateBlueprint(
      args.blueprint,
      // JSON.parse gives JSON.
      args.input as Json,
      args.defaultOutput === undefined
        ? canned
        : { ...canned, default: { output: args.defaultOutput as Json } },
      args.limits === undefined ? {} : { limits: args.limits },
    );
  } catch (error) {
    if (error instanceof CannedInvalid)
      throw new InvalidRequestError(`the results file: ${error.message}`);
    throw error;
  }
  if (!result.ok) {
    const errors = result.diagnostics.filter((d) => d.severity !== 'warning');
    throw new InvalidBlueprintError(
      `the blueprint is not valid: ${errors.length} problem${errors.length === 1 ? '' : 's'}`,
      { diagnostics: result.diagnostics },
    );
  }
  const { simulation } = result;
  for (const w of simulation.warnings) args.err(`warning ${formatDiagnostic(w)}`);
  if (args.json) args.out(JSON.stringify(simulation));
  else {
    args.out(formatSimulation(simulation));
    if (simulation.unused.length > 0)
      args.err(`note: nothing used these canned results: ${simulation.unused.join(', ')}`);
  }
  return simulation.status === 'completed' ? 0 : 1;
};

/** Shows a value as JSON, cut at `WIDTH`; `cut` tells whether it cut any. */
type Show = (value: Json | undefined) => string;

const shower = (): { readonly show: Show; readonly cut: () => boolean } => {
  let cut = false;
  return {
    show: (value) => {
      const text = JSON.stringify(value ?? null);
      if (text.length <= WIDTH) return text;
      cut = true;
      return `${text.slice(0, WIDTH - 1)}…`;
    },
    cut: () => cut,
  };
};

const showError = (error: StepError | { code: string; message: string }): string =>
  `[${error.code}] ${error.message}`;

const stepName = (step: string, item: number | undefined) =>
  item === undefined ? step : `${step}[${item}]`;

const outcome = (show: Show, entry: { output: Json } | { error: StepError }): string =>
  'error' in entry
    ? `error ${showError(entry.error)}${entry.error.retryable ? ' (retryable)' : ''}`
    : `output ${show(entry.output)}`;

const field = (value: Json, key: string): Json | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Readonly<Record<string, Json>>)[key]
    : undefined;

/** A string as it is, anything else as JSON. */
const text = (value: Json | undefined): string =>
  typeof value === 'string' ? value : JSON.stringify(value ?? null);

/** What a step that is not an activity decided as it began. */
const entered = (show: Show, entry: Extract<PathEntry, { kind: 'entered' }>): string => {
  const { value } = entry;
  switch (entry.type) {
    case 'condition':
      return `condition → ${text(value)}`;
    case 'switch':
      return entry.case !== undefined
        ? `switch → case ${JSON.stringify(entry.case)}`
        : value === 'default'
          ? 'switch → default'
          : 'switch → no case (output null)';
    case 'loop': {
      const count = field(value, 'count');
      return typeof count === 'number' ? `loop, ${count} iterations` : 'loop (while)';
    }
    case 'map': {
      const items = field(value, 'items');
      return `map over ${Array.isArray(items) ? items.length : 0} items`;
    }
    case 'graph': {
      const nodes = field(value, 'nodes');
      return `graph of ${Array.isArray(nodes) ? nodes.length : 0} nodes`;
    }
    case 'child':
      return `child run of blueprint ${text(field(value, 'blueprint'))}`;
    case 'wait': {
      const timeoutMs = field(value, 'timeoutMs');
      const timeout =
        typeof timeoutMs === 'number' ? ` (timeout ${formatDuration(timeoutMs)})` : '';
      return entry.signal !== undefined
        ? `waits for signal ${entry.signal}${timeout}`
        : `waits until its condition holds${timeout}`;
    }
    case 'sleep':
      return `sleeps ${formatDuration(entry.sleepMs ?? 0)}`;
    case 'fail': {
      const error = field(value, 'error');
      return `fails the run [${text(field(error ?? null, 'code'))}] ${text(field(error ?? null, 'message'))}`;
    }
    case 'succeed':
      return 'ends the run, completed';
    case 'set':
      return `sets ${show(value)}`;
    default:
      return `${entry.type} starts`;
  }
};

/** One path entry as one line (a child run simulated here: its own lines after it). */
const describe = (show: Show, entry: PathEntry): string => {
  switch (entry.kind) {
    case 'activity':
      return `step ${stepName(entry.step, entry.item)} (activity ${entry.activity}) attempt ${entry.attempt} input ${show(entry.input)} → ${outcome(show, entry)}`;
    case 'failed':
      return `step ${stepName(entry.step, entry.item)} failed: ${showError(entry.error)}`;
    case 'skipped':
      return `step ${entry.step} skipped${entry.reason === null ? '' : ` (${entry.reason})`}`;
    case 'entered':
      return `step ${entry.step}: ${entered(show, entry)}`;
    case 'iteration':
      return entry.proceed
        ? `step ${entry.step}: iteration ${entry.iteration}`
        : `step ${entry.step}: loop ends after ${entry.iteration} iterations`;
    case 'satisfied':
      return `step ${entry.step}: condition holds → ${show(entry.value)}`;
    case 'child':
      return `step ${stepName(entry.step, entry.item)} (child blueprint ${entry.blueprint}) input ${show(entry.input)} → ${outcome(show, entry)}${entry.run === undefined ? ' (canned)' : ''}`;
    case 'signal':
      return `signal ${entry.name} ${show(entry.payload)} (${entry.handler})`;
    case 'timer':
      return `timer of step ${entry.step} fired`;
    case 'done':
      return `step ${entry.step} done → output ${show(entry.output)}`;
    case 'unwinding':
      return `run unwinds (${entry.cause}): compensations and finally steps`;
  }
};

const waiting = (w: Waiting): string =>
  'signal' in w
    ? `step ${w.step} waits for signal ${w.signal}`
    : 'when' in w
      ? `step ${w.step} waits until ${w.when}`
      : 'timer' in w
        ? `step ${w.step} waits for a timer due ${w.timer} (timers: never)`
        : `step ${stepName(w.step, w.item)} waits for child run ${w.child}${w.waitingFor.length === 0 ? '' : `, which ${w.waitingFor.map(waiting).join('; ')}`}`;

const ending = (show: Show, run: SimulatedRun): string => {
  switch (run.status) {
    case 'completed':
      return `run completed: output ${show(run.output)}`;
    case 'waiting':
      return `run waiting: ${(run.waitingFor ?? []).map(waiting).join('; ') || 'nothing can happen'}`;
    case 'incomplete':
      return `simulation incomplete: ${run.problem ?? ''}`;
    default:
      return `run ${run.status}${run.error === undefined ? '' : `: ${showError(run.error)}${run.error.stepId === undefined ? '' : ` (step ${run.error.stepId})`}`}${run.output === undefined ? '' : ` output ${show(run.output)}`}`;
  }
};

/**
 * A run's lines; a child run's follow the line of its step, indented. `start`: the top run's
 * start (ms), for the time column when `timed`.
 */
const lines = (
  show: Show,
  run: SimulatedRun,
  indent: string,
  timed: { readonly start: number } | undefined,
): string[] => {
  const offset = timed === undefined ? 0 : Date.parse(run.startedAt) - timed.start;
  const at = (ms: number) =>
    timed === undefined ? '' : `+${formatDuration(offset + ms)}`.padEnd(9);
  return [
    ...run.path.flatMap((entry) => [
      `${indent}${at(entry.at)}${describe(show, entry)}`,
      ...(entry.kind === 'child' && entry.run !== undefined
        ? lines(show, entry.run, `${indent}    `, timed)
        : []),
    ]),
    `${indent}${at(run.elapsedMs)}${ending(show, run)}`,
  ];
};

/**
 * The simulation for people: its input, one line per step event, how it ends. A time column
 * (simulated time since the start) when time passed in it.
 */
export const formatSimulation = (simulation: Simulation): string => {
  const { show, cut } = shower();
  const timed = simulation.elapsedMs > 0 ? { start: Date.parse(simulation.startedAt) } : undefined;
  const text = [
    `simulating ${simulation.blueprint} with input ${show(simulation.input)}`,
    ...lines(show, simulation, '  ', timed),
  ];
  if (cut()) text.push(`(values cut at ${WIDTH} characters: --json shows them whole)`);
  return text.join('\n');
};
