import { accessSync, constants, statSync } from 'node:fs';

/** Whether `file` is a regular file this user may execute. Looks at the file system only. */
export function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
