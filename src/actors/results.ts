import { resultEvent, resultStanding } from '../machines/messages.ts';
import { weftError, WeftError } from '../wire/errors.ts';
import type { TaskResult } from '../wire/protocol.ts';
import type { RunActors } from './runActor.ts';

interface Waiting {
  readonly result: TaskResult;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** `details.reason` of the refusal of a result for a task its run never sent. */
export const NOT_SENT = 'not_sent';

/**
 * The refusal of a result no attempt of its run was sent for (`resultStanding`): `invalid_request`
 * with `details: {reason: 'not_sent', runId, taskId, attempt}`, so it crosses a forward between
 * runtimes as it is.
 */
const notSent = (result: TaskResult, why: string): WeftError =>
  weftError(
    'invalid_request',
    `result refused: ${why}; no task '${result.taskId}' attempt ${result.attempt} was sent for run '${result.runId}'`,
    { reason: NOT_SENT, runId: result.runId, taskId: result.taskId, attempt: result.attempt },
  );

/** Whether `error` is the refusal of a result for a task never sent. */
export const isNotSent = (error: unknown): error is WeftError =>
  error instanceof WeftError &&
  error.code === 'invalid_request' &&
  (error.details as { reason?: unknown } | undefined)?.reason === NOT_SENT;

/**
 * Workers' results, recorded once each (`resultEvent`). The results of one run that arrive while
 * its mailbox is busy wait there together and are recorded in one append (as many as fit). A
 * result resolves once it is durable, or known to be late: its attempt was sent and is no longer
 * open, or its run ended (a repeated or retried report is answered as the first was). It rejects
 * with `isNotSent` when its run never sent that attempt (or there is no such run), nothing
 * appended; with the store's error when the store failed.
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
    // Each result's standing on the state it was last decided on (a conflict decides again).
    const sent = batch.map(() => true);
    try {
      await this.#actors.transactAll(
        runId,
        batch.map(({ result }, i) => (run) => {
          const standing = resultStanding(runId, run.snapshot, result);
          sent[i] = standing !== 'never_sent';
          return standing === 'open' ? resultEvent(run.snapshot, result) : undefined;
        }),
      );
      for (const [i, waiting] of batch.entries()) {
        if (sent[i] === true) waiting.resolve();
        else waiting.reject(notSent(waiting.result, 'not an attempt this run made'));
      }
    } catch (error) {
      const gone = error instanceof WeftError && error.code === 'run_not_found';
      for (const waiting of batch)
        waiting.reject(gone ? notSent(waiting.result, `there is no run '${runId}'`) : error);
    }
  }
}
