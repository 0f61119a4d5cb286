import type { Json } from '../blueprints/json.ts';
import type { ExpressionError, ExpressionErrorCode, ExpressionResult } from './sandbox.ts';

/**
 * What an evaluation gives back, made plain JSON within the limits: a fresh copy with no
 * prototype tricks, JSONata's sequences as arrays, and a clear error for what is not JSON or too
 * large or deep. Pure.
 */

const isJsonataFunction = (value: object): boolean =>
  '_jsonata_lambda' in value || '_jsonata_function' in value;

/** Sets an own, enumerable key (never a setter such as `__proto__`'s). */
export const defineOwn = (target: Record<string, Json>, key: string, value: Json): void => {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
};

/** Serialized JSON length of a string, without building the serialization. */
const jsonStringLength = (s: string): number => {
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
    else n += 1;
  }
  return n;
};

type Fail = { readonly ok: false; readonly error: ExpressionError };
export const fail = (code: ExpressionErrorCode, message: string): Fail => ({
  ok: false,
  error: { code, message },
});

/**
 * A JSONata value → fresh plain JSON, iteratively. `undefined` becomes null (or drops an object
 * key), sequences become arrays; functions, non-finite numbers and other non-JSON values are an
 * `expression_result` error; more than `maxBytes` serialized or `maxDepth` nested is
 * `expression_limit`.
 */
export const toJson = (raw: unknown, maxBytes: number, maxDepth: number): ExpressionResult => {
  interface Task {
    readonly value: unknown;
    readonly depth: number;
    readonly put: (v: Json) => void;
  }
  let root: Json = null;
  let bytes = 0;
  const tasks: Task[] = [{ value: raw, depth: 0, put: (v) => (root = v) }];
  while (tasks.length > 0) {
    const { value, depth, put } = tasks.pop() as Task;
    if (value === undefined || value === null) {
      bytes += 4;
      put(null);
    } else if (typeof value === 'boolean') {
      bytes += value ? 4 : 5;
      put(value);
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value))
        return fail(
          'expression_result',
          `the expression produced ${value}, which is not a JSON number`,
        );
      bytes += String(value).length;
      put(value);
    } else if (typeof value === 'string') {
      bytes += jsonStringLength(value);
      put(value);
    } else if (
      typeof value === 'function' ||
      (typeof value === 'object' && isJsonataFunction(value))
    ) {
      return fail('expression_result', 'the expression produced a function, which is not JSON');
    } else if (typeof value !== 'object') {
      return fail(
        'expression_result',
        `the expression produced a ${typeof value}, which is not JSON`,
      );
    } else if (depth >= maxDepth) {
      return fail('expression_limit', `the result is nested deeper than ${maxDepth}`);
    } else if (Array.isArray(value)) {
      const out: Json[] = new Array<Json>(value.length).fill(null);
      bytes += 1 + Math.max(1, value.length);
      put(out);
      for (let i = value.length - 1; i >= 0; i--) {
        tasks.push({ value: (value as unknown[])[i], depth: depth + 1, put: (v) => (out[i] = v) });
      }
    } else if (
      value instanceof RegExp ||
      value instanceof Date ||
      value instanceof Map ||
      value instanceof Set
    ) {
      return fail('expression_result', 'the expression produced a value that is not JSON');
    } else {
      const out: Record<string, Json> = {};
      const keys = Object.keys(value).filter(
        (k) => (value as Record<string, unknown>)[k] !== undefined,
      );
      bytes += 1 + Math.max(1, keys.length);
      put(out);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        bytes += jsonStringLength(key) + 1;
        tasks.push({
          value: (value as Record<string, unknown>)[key],
          depth: depth + 1,
          put: (v) => defineOwn(out, key, v),
        });
      }
    }
    if (bytes > maxBytes)
      return fail('expression_limit', `the result is larger than ${maxBytes} bytes serialized`);
  }
  return { ok: true, value: root };
};
