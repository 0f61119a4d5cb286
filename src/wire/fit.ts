/**
 * Making replies fit a NATS connection's max_payload (README "NATS API", "Large values"). Pure:
 * sizes are UTF-8 bytes of `JSON.stringify`, exactly what the gateway sends.
 *
 * A value too large for its reply is replaced by the marker
 * `{"$truncated": true, "bytes": N, "preview": "…"}`: `bytes` is the size of the whole value's JSON,
 * `preview` its first {@link PREVIEW_CHARS} characters. A marker is never larger than
 * {@link MARKER_MAX_BYTES}.
 */

export interface Truncated {
  readonly $truncated: true;
  readonly bytes: number;
  readonly preview: string;
}

/** Characters of the value's JSON text kept in a marker's `preview`. */
export const PREVIEW_CHARS = 256;
/** Upper bound of a marker's own JSON (a preview of 256 characters, each escaped to at most 6 bytes). */
export const MARKER_MAX_BYTES = 64 + PREVIEW_CHARS * 6;

const encoder = new TextEncoder();

/** UTF-8 length of a string (what NATS counts). */
export const utf8Bytes = (text: string): number => {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
};

/** Bytes of the value as the gateway would send it (`undefined` counts as absent: 0). */
export const jsonBytes = (value: unknown): number => {
  const text = JSON.stringify(value) as string | undefined;
  return text === undefined
    ? 0
    : text.length < 4096
      ? utf8Bytes(text)
      : encoder.encode(text).length;
};

export const isTruncated = (value: unknown): value is Truncated =>
  value !== null &&
  typeof value === 'object' &&
  (value as { $truncated?: unknown }).$truncated === true;

/** The marker for `value`: its size and the start of its JSON text (never half a surrogate pair). */
export const truncate = (value: unknown): Truncated => {
  const text = (JSON.stringify(value) as string | undefined) ?? 'null';
  let preview = text.slice(0, PREVIEW_CHARS);
  const last = preview.charCodeAt(preview.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) preview = preview.slice(0, -1);
  return { $truncated: true, bytes: jsonBytes(value), preview };
};

/** `value` itself when its JSON is at most `maxBytes`, else its marker. */
export const fitValue = (value: unknown, maxBytes: number): unknown =>
  jsonBytes(value) <= maxBytes ? value : truncate(value);

/**
 * `object` with its largest `keys` replaced by markers, largest first, until its JSON is at most
 * `maxBytes`; `fits` is false when even all of them truncated is still too large. Keys absent from
 * `object` are left absent.
 */
export const fitFields = <T extends object>(
  object: T,
  keys: readonly string[],
  maxBytes: number,
): { readonly value: T; readonly fits: boolean } => {
  let total = jsonBytes(object);
  if (total <= maxBytes) return { value: object, fits: true };
  const record = object as Record<string, unknown>;
  const sized = keys
    .filter((key) => record[key] !== undefined)
    .map((key) => ({ key, bytes: jsonBytes(record[key]) }))
    .sort((a, b) => b.bytes - a.bytes);
  const out: Record<string, unknown> = { ...record };
  for (const { key, bytes } of sized) {
    if (total <= maxBytes) break;
    const marker = truncate(record[key]);
    const markerBytes = jsonBytes(marker);
    if (markerBytes >= bytes) continue;
    out[key] = marker;
    total -= bytes - markerBytes;
  }
  return { value: out as T, fits: total <= maxBytes };
};

/** `fitFields` over each value with its own cap: every listed key larger than `maxBytes` is truncated. */
export const capFields = <T extends object>(
  object: T,
  keys: readonly string[],
  maxBytes: number,
): T => {
  const record = object as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const key of keys) {
    const value = record[key];
    if (value === undefined || jsonBytes(value) <= maxBytes) continue;
    out ??= { ...record };
    out[key] = truncate(value);
  }
  return (out ?? object) as T;
};

/** One event as `runs.<id>.history` sends it. */
export interface WireEvent {
  readonly revision: number;
  readonly type: string;
  readonly data: unknown;
  readonly at: string;
}

/**
 * The event, whole when its JSON is at most `maxBytes`; else with its data's largest top-level
 * fields truncated (or all of `data` when that is not enough or it is not an object).
 */
export const fitEvent = (event: WireEvent, maxBytes: number): WireEvent => {
  const size = jsonBytes(event);
  if (size <= maxBytes) return event;
  const { data } = event;
  const room = maxBytes - (size - jsonBytes(data));
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    const fitted = fitFields(data, Object.keys(data), room);
    if (fitted.fits) return { ...event, data: fitted.value };
  }
  return { ...event, data: truncate(data) };
};

/**
 * Takes events into a page while their JSON (with commas) stays within `budget` bytes. The first
 * event is always taken, truncated by {@link fitEvent} if it does not fit alone, so every page
 * makes progress; a later event that does not fit ends the page (`full`) and is sent whole as the
 * first of the next page.
 */
export class EventPage {
  readonly events: WireEvent[] = [];
  #used = 2;
  #full = false;
  readonly #budget: number;

  constructor(budget: number) {
    this.#budget = budget;
  }

  get full(): boolean {
    return this.#full;
  }

  /** False (and the page is full) when `event` must go on the next page. */
  add(event: WireEvent): boolean {
    if (this.#full) return false;
    const first = this.events.length === 0;
    const bytes = jsonBytes(event) + (first ? 0 : 1);
    if (this.#used + bytes <= this.#budget) {
      this.events.push(event);
      this.#used += bytes;
      return true;
    }
    if (!first) {
      this.#full = true;
      return false;
    }
    const fitted = fitEvent(event, this.#budget - this.#used);
    this.events.push(fitted);
    this.#used += jsonBytes(fitted);
    return true;
  }
}
