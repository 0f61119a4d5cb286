import { child, closest, Diagnostics, own } from './diagnostics.ts';
import type { RawList } from './rawSteps.ts';
import { isName } from './schema.ts';

/** At most this many served names are listed in one hint. */
const HINT_NAMES = 50;

/**
 * `unknown_activity` warnings: every literal activity name (a name, not an expression) that is
 * not among `served` gets one, at its path, with the served names and a did-you-mean guess in
 * its hint. Computed names are not checked here (they are known only when decided). Pure.
 */
export const activityDiagnostics = (
  lists: readonly RawList[],
  served: readonly string[],
  out: Diagnostics,
): void => {
  const known = new Set(served);
  const sorted = [...known].sort();
  const listed =
    sorted.length === 0
      ? 'No worker has announced any activity.'
      : `Served now: ${sorted.slice(0, HINT_NAMES).join(', ')}${sorted.length > HINT_NAMES ? `, and ${sorted.length - HINT_NAMES} more` : ''}.`;
  for (const list of lists) {
    for (const step of list.steps) {
      if (own(step.value, 'type') !== 'activity') continue;
      const name = own(step.value, 'activity');
      if (!isName(name) || known.has(name)) continue;
      const guess = closest(name, sorted);
      out.warn(
        child(step.path, 'activity'),
        'unknown_activity',
        `no worker serves activity "${name}"`,
        `${guess === undefined ? '' : `Did you mean "${guess}"? `}${listed} A run of it waits until a worker for "${name}" starts.`,
      );
    }
  }
};
