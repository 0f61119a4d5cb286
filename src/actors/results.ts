import { resultEvent } from '../machines/messages.ts';
import { WeftError } from '../wire/errors.ts';
import type { TaskResult } from '../wire/protocol.ts';
import type { RunActors } from './runActor.ts';

interface Waiting {
  readonly result: TaskResult;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Workers' results, recorded once each (`resultEvent`: a result for an attempt that is not open is
 * ignored). The results of one run that arrive while its mailbox is busy wait there together and
 * are recorded in one append (as many as fit). A result resolves once it is durable or known to
 * be stale (also when its run does not exist); it rejects when the store failed.
 */
export class ResultBatches {
  readonly #actors: Pick<RunActors, 'inMailbox' | 'transactAll'>;
  readonly #waiting = new Map<string, Waiting[]>();

  constructor(actors: Pick<RunActors, 'inMailbox' | 'transactAll'>) {
    this.#actors = actors;
  }

  record(result: TaskResult): Promise<void> {
    return new Promise((resolve, reject) => {
      let batch = this.#waiting.get(result.runId);
      if (batch === undefined) {
        batch = [];
        this.#waiting.set(result.runId, batch);
        void this.#actors.inMailbox(result.runId, () => this.#recordBatch(result.runId));
      }
      batch.push({ result, resolve, reject });
    });
  }

  async #recordBatch(runId: string): Promise<void> {
    const batch = this.#waiting.get(runId) ?? [];
    this.#waiting.delete(runId);
    try {
      await this.#actors.transactAll(
        runId,
        batch.map(
          ({ result }) =>
            (run) =>
              resultEvent(run.snapshot, result),
        ),
      );
      for (const waiting of batch) waiting.resolve();
    } catch (error) {
      const gone = error instanceof WeftError && error.code === 'run_not_found';
      for (const waiting of batch) {
        if (gone) waiting.resolve();
        else waiting.reject(error);
      }
    }
  }
}
