/**
 * Checks a request's bytes before anything parses them deeply or stores them (README "NATS API"):
 * strict UTF-8 (no byte is ever replaced by U+FFFD), no `\uXXXX` escape of an unpaired surrogate
 * (it has no UTF-8 form either), and arrays/objects nested at most `maxDepth` deep (deeper values
 * overflow the stack of recursive walks such as hashing and schema decoding). Pure, one linear
 * pass, no recursion.
 */

import { DEFAULT_EXPRESSION_LIMITS } from '../expressions/sandbox.ts';

export type TextProblem =
  /** `offset`: the byte where the first invalid UTF-8 sequence starts. */
  | { readonly kind: 'utf8'; readonly offset: number }
  /** `offset`: the character (of the decoded text) where nesting passes `maxDepth`. */
  | { readonly kind: 'depth'; readonly offset: number; readonly maxDepth: number }
  /** `offset`: the character where the `\u` escape of an unpaired surrogate starts. */
  | { readonly kind: 'surrogate'; readonly offset: number };

export type CheckedText =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly problem: TextProblem };

const strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Deepest nesting of arrays and objects a request or a worker's result may hold: as deep as an
 * expression's result may be. Checked on the text, before `JSON.parse` and every recursive walk
 * (decoding, hashing).
 */
export const MAX_JSON_DEPTH = DEFAULT_EXPRESSION_LIMITS.maxDepth;

/** What is wrong with `what` (e.g. "the request"), in one sentence. */
export const describeTextProblem = (what: string, problem: TextProblem): string => {
  switch (problem.kind) {
    case 'utf8':
      return `${what} is not valid UTF-8: invalid byte sequence at byte ${problem.offset}`;
    case 'surrogate':
      return `${what} escapes an unpaired UTF-16 surrogate at character ${problem.offset} (not a Unicode character)`;
    case 'depth':
      return `${what} nests arrays and objects more than ${problem.maxDepth} levels deep (at character ${problem.offset})`;
  }
};

/** The offset of the first byte that does not start a valid UTF-8 sequence, or -1 (RFC 3629). */
export const invalidUtf8Offset = (bytes: Uint8Array): number => {
  const cont = (i: number, lo = 0x80, hi = 0xbf) => {
    const b = bytes[i];
    return b !== undefined && b >= lo && b <= hi;
  };
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    let n: number;
    if (b < 0x80) n = 1;
    else if (b >= 0xc2 && b <= 0xdf) n = cont(i + 1) ? 2 : 0;
    else if (b === 0xe0) n = cont(i + 1, 0xa0) && cont(i + 2) ? 3 : 0;
    else if (b === 0xed) n = cont(i + 1, 0x80, 0x9f) && cont(i + 2) ? 3 : 0;
    else if (b >= 0xe1 && b <= 0xef) n = cont(i + 1) && cont(i + 2) ? 3 : 0;
    else if (b === 0xf0) n = cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    else if (b >= 0xf1 && b <= 0xf3) n = cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    else if (b === 0xf4) n = cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    else n = 0;
    if (n === 0) return i;
    i += n;
  }
  return -1;
};

const hex4 = (text: string, at: number): number => {
  const digits = text.slice(at, at + 4);
  return /^[0-9a-fA-F]{4}$/.test(digits) ? parseInt(digits, 16) : -1;
};

/** The first nesting or surrogate problem of JSON text, scanning strings as JSON does. */
export const scanJsonText = (text: string, maxDepth: number): TextProblem | undefined => {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x22) inString = false;
      else if (c === 0x5c) {
        if (text.charCodeAt(i + 1) === 0x75) {
          const unit = hex4(text, i + 2);
          if (unit >= 0xdc00 && unit <= 0xdfff) return { kind: 'surrogate', offset: i };
          if (unit >= 0xd800 && unit <= 0xdbff) {
            const next = text.startsWith('\\u', i + 6) ? hex4(text, i + 8) : -1;
            if (next < 0xdc00 || next > 0xdfff) return { kind: 'surrogate', offset: i };
            i += 11;
            continue;
          }
          i += 5;
        } else i++;
      }
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return { kind: 'depth', offset: i, maxDepth };
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
};

/** The request's text, or the first problem that keeps it from being parsed and stored. */
export const checkJsonText = (bytes: Uint8Array, maxDepth: number): CheckedText => {
  let text: string;
  try {
    text = strict.decode(bytes);
  } catch {
    return { ok: false, problem: { kind: 'utf8', offset: Math.max(0, invalidUtf8Offset(bytes)) } };
  }
  const problem = scanJsonText(text, maxDepth);
  return problem === undefined ? { ok: true, text } : { ok: false, problem };
};
