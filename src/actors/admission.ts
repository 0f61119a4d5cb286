import type { Json } from '../blueprints/json.ts';
import type { Blueprint } from '../blueprints/schema.ts';
import {
  validateBlueprint,
  type ActivitySchemas,
  type BlueprintLimits,
  type Diagnostic,
  type ValidateOptions,
} from '../blueprints/validate.ts';
import type { CompiledRun } from '../machines/compile.ts';
import { LANGUAGE, timeOf, type RunEvent } from '../machines/events.ts';
import { extensionsOf, handlersOf, type RunExtensions } from '../machines/handlers.ts';
import type { ParentRef } from '../machines/messages.ts';
import { weftError, WeftError } from '../wire/errors.ts';
import type { BlueprintRegistry, BlueprintVersion } from './blueprintRegistry.ts';
import type { Clock } from './clock.ts';
import type { RunActors } from './runActor.ts';
import { compileChecked, invalidBlueprint, type RunCache } from './runCache.ts';
import type { StartLimits } from './startLimits.ts';

export interface StartRequest {
  readonly blueprint: string | Json;
  readonly version?: number;
  readonly input?: Json;
  readonly runId?: string;
  readonly parent?: ParentRef;
  /** The run is one item of its parent's map of `steps`: its steps see `$item` and `$index`. */
  readonly bindsItem?: boolean;
  /** Signals, queries and plugins for this run alone (validated with the blueprint). */
  readonly signals?: readonly unknown[];
  readonly queries?: readonly unknown[];
  readonly plugins?: readonly unknown[];
}

export interface StartResult {
  readonly runId: string;
  readonly blueprint: { readonly name: string; readonly version: number };
  readonly existing: boolean;
  /** Warnings about an inline blueprint (`unknown_activity`, …); absent when there are none. */
  readonly warnings?: readonly Diagnostic[];
}

export interface AdmissionDeps {
  readonly registry: BlueprintRegistry;
  readonly limits: Partial<BlueprintLimits>;
  readonly served: (() => readonly string[]) | undefined;
  /** The JSON Schemas announced activities declare: validation checks step inputs against them. */
  readonly schemas: (() => ReadonlyMap<string, ActivitySchemas>) | undefined;
  readonly cache: RunCache;
  readonly actors: Pick<RunActors, 'inMailbox' | 'create'>;
  /** The run with that id as a start's answer, undefined when there is none. */
  readonly existing: (runId: string) => Promise<StartResult | undefined>;
  /** Called once a run's first events are appended (arms its `timeout`). */
  readonly started: (runId: string, compiled: CompiledRun, startedAt: number) => void;
  readonly newRunId: () => string;
  readonly clock: Clock;
  /** The start limits a new run a client asks for must pass (not a child run). */
  readonly gate?: Pick<StartLimits, 'admit'>;
}

/**
 * Start requests: the blueprint resolved (by name and version, or inline: validated, then put in
 * the registry so the run pins a version), the request's own signals, queries and plugins
 * validated with it, and the run admitted under this runtime's one set of limits, which its
 * `RunStarted` pins for its whole life. A start with a run id that exists returns that run; a new
 * one past the start limits (`StartLimits`) is refused `unavailable`.
 */
export class Admission {
  readonly #deps: AdmissionDeps;

  constructor(deps: AdmissionDeps) {
    this.#deps = deps;
  }

