import { createHash, hash } from 'node:crypto';
import type { Json } from '../blueprints/json.ts';
import { canonicalJson } from '../blueprints/canonical.ts';

/**
 * A deterministic event id (UUID-shaped, version 8): the same event at the same place in the same
 * stream always gets the same id, so an append retried after a lost reply is recognised, not doubled.
 *
 * The data is hashed as `JSON.stringify` writes it, not canonically: a decision builds its event the
 * same way every time, and sorting every key of every event cost a tenth of a reaction. Should two
 * builds of one event ever order keys differently, the retried append is a version conflict, and the
 * re-decision against the stream finds the task closed: still recorded once.
 */
export const eventId = (stream: string, revision: number, type: string, data: Json): string => {
  const hex = hash(
    'sha256',
    `${stream}\u0000${revision}\u0000${type}\u0000${JSON.stringify(data)}`,
    'hex',
  );
  const variant = ((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

/** SHA-256 of the canonical JSON of a value: the content hash of a blueprint. */
export const contentHash = (value: Json): string =>
  createHash('sha256').update(canonicalJson(value)).digest('hex');
