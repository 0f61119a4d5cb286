import type { Diagnostic } from '../blueprints/diagnostics.ts';
import { parseDuration } from '../blueprints/duration.ts';
import type { Json } from '../blueprints/json.ts';
import { validateBlueprint, type BlueprintLimits } from '../blueprints/validate.ts';
import {
  CannedAnswers,
  CannedInvalid,
  startOf,
  Unanswered,
  type Canned,
  type CannedSignal,
} from './canned.ts';
import { compileBlueprint, type CompiledRun } from './compile.ts';
import { handlersOf, type Handlers } from './handlers.ts';
import { isRefusal, signalEvent, type ChildResult } from './messages.ts';
import { statusOf } from './run.ts';
import {
  driveRun,
  startInMemory,
  type ChildEnd,
  type ChildRequested,
  type InMemoryRun,
  type RunStart,
  type Stopped,
} from './simulate.ts';
import { traceOf, waitsOf, type SimulatedRun, type Waiting } from './trace.ts';

/**
 * `weft blueprint simulate`: a blueprint's run, dry, before anything is dispatched — in memory,
 * through the same pure machine and decider the runtime uses, with canned activity results,
 * signals and timer firings (`canned.ts`) instead of workers, clients and clocks. Pure: no I/O, no
 * clock (time starts at the results file's `start`), no randomness; the same blueprint, input and
 * results always give the same simulation.
 *
 * Child runs: a child step takes its canned result (`steps.<id>`, `children.<blueprint>`); an item
 * of a map of `steps` without one is simulated itself, as a child run of its own (with the same
 * canned results, no signals). Any other child without a canned result stops the simulation.
 */

export type { SimulatedRun, Waiting } from './trace.ts';
export { CannedInvalid, cannedFrom } from './canned.ts';

export interface Simulation extends SimulatedRun {
  /** Entries of the results file nothing took: `activities.<name>`, `signals[<i>]`, … */
  readonly unused: readonly string[];
  /** The blueprint's validation warnings. */
  readonly warnings: readonly Diagnostic[];
}

export type SimulateResult =
  | { readonly ok: true; readonly simulation: Simulation }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

export interface SimulateOptions {
  readonly limits?: Partial<BlueprintLimits>;
}

export const SIMULATED_RUN_ID = 'simulated';
/** Child runs inside child runs (items of maps of `steps` in maps of `steps`), at most. */
const MAX_DEPTH = 16;

interface Scope {
  readonly answers: CannedAnswers;
  readonly depth: number;
  readonly maxMapItems: number | undefined;
}

/** The canned signals, checked against the handlers the run accepts; throws `CannedInvalid`. */
const checkSignals = (signals: readonly CannedSignal[], handlers: Handlers): void => {
  signals.forEach((signal, index) => {
    if (!handlers.signals.has(signal.name))
      throw new CannedInvalid(
        `signals[${index}]: the blueprint accepts no signal '${signal.name}' (it accepts: ${[...handlers.signals.keys()].join(', ') || 'none'})`,
      );
  });
};

const childFailure = (run: SimulatedRun): ChildResult => ({
  ok: false,
  error: {
    code: run.status === 'cancelled' ? 'child_cancelled' : 'child_failed',
    message: `child run '${run.runId}' ${run.status}${run.error ? `: ${run.error.message}` : ''}`,
    retryable: false,
  },
});

/** Simulates one run to its end (or until it cannot go on); its child runs too, when it must. */
const simulateRun = async (
  compiled: CompiledRun,
  start: RunStart,
  signals: readonly CannedSignal[],
  now: number,
  scope: Scope,
): Promise<{ readonly run: SimulatedRun; readonly sent: ReadonlySet<number> }> => {
  const { answers } = scope;
  const handlers = handlersOf(compiled, undefined);
  const run = await startInMemory(compiled, start, now, {
    ...(scope.maxMapItems === undefined ? {} : { maxMapItems: scope.maxMapItems }),
  });
  const sent = new Set<number>();
  const send = (index: number) => {
    const signal = signals[index];
    if (signal === undefined) return undefined;
    sent.add(index);
    const event = signalEvent(
      { runId: run.runId, snapshot: run.snapshot, handlers },
      { name: signal.name, payload: signal.payload ?? null, signalId: `canned-${index}` },
    );
    if (isRefusal(event)) throw new CannedInvalid(`signals[${index}]: ${event.message}`);
    return event;
  };
  const pending = (test: (signal: CannedSignal) => boolean) =>
    signals.findIndex((signal, index) => !sent.has(index) && test(signal));

  /** The child runs simulated here, by id, and the end of each that ends. */
  const children = new Map<string, SimulatedRun>();
  const ends = new Map<string, ChildEnd | undefined>();
  const child = async (
    request: ChildRequested,
    requestedAt: number,
  ): Promise<ChildEnd | undefined> => {
    if (ends.has(request.childRunId)) return ends.get(request.childRunId);
    const canned = answers.child(request);
    if (canned !== undefined) return { result: canned };
    if (request.content === undefined || scope.depth >= MAX_DEPTH)
      throw new Unanswered(
        `no canned result for child blueprint '${request.blueprint}' at ${request.item === undefined ? '' : `item ${request.item} of `}step '${request.stepId}': add "children": {"${request.blueprint}": {"output": …}} to the results file`,
        request,
      );
    const nested = await simulateChild(run, request, requestedAt, scope);
    children.set(request.childRunId, nested);
    const at = requestedAt + nested.elapsedMs;
    const end =
      nested.status === 'completed'
        ? { result: { ok: true as const, output: nested.output ?? null }, at }
        : nested.status === 'waiting'
          ? undefined
          : { result: childFailure(nested), at };
    ends.set(request.childRunId, end);
    return end;
  };

  for (
    let index = pending((s) => s.at === 'start');
    index !== -1;
    index = pending((s) => s.at === 'start')
  ) {
    const event = send(index);
    if (event !== undefined) await run.apply(event);
  }
  let stopped: Stopped;
  let problem: string | undefined;
  try {
    stopped = await driveRun(run, {
      fireTimers: answers.canned.timers !== 'never',
      // A signal due after a step is sent as soon as that step is done.
      interject: () => {
        const index = pending(
          (s) => s.after !== undefined && run.snapshot.context.done[s.after] === true,
        );
        return index === -1 ? undefined : send(index);
      },
      task: (task) => answers.activity(task),
      child,
      idle: () => {
        const index = pending((s) => s.at === undefined && s.after === undefined);
        return index === -1 ? undefined : send(index);
      },
    });
  } catch (error) {
    if (!(error instanceof Unanswered)) throw error;
    stopped = 'stuck';
    problem = error.message;
  }
  return { run: report(run, stopped, problem, children, answers, ends), sent };
};