  /**
   * Starts a run, or returns the existing one with that id. Appends `RunStarted` and its first
   * decisions atomically.
   */
  start(request: StartRequest): Promise<StartResult> {
    const runId = request.runId ?? this.#deps.newRunId();
    return this.#deps.actors.inMailbox(runId, async () => {
      // A run id this runtime just made up cannot exist (and if it did, the append below would
      // conflict and find it): only a caller's own id is looked up first.
      const existing = request.runId === undefined ? undefined : await this.#deps.existing(runId);
      if (existing !== undefined) return existing;
      // A client's new run passes the start limits before anything (an inline blueprint too) is
      // stored; a child run does not: its parent is running already and waits for it.
      if (request.parent === undefined) this.#deps.gate?.admit();
      const { version, warnings } = await this.#resolve(request);
      const limits = Object.keys(this.#deps.limits).length === 0 ? undefined : this.#deps.limits;
      const compiled = this.#deps.cache.compile(version, limits);
      const extensions = this.#extensions(version.content, request);
      const started: RunEvent = {
        type: 'RunStarted',
        runId,
        blueprint: {
          name: version.name,
          version: version.version,
          hash: version.hash,
          content: version.content,
        },
        input: request.input ?? null,
        ...(extensions === undefined ? {} : { extensions: extensions as unknown as Json }),
        ...(request.parent === undefined ? {} : { parent: request.parent }),
        ...(request.bindsItem === true ? { bindsItem: true } : {}),
        ...(limits === undefined ? {} : { limits }),
        language: LANGUAGE,
      };
      const events = await this.#deps.actors.create(
        {
          compiled,
          limits,
          identity: { id: runId, blueprint: version.name, version: version.version },
          parent: request.parent,
          handlers: handlersOf(compiled, extensions),
        },
        started,
      );
      if (events === 'conflict') {
        const raced = await this.#deps.existing(runId);
        if (raced !== undefined) return raced;
        throw weftError('unavailable', `run '${runId}' could not be started; try again`);
      }
      const startedAt = events[0] === undefined ? undefined : timeOf(events[0]);
      this.#deps.started(runId, compiled, startedAt ?? this.#deps.clock.now());
      return {
        runId,
        blueprint: { name: version.name, version: version.version },
        existing: false,
        ...(warnings.length === 0 ? {} : { warnings }),
      };
    });
  }

  /**
   * Validates a blueprint for storage: every diagnostic, including shapes this runtime cannot
   * execute.
   */
  check(input: unknown): {
    readonly blueprint?: Blueprint;
    readonly diagnostics: readonly Diagnostic[];
  } {
    const validated = validateBlueprint(input, this.#deps.limits, this.#validateOptions());
    if (!validated.ok) return { diagnostics: validated.diagnostics };
    try {
      compileChecked(validated.blueprint);
    } catch (error) {
      if (error instanceof WeftError) {
        return {
          diagnostics: (error.details as { diagnostics: readonly Diagnostic[] }).diagnostics,
        };
      }
      throw error;
    }
    return { blueprint: validated.blueprint, diagnostics: validated.diagnostics };
  }

  /**
   * Resolves the blueprint (by name and version, or inline — put first, so the run pins a version).
   */
  async #resolve(
    request: StartRequest,
  ): Promise<{ readonly version: BlueprintVersion; readonly warnings: readonly Diagnostic[] }> {
    if (typeof request.blueprint === 'string') {
      return {
        version: await this.#deps.registry.get(request.blueprint, request.version),
        warnings: [],
      };
    }
    const validated = validateBlueprint(
      request.blueprint,
      this.#deps.limits,
      this.#validateOptions(),
    );
    if (!validated.ok) throw invalidBlueprint(validated.diagnostics);
    compileChecked(validated.blueprint);
    // The request's own signals, queries and plugins are checked before anything is stored.
    this.#extensions(validated.blueprint as unknown as Json, request);
    // Valid: what diagnostics there are are warnings.
    return {
      version: await this.#deps.registry.put(validated.blueprint),
      warnings: validated.diagnostics,
    };
  }

  /**
   * What validation of a new blueprint knows besides the document: the served activities and the
   * schemas they declare.
   */
  #validateOptions(): ValidateOptions {
    return {
      ...(this.#deps.served === undefined ? {} : { activities: this.#deps.served() }),
      ...(this.#deps.schemas === undefined ? {} : { activitySchemas: this.#deps.schemas() }),
    };
  }

  /**
   * A start request's extra signals, queries and plugins, validated together with the blueprint.
   */
  #extensions(blueprint: Json, request: StartRequest): RunExtensions | undefined {
    if (
      request.signals === undefined &&
      request.queries === undefined &&
      request.plugins === undefined
    )
      return undefined;
    const content = blueprint as Record<string, Json>;
    const listOf = (key: string) =>
      Array.isArray(content[key]) ? (content[key] as readonly Json[]) : [];
    const merged = {
      ...content,
      signals: [...listOf('signals'), ...((request.signals ?? []) as Json[])],
      queries: [...listOf('queries'), ...((request.queries ?? []) as Json[])],
      plugins: [...listOf('plugins'), ...((request.plugins ?? []) as Json[])],
    };
    const validated = validateBlueprint(merged, this.#deps.limits);
    if (!validated.ok) throw invalidBlueprint(validated.diagnostics);
    const extensions = extensionsOf({
      ...(request.signals === undefined ? {} : { signals: request.signals }),
      ...(request.queries === undefined ? {} : { queries: request.queries }),
      ...(request.plugins === undefined ? {} : { plugins: request.plugins }),
    });
    if (extensions === undefined)
      throw weftError(
        'invalid_request',
        'signals, queries or plugins of the start request are malformed',
      );
    return extensions;
  }
}
