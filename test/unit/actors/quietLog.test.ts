import { afterEach, expect, it, vi } from 'vitest';
import { QuietLog } from '../../../src/actors/quietLog.ts';

/** A burst of the same complaint (every result of a store outage) is one line and one summary. */

afterEach(() => {
  vi.useRealTimers();
});

it('says each kind once per window and sums up the rest when the window ends', () => {
  vi.useFakeTimers();
  const lines: string[] = [];
  const quiet = new QuietLog((line) => lines.push(line), 5000);
  for (let i = 0; i < 40; i++) quiet.say('unrecorded', `result ${String(i)} not recorded`);
  quiet.say('other', 'something else');
  expect(lines).toEqual(['result 0 not recorded', 'something else']);

  vi.advanceTimersByTime(5000);
  expect(lines.slice(2)).toEqual([
    '… and 39 more like it in the last 5 s (the last: result 39 not recorded)',
  ]);
  // A new window after the first ended: said again at once.
  quiet.say('unrecorded', 'result 40 not recorded');
  expect(lines.at(-1)).toBe('result 40 not recorded');
  // close writes what is pending (nothing more here) and leaves no timer behind.
  quiet.say('unrecorded', 'result 41 not recorded');
  quiet.close();
  expect(lines.at(-1)).toBe(
    '… and 1 more like it in the last 5 s (the last: result 41 not recorded)',
  );
  expect(vi.getTimerCount()).toBe(0);
});
