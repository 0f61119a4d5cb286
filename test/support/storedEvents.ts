import { DatabaseSync } from 'node:sqlite';
import { runStream } from '../../src/store/streams.ts';

/**
 * The event types of a run's stream in revision order, read straight from a sqlite store file with
 * a read-only connection: for checking what is stored while no runtime is up. `[]` when the
 * stream does not exist.
 */
export const storedTypes = (dbPath: string, runId: string): string[] => {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    return db
      .prepare('SELECT type FROM events WHERE stream = ? ORDER BY revision')
      .all(runStream(runId))
      .map((row) => String(row['type']));
  } finally {
    db.close();
  }
};
