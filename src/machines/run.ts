import { createActor, type ActorScope, type ExecutableActionsFrom } from 'xstate';
import {
  COMMAND_TYPES,
  openTasks,
  type Command,
  type CompiledRun,
  type RunContext,
  type RunSnapshot,
} from './compile.ts';
import { decide, type DecideOptions } from './decide.ts';
import type { RunIdentity } from './identity.ts';
import { timeOf, withTime, type RunEvent } from './events.ts';

/**
 * The pure fold and decide of a run.
 *
 * - `evolve` folds one event through the machine: the next snapshot and the commands the machine
 *   emitted, none of them run (xstate's `transition` "does not execute actions").
 * - `react` takes a new fact (a start, a result, a cancel), folds it, and keeps turning commands
 *   into events and folding those until nothing is left: the events to append, in order.
 * - `replay` folds a stored stream and ignores commands: recorded decisions are never re-made.
 */

export type RunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'timed_out';

const toCommands = (actions: readonly { type: string; params?: unknown }[]): Command[] =>
  actions.flatMap((action) => {
    if (!COMMAND_TYPES.has(action.type)) return [];
    const params = (action.params ?? {}) as { stepId?: string };
    return [{ ...params, type: action.type } as Command];
  });

type RunMachine = CompiledRun['machine'];
type Action = ExecutableActionsFrom<RunMachine>;

/**
 * What xstate's `transition(machine, snapshot, event)` does, without its cost: that helper builds a
 * new actor (and two actor systems, and the machine's initial state) for every call, which was most
 * of the time of a fold. One inert scope per machine is kept instead; the machine never spawns or
 * emits, and actions are only collected (never executed), so sharing it keeps the fold pure.
 */
interface InertScope {
  readonly scope: ActorScope<RunSnapshot, RunEvent>;
  collected: Action[];
}

const scopes = new WeakMap<RunMachine, InertScope>();

const scopeOf = (machine: RunMachine): InertScope => {
  const known = scopes.get(machine);
  if (known !== undefined) return known;
  const self = createActor(machine);
  const inert: InertScope = {
    collected: [],
    scope: {
      self,
      id: '',
      sessionId: '',
      system: self.system,
      defer: () => undefined,
      logger: () => undefined,
      stopChild: () => undefined,
      emit: () => undefined,
      actionExecutor: (action: unknown) => {
        inert.collected.push(action as Action);
      },
    } as unknown as ActorScope<RunSnapshot, RunEvent>,
  };
  scopes.set(machine, inert);
  return inert;
};

/** Runs `f` on the machine's scope with a fresh action list; the fold is synchronous, so calls never interleave. */
const withScope = <A>(
  machine: RunMachine,
  f: (scope: ActorScope<RunSnapshot, RunEvent>) => A,
): [A, Action[]] => {
  const inert = scopeOf(machine);
  inert.collected = [];
  return [f(inert.scope), inert.collected];
};

const initials = new WeakMap<RunMachine, RunSnapshot>();

/** The machine's snapshot before any event; the same (immutable) value for every run of it. */
export const initialSnapshot = (compiled: CompiledRun): RunSnapshot => {
  const known = initials.get(compiled.machine);
  if (known !== undefined) return known;
  const [snapshot] = withScope(compiled.machine, (scope) =>
    compiled.machine.getInitialSnapshot(scope as never),
  );
  initials.set(compiled.machine, snapshot);
  return snapshot;
};

export const evolve = (
  compiled: CompiledRun,
  snapshot: RunSnapshot,
  event: RunEvent,
): { readonly snapshot: RunSnapshot; readonly commands: readonly Command[] } => {
  const [next, actions] = withScope(compiled.machine, (scope) =>
    compiled.machine.transition(snapshot, event, scope as never),
  );
  return { snapshot: next, commands: toCommands(actions) };
};

/**
 * Folds a whole stream; the snapshot after the last event. Pure and synchronous. The commands the
 * machine emits are dropped unread: recorded decisions are never re-made.
 */
export const replay = (compiled: CompiledRun, events: Iterable<RunEvent>): RunSnapshot => {
  const { machine } = compiled;
  let snapshot = initialSnapshot(compiled);
  for (const event of events) {
    [snapshot] = withScope(machine, (scope) => machine.transition(snapshot, event, scope as never));
  }
  return snapshot;
};

/** Bounds the command/event chain of one reaction; only a defect in the machine could reach it. */
const MAX_CHAIN = 100_000;

/**
 * One reaction: `fact` and every event its commands lead to, folded. Pure (async only for
 * JSONata). Every decision is made at one time: the fact's recorded `time` when it has one (a
 * replay), else `options.now`, which is then recorded in the fact (the first of `events`). The
 * caller appends `events` atomically, expecting the revision it read, and only then performs
 * their effects.
 */
export const react = async (
  compiled: CompiledRun,
  snapshot: RunSnapshot,
  run: RunIdentity,
  fact: RunEvent,
  options: DecideOptions,
): Promise<{ readonly snapshot: RunSnapshot; readonly events: readonly RunEvent[] }> => {
  const now = timeOf(fact) ?? options.now;
  const at: DecideOptions = now === options.now ? options : { ...options, now };
  const event = withTime(fact, now);
  // A run's start time is its first fact's decision time, known to the decider from the start.
  if (fact.type === 'RunStarted' && run.startedAt === undefined) run = { ...run, startedAt: now };
  const events: RunEvent[] = [event];
  let step = evolve(compiled, snapshot, event);
  const pending: Command[] = [...step.commands];
  let current = step.snapshot;
  while (pending.length > 0) {
    if (events.length > MAX_CHAIN) throw new Error('defect: a reaction did not settle');
    const command = pending.shift() as Command;
    for (const next of await decide(compiled, current.context, run, command, at)) {
      events.push(next);
      step = evolve(compiled, current, next);
      current = step.snapshot;
      pending.push(...step.commands);
    }
  }
  return { snapshot: current, events };
};

export const statusOf = (snapshot: RunSnapshot): RunStatus => {
  const value = snapshot.value;
  if (value === 'idle') return 'pending';
  if (value === 'completed') return 'completed';
  if (value === 'failed') return 'failed';
  if (value === 'cancelled') return 'cancelled';
  if (value === 'timed_out') return 'timed_out';
  return 'running';
};

/** Step ids with an activity attempt, a child run or a timer in flight. */
export const activeSteps = (context: RunContext): readonly string[] => [
  ...new Set([
    ...openTasks(context).map((t) => t.stepId),
    ...Object.values(context.children).map((c) => c.stepId),
    ...Object.values(context.timers).map((t) => t.stepId),
  ]),
];
