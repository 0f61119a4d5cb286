import { parseDuration } from '../blueprints/duration.ts';
import type { Blueprint } from '../blueprints/schema.ts';
import {
  validateBlueprint,
  type BlueprintLimits,
  type Diagnostic,
} from '../blueprints/validate.ts';
import {
  compileBlueprint,
  type CompileOptions,
  UnsupportedStep,
  type CompiledRun,
  type RunSnapshot,
} from '../machines/compile.ts';
import type { RunIdentity } from '../machines/identity.ts';
import { compileOptionsOf, CURRENT_LANGUAGE, timeOf, toRunEvent } from '../machines/events.ts';
import { extensionsOf, handlersOf, type Handlers } from '../machines/handlers.ts';
import type { ParentRef } from '../machines/messages.ts';
import { replay, statusOf } from '../machines/run.ts';
import { weftError, type WeftError } from '../wire/errors.ts';
import type { BlueprintVersion } from './blueprintRegistry.ts';
import type { RunStreams } from './runStreams.ts';

/** A run folded from its stream: a cache only, the stream is the truth. */
export interface LoadedRun {
  readonly compiled: CompiledRun;
  /** The limits pinned in its `RunStarted` (undefined: the defaults), used for its whole life. */
  readonly limits: Partial<BlueprintLimits> | undefined;
  readonly identity: RunIdentity;
  readonly parent: ParentRef | undefined;
  readonly handlers: Handlers;
  snapshot: RunSnapshot;
  /** The revision of the last event folded into `snapshot`. */
  revision: number;
}

export const invalidBlueprint = (diagnostics: readonly Diagnostic[]): WeftError =>
  weftError(
    'invalid_blueprint',
    `blueprint is invalid: ${diagnostics.map((d) => `${d.path}: ${d.message}`).join('; ')}`,
    { diagnostics },
  );

/** The blueprint's machine; a step shape this runtime cannot execute throws `invalid_blueprint`. */
export const compileChecked = (
  blueprint: Blueprint,
  options: CompileOptions = CURRENT_LANGUAGE,
): CompiledRun => {
  try {
    return compileBlueprint(blueprint, parseDuration, options);
  } catch (error) {
    if (error instanceof UnsupportedStep) {
      throw invalidBlueprint([
        { path: '$.steps', code: 'unsupported_step', message: error.message, severity: 'error' },
      ]);
    }
    throw error;
  }
};

/** Running runs kept in memory by default; others are rebuilt from their stream on demand. */
export const MAX_RUNS_IN_MEMORY = 1000;

/**
 * The runs this runtime has folded, and the machines compiled for their blueprints. Bounded:
 * at most `maxRuns` running runs, least recently used out; an ended run is not kept. Compiled
 * machines are kept per blueprint hash and pinned limits (few, and immutable).
 */
export class RunCache {
  readonly #streams: RunStreams;
  readonly #maxRuns: number;
  readonly #runs = new Map<string, LoadedRun>();
  readonly #compiled = new Map<string, CompiledRun>();

  constructor(streams: RunStreams, maxRuns = MAX_RUNS_IN_MEMORY) {
    this.#streams = streams;
    this.#maxRuns = maxRuns;
  }

  /**
   * The blueprint's machine, validated under the run's pinned `limits` (undefined: the defaults).
   */
  compile(
    version: Pick<BlueprintVersion, 'hash' | 'content'>,
    limits: Partial<BlueprintLimits> | undefined,
    options: CompileOptions = CURRENT_LANGUAGE,
  ): CompiledRun {
    const key = `${version.hash}:${Number(options.scopes)}${Number(options.handlerScope)}${limits === undefined ? '' : `:${JSON.stringify(limits)}`}`;
    const cached = this.#compiled.get(key);
    if (cached !== undefined) return cached;
    const validated = validateBlueprint(version.content, limits, { recorded: true });
    if (!validated.ok) throw invalidBlueprint(validated.diagnostics);
    const compiled = compileChecked(validated.blueprint, options);
    this.#compiled.set(key, compiled);
    return compiled;
  }

  /**
   * The run, from memory (now its most recently used) or rebuilt from its stream; undefined when
   * the stream does not exist. Call it in the run's mailbox.
   */
  async load(runId: string): Promise<LoadedRun | undefined> {
    const cached = this.#runs.get(runId);
    if (cached !== undefined) {
      this.#runs.delete(runId);
      this.#runs.set(runId, cached);
      return cached;
    }
    const recorded = await this.#streams.read(runId);
    if (recorded.length === 0) return undefined;
    const events = recorded.map(toRunEvent);
    const started = events[0];
    if (started?.type !== 'RunStarted')
      throw new Error(`stream run-${runId} does not begin with RunStarted`);
    const compiled = this.compile(started.blueprint, started.limits, compileOptionsOf(started));
    const run: LoadedRun = {
      compiled,
      limits: started.limits,
      identity: {
        id: runId,
        blueprint: started.blueprint.name,
        version: started.blueprint.version,
        startedAt: timeOf(started) ?? Date.parse(recorded[0]?.at ?? ''),
      },
      parent: started.parent,
      handlers: handlersOf(compiled, extensionsOf(started.extensions)),
      snapshot: replay(compiled, events),
      revision: recorded.length - 1,
    };
    this.keep(runId, run);
    return run;
  }

  /** The run if it is in memory now, without loading it or touching its recency. */
  peek(runId: string): LoadedRun | undefined {
    return this.#runs.get(runId);
  }

  /**
   * Caches a running run, least recently used out first: memory stays bounded whatever the number
   * of runs.
   */
  keep(runId: string, run: LoadedRun): void {
    if (statusOf(run.snapshot) !== 'running') return;
    this.#runs.set(runId, run);
    while (this.#runs.size > this.#maxRuns) {
      const oldest = this.#runs.keys().next().value;
      if (oldest === undefined) break;
      this.#runs.delete(oldest);
    }
  }

  /** Forgets the run (after a conflict, or once it ended). */
  forget(runId: string): void {
    this.#runs.delete(runId);
  }

  /** Forgets the selected runs (the next message rebuilds them from their streams). */
  drop(select: (runId: string) => boolean): void {
    for (const runId of [...this.#runs.keys()]) if (select(runId)) this.#runs.delete(runId);
  }
}
