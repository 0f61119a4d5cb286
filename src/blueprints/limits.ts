import { Diagnostics, pathText, preview, type Raw, type Segment } from './diagnostics.ts';

/**
 * Blueprint limits and the first, iterative pass over untrusted input that enforces them before
 * anything recursive touches it. Pure.
 */

export interface BlueprintLimits {
  /** Steps in the whole blueprint, nested ones included. */
  readonly maxSteps: number;
  /** Nesting depth of the JSON document (objects and arrays). */
  readonly maxDepth: number;
  /** Size of the document serialized as JSON, in UTF-8 bytes. */
  readonly maxBytes: number;
  /** Items of any literal array in the document. */
  readonly maxArrayItems: number;
  /** Items a map step may fan out over; enforced at run time, not here. */
  readonly maxMapItems: number;
}

export const DEFAULT_BLUEPRINT_LIMITS: BlueprintLimits = {
  maxSteps: 1_000,
  maxDepth: 32,
  maxBytes: 1_000_000,
  maxArrayItems: 10_000,
  maxMapItems: 100_000,
};

/**
 * The first, iterative pass over untrusted input: nesting depth, serialized size, literal array
 * sizes, and JSON-ness. Stops at the first depth/size/non-JSON problem. Returns whether the
 * document may go on to decoding (false after any diagnostic, `array_too_large` included).
 */
export const preflight = (input: unknown, limits: BlueprintLimits, out: Diagnostics): boolean => {
  interface Frame {
    readonly value: unknown;
    readonly depth: number;
    readonly parent: Frame | undefined;
    readonly key: Segment | undefined;
  }
  const pathOf = (frame: Frame): string => {
    const segments: Segment[] = [];
    for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) segments.push(f.key);
    return pathText(segments.reverse());
  };
  let bytes = 0;
  const stack: Frame[] = [{ value: input, depth: 0, parent: undefined, key: undefined }];
  const tooLarge = (frame: Frame): boolean => {
    out.add(
      pathOf(frame),
      'too_large',
      `the blueprint is larger than ${limits.maxBytes} bytes of JSON`,
      'Keep large data out of blueprints: pass it as run input or let an activity fetch it.',
    );
    return false;
  };
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    const { value } = frame;
    if (value === null || typeof value === 'boolean') {
      bytes += value === false ? 5 : 4;
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) {
        out.add(pathOf(frame), 'schema', `${value} is not a JSON number`);
        return false;
      }
      bytes += String(value).length;
    } else if (typeof value === 'string') {
      if (value.length > limits.maxBytes) return tooLarge(frame);
      bytes += utf8JsonLength(value);
    } else if (typeof value === 'object') {
      const depth = frame.depth + 1;
      if (depth > limits.maxDepth) {
        out.add(
          pathOf(frame),
          'too_deep',
          `the blueprint nests objects and arrays more than ${limits.maxDepth} levels deep`,
          'Flatten nested data, or pass it as run input instead of writing it into the blueprint.',
        );
        return false;
      }
      if (Array.isArray(value)) {
        if (value.length > limits.maxArrayItems) {
          out.add(
            pathOf(frame),
            'array_too_large',
            `this array has ${value.length} items; literal arrays in a blueprint may have at most ${limits.maxArrayItems}`,
            'Pass large data as run input, or produce it with an activity.',
          );
        }
        bytes += 1 + Math.max(1, value.length);
        if (bytes > limits.maxBytes) return tooLarge(frame);
        for (let i = value.length - 1; i >= 0; i--) {
          stack.push({ value: (value as unknown[])[i], depth, parent: frame, key: i });
        }
      } else {
        const prototype: unknown = Object.getPrototypeOf(value);
        if (prototype !== Object.prototype && prototype !== null) {
          out.add(pathOf(frame), 'schema', 'expected a plain JSON object');
          return false;
        }
        const keys = Object.keys(value);
        bytes += 1 + Math.max(1, keys.length);
        for (let i = keys.length - 1; i >= 0; i--) {
          const key = keys[i] as string;
          if (key.length > limits.maxBytes) return tooLarge(frame);
          bytes += utf8JsonLength(key) + 1;
          if (bytes > limits.maxBytes) return tooLarge(frame);
          stack.push({ value: (value as Raw)[key], depth, parent: frame, key });
        }
      }
    } else {
      out.add(pathOf(frame), 'schema', `${preview(value)} is not a JSON value`);
      return false;
    }
    if (bytes > limits.maxBytes) return tooLarge(frame);
  }
  return out.errors === 0;
};

/** UTF-8 length of a string serialized as JSON (quotes and escapes included). Pure. */
const utf8JsonLength = (s: string): number => {
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (
      c === 0x22 ||
      c === 0x5c ||
      c === 0x08 ||
      c === 0x0c ||
      c === 0x0a ||
      c === 0x0d ||
      c === 0x09
    )
      n += 2;
    else if (c < 0x20) n += 6;
    else if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        n += 4;
        i += 1;
      } else n += 6;
    } else if (c >= 0xdc00 && c <= 0xdfff) n += 6;
    else n += 3;
  }
  return n;
};
