import { forbiddenOf } from '../client/errors.ts';
import { ClientError } from './client.ts';

/** A left-aligned text table; long cells are cut so a row stays on one line. */
export const formatTable = (
  head: readonly string[],
  rows: readonly (readonly string[])[],
): string => {
  if (rows.length === 0) return '(none)';
  const cut = (cell: string) => (cell.length > 80 ? `${cell.slice(0, 77)}...` : cell);
  const cells = [head, ...rows].map((row) => row.map(cut));
  const widths = head.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
};

/** A blueprint diagnostic as it arrives on the wire (severity absent from older runtimes). */
export interface WireDiagnostic {
  readonly path: string;
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  readonly severity?: string;
}

/** One diagnostic on one line for people: path, code (marked when only a warning), message, hint. */
export const formatDiagnostic = (d: WireDiagnostic): string =>
  `${d.path}  ${d.code}${d.severity === 'warning' ? ' (warning)' : ''}  ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`;

/** Prints an error for people (code, message, diagnostics) or as the JSON error envelope. */
export const printError = (thrown: unknown, json: boolean): void => {
  const error = forbiddenOf(thrown) ?? thrown;
  const code = error instanceof ClientError ? error.code : 'error';
  const message = error instanceof Error ? error.message : String(error);
  const details = error instanceof ClientError ? error.details : undefined;
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ ok: false, error: { code, message, ...(details === undefined ? {} : { details }) } })}\n`,
    );
    return;
  }
  process.stderr.write(`error [${code}]: ${message}\n`);
  const diagnostics = (details as { diagnostics?: WireDiagnostic[] } | undefined)?.diagnostics;
  for (const d of diagnostics ?? []) process.stderr.write(`  ${formatDiagnostic(d)}\n`);
};
