import type { RunSnapshot } from '../machines/compile.ts';
import { toRunEvent, type RunEvent } from '../machines/events.ts';
import { childResultEvent, type ChildResult, type ParentRef } from '../machines/messages.ts';
import type { RunSummary } from '../projections/runSummary.ts';
import { WeftError } from '../wire/errors.ts';
import type { StartRequest, StartResult } from './admission.ts';
import type { RunActors } from './runActor.ts';
import type { RunStreams } from './runStreams.ts';

type ChildRequested = Extract<RunEvent, { type: 'ChildRequested' }>;

/**
 * The calls one run makes on another (a child's start, a cancel of the children, a child's result
 * to its parent). By default the runtime's own supervisor; in a cluster, whichever runtime owns the
 * other run.
 */
export interface Peers {
  start(request: StartRequest): Promise<StartResult>;
  cancel(runId: string, reason: string): Promise<boolean>;
  childResult(parent: ParentRef, childRunId: string, result: ChildResult): Promise<void>;
}

export interface ChildrenDeps {
  readonly peers: () => Peers;
  readonly actors: Pick<RunActors, 'inMailbox' | 'transact'>;
  readonly streams: RunStreams;
  /** The run's summary; rejects when there is no such run. */
  readonly summaryOf: (runId: string) => Promise<RunSummary>;
  readonly log: (message: string) => void;
}

/**
 * Child runs, from both ends: a parent's `ChildRequested` starts the child (under the id the
 * parent recorded, so a repeated start finds the existing run); a child's end is delivered to the
 * parent once (`childResultEvent`); after a restart, a child that ended unheard is delivered and
 * one never started is started. A child that cannot start fails its step at the parent.
 */
export class Children {
  readonly #deps: ChildrenDeps;

  constructor(deps: ChildrenDeps) {
    this.#deps = deps;
  }

  /**
   * Starts the child a parent's `ChildRequested` asks for; a failed start fails the parent's step,
   * except `unavailable` (the child's owner unreachable after retries): the parent's next recovery
   * starts it.
   */
  async start(parentRunId: string, event: ChildRequested): Promise<void> {
    const parent: ParentRef = {
      runId: parentRunId,
      stepId: event.stepId,
      ...(event.item === undefined ? {} : { item: event.item }),
    };
    try {
      await this.#deps.peers().start({
        // An item of a map of `steps` brings its blueprint (the item's steps) with it.
        blueprint: event.content ?? event.blueprint,
        ...(event.version === undefined ? {} : { version: event.version }),
        input: event.input,
        runId: event.childRunId,
        parent,
        ...(event.content === undefined ? {} : { bindsItem: true }),
      });
    } catch (error) {
      if (error instanceof WeftError && error.code === 'unavailable') {
        // Not the child's fault: whoever owns the parent then starts it when it recovers the run.
        this.#deps.log(
          `child ${event.childRunId} of ${parentRunId} not started yet: ${error.message}`,
        );
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      const code = error instanceof WeftError ? error.code : 'internal';
      await this.#deps.peers().childResult(parent, event.childRunId, {
        ok: false,
        error: { code, message, retryable: false },
      });
    }
  }

  /** A parent ended by cancel or timeout: its open children are cancelled (best effort). */
  cancelAll(parentRunId: string, before: RunSnapshot, how: string): void {
    for (const child of Object.values(before.context.children))
      void this.cancelOne(parentRunId, child.childRunId, how);
  }

  /** Cancels one child run of the parent (best effort: a child that already ended stays so). */
  async cancelOne(parentRunId: string, childRunId: string, how: string): Promise<void> {
    await this.#deps
      .peers()
      .cancel(childRunId, `parent run '${parentRunId}' ${how}`)
      .catch(() => undefined);
  }

  /**
   * After a restart: a child that ended while nobody listened is delivered; one never started is
   * started.
   */
  reconcile(
    parentRunId: string,
    child: { readonly childRunId: string; readonly stepId: string; readonly item?: number },
  ): void {
    const parent: ParentRef = {
      runId: parentRunId,
      stepId: child.stepId,
      ...(child.item === undefined ? {} : { item: child.item }),
    };
    void this.#deps.summaryOf(child.childRunId).then(
      (summary) => {
        if (summary.status !== 'running') void this.notifyParent(parent, child.childRunId, summary);
      },
      async () => {
        const event = await this.#childRequest(parentRunId, child.childRunId);
        if (event === undefined)
          this.#deps.log(
            `no ChildRequested for ${child.childRunId} in ${parentRunId}: not started`,
          );
        else await this.start(parentRunId, event);
      },
    );
  }

  /** Tells the parent how its child ended (failures are logged; a restart delivers again). */
  async notifyParent(parent: ParentRef, childRunId: string, summary: RunSummary): Promise<void> {
    await this.#deps
      .peers()
      .childResult(
        parent,
        childRunId,
        summary.status === 'completed'
          ? { ok: true, output: summary.output ?? null }
          : {
              ok: false,
              error: {
                code: summary.status === 'cancelled' ? 'child_cancelled' : 'child_failed',
                message: `child run '${childRunId}' ${summary.status}${summary.error ? `: ${summary.error.message}` : ''}`,
                retryable: false,
              },
            },
      )
      .catch((error: unknown) =>
        this.#deps.log(
          `could not deliver child ${childRunId} to ${parent.runId}: ${String(error)}`,
        ),
      );
  }

  /** Records a child's result at its parent once, in the parent's mailbox. */
  async deliver(parent: ParentRef, childRunId: string, result: ChildResult): Promise<void> {
    await this.#deps.actors.inMailbox(parent.runId, () =>
      this.#deps.actors.transact(parent.runId, (run) =>
        childResultEvent(run.snapshot, parent, childRunId, result),
      ),
    );
  }

  /**
   * The parent's recorded request for a child: the stream holds the blueprint and input of every
   * child, also of a map's items, which the folded context does not keep.
   */
  async #childRequest(
    parentRunId: string,
    childRunId: string,
  ): Promise<ChildRequested | undefined> {
    for (const stored of await this.#deps.streams.read(parentRunId)) {
      if (stored.type !== 'ChildRequested') continue;
      const event = toRunEvent(stored);
      if (event.type === 'ChildRequested' && event.childRunId === childRunId) return event;
    }
    return undefined;
  }
}