/** An item of a map of `steps`, simulated as the child run the runtime would start. */
const simulateChild = async (
  parent: InMemoryRun,
  request: ChildRequested,
  requestedAt: number,
  scope: Scope,
): Promise<SimulatedRun> => {
  const validated = validateBlueprint(request.content, undefined, { recorded: true });
  if (!validated.ok)
    throw new Error(`defect: the items of step '${request.stepId}' are not a valid blueprint`);
  const compiled = compileBlueprint(validated.blueprint, parseDuration);
  const start: RunStart = {
    runId: request.childRunId,
    blueprint: { name: request.blueprint, version: 1, hash: 'simulated' },
    content: request.content ?? null,
    input: request.input,
    parent: {
      runId: parent.runId,
      stepId: request.stepId,
      ...(request.item === undefined ? {} : { item: request.item }),
    },
    bindsItem: true,
  };
  const { run } = await simulateRun(compiled, start, [], requestedAt, {
    ...scope,
    depth: scope.depth + 1,
  });
  if (run.status === 'incomplete')
    throw new Unanswered(`in child run '${request.childRunId}': ${run.problem ?? ''}`, request);
  return run;
};

const report = (
  run: InMemoryRun,
  stopped: Stopped,
  problem: string | undefined,
  children: ReadonlyMap<string, SimulatedRun>,
  answers: CannedAnswers,
  ends: ReadonlyMap<string, ChildEnd | undefined>,
): SimulatedRun => {
  const { compiled } = run;
  const trace = traceOf(compiled, run.stream, children);
  const { context } = trace;
  /** How it ended, as JSON shows it first: status, then what it ended with. */
  const end = ((): Pick<SimulatedRun, 'status' | 'output' | 'error' | 'waitingFor' | 'problem'> => {
    if (problem !== undefined || stopped === 'limit')
      return {
        status: 'incomplete',
        problem:
          problem ??
          `the run did not end within ${run.stream.length} events (a loop that never ends?)`,
      };
    const status = statusOf(run.snapshot);
    if (stopped === 'stuck' || status === 'pending' || status === 'running') {
      const waiting: Waiting[] = waitsOf(compiled, context, answers.canned.timers === 'never');
      for (const open of Object.values(context.children)) {
        const nested = children.get(open.childRunId);
        if (nested === undefined || ends.get(open.childRunId) !== undefined) continue;
        waiting.push({
          step: open.stepId,
          ...(open.item === undefined ? {} : { item: open.item }),
          child: open.childRunId,
          waitingFor: nested.waitingFor ?? [],
        });
      }
      return { status: 'waiting', waitingFor: waiting };
    }
    return {
      status,
      ...(status === 'completed' || context.output !== null ? { output: context.output } : {}),
      ...(context.failure === null ? {} : { error: context.failure }),
    };
  })();
  return {
    ...end,
    blueprint: compiled.blueprint.name,
    runId: run.runId,
    startedAt: new Date(run.startedAt).toISOString(),
    elapsedMs: trace.elapsedMs,
    input: context.input,
    path: trace.path,
    steps: trace.steps,
  };
};

/**
 * Validates `blueprint` and simulates a run of it on `input` with `canned` results. Invalid
 * blueprint: its diagnostics. Throws `CannedInvalid` when a canned signal is one the blueprint
 * does not accept.
 */
export const simulateBlueprint = async (
  blueprint: unknown,
  input: Json,
  canned: Canned,
  options: SimulateOptions = {},
): Promise<SimulateResult> => {
  const validated = validateBlueprint(blueprint, options.limits);
  if (!validated.ok) return { ok: false, diagnostics: validated.diagnostics };
  const compiled = compileBlueprint(validated.blueprint, parseDuration);
  const signals = canned.signals ?? [];
  checkSignals(signals, handlersOf(compiled, undefined));
  const answers = new CannedAnswers(canned);
  const { run, sent } = await simulateRun(
    compiled,
    {
      runId: SIMULATED_RUN_ID,
      blueprint: { name: validated.blueprint.name, version: 1, hash: 'simulated' },
      // Only the runtime reads the pinned content.
      content: null,
      input,
    },
    signals,
    startOf(canned),
    { answers, depth: 0, maxMapItems: options.limits?.maxMapItems },
  );
  const unused = [
    ...answers.unused(),
    ...signals.flatMap((s, index) => (sent.has(index) ? [] : [`signals[${index}] (${s.name})`])),
  ];
  return { ok: true, simulation: { ...run, unused, warnings: validated.diagnostics } };
};
