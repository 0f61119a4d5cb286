import { enc, type StoredEvent } from '../api.ts';
import { Json, time } from '../parts.tsx';

/** A run's events: number, type, time, step, attempt, a child run's link, the payload on demand. */

const stepOf = (event: StoredEvent): string => {
  const { stepId, item } = event.data as { stepId?: string; item?: number };
  return stepId === undefined ? '' : item === undefined ? stepId : `${stepId}[${item}]`;
};

/** Rows shown at once: the events around the one the slider is at. */
const WINDOW = 200;

export const Timeline = ({
  events,
  shown,
  onPick,
}: {
  readonly events: readonly StoredEvent[];
  readonly shown: number;
  readonly onPick: (revision: number) => void;
}) => {
  const first = Math.max(0, Math.min(shown - WINDOW / 2, events.length - WINDOW));
  const rows = events.slice(first, first + WINDOW);
  return (
    <>
      {rows.length < events.length ? (
        <p class="muted">
          events {first}–{first + rows.length - 1} of {events.length}, around the one the slider is
          at
        </p>
      ) : null}
      <table class="timeline" data-testid="timeline">
        <thead>
          <tr>
            <th>#</th>
            <th>event</th>
            <th>time</th>
            <th>step</th>
            <th>attempt</th>
            <th>payload</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((event) => {
            const { attempt, childRunId } = event.data as { attempt?: number; childRunId?: string };
            return (
              <tr
                key={event.revision}
                class={event.revision === shown ? 'at' : event.revision > shown ? 'later' : ''}
                data-revision={event.revision}
              >
                <td>
                  <button
                    class="link"
                    onClick={() => onPick(event.revision)}
                    title="show the run after this event"
                  >
                    {event.revision}
                  </button>
                </td>
                <td class={`event-${event.type}`}>{event.type}</td>
                <td>{time(event.at)}</td>
                <td>{stepOf(event)}</td>
                <td>{attempt ?? ''}</td>
                <td>
                  {childRunId === undefined ? null : (
                    <a href={`#/runs/${enc(childRunId)}`} data-testid="child-link">
                      {childRunId}
                    </a>
                  )}
                  <details>
                    <summary>payload</summary>
                    <Json value={event.data} />
                  </details>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
};
