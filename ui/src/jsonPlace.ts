/**
 * Where a diagnostic's JSON path (`$`, `$.name`, `$.steps[2].dependsOn[0]`, `$["odd key"]`) is in
 * the JSON text it was found in, so the editor can show it at its line.
 *
 * A small tolerant scanner over the text, not JSON.parse: it needs offsets, and it should still
 * find what it can in text that is being typed (trailing or doubled commas, a missing colon, an
 * unterminated string or container). It walks down the path skipping every value off the path,
 * without recursion, so it is linear in the text and deep nesting cannot overflow the stack.
 */

/** A place in the text: 1-based line and column (UTF-16 code units), and the path found there. */
export interface JsonPlace {
  readonly line: number;
  readonly column: number;
  /** The deepest prefix of the asked path that exists in the text (the whole path when it does). */
  readonly found: string;
}

type Segment =
  | { readonly kind: 'key'; readonly key: string; readonly end: number }
  | { readonly kind: 'index'; readonly index: number; readonly end: number };

const isWhitespace = (c: string | undefined): boolean =>
  c === ' ' || c === '\n' || c === '\r' || c === '\t' || c === '\uFEFF';

/** Where a bare token (number, literal, garbage) stops. */
const endsToken = (c: string | undefined): boolean =>
  c === undefined ||
  isWhitespace(c) ||
  c === ',' ||
  c === ':' ||
  c === '{' ||
  c === '}' ||
  c === '[' ||
  c === ']' ||
  c === '"';

const startsValue = (c: string | undefined): boolean =>
  c !== undefined && (c === '{' || c === '[' || c === '"' || c === '-' || /[0-9tfn]/u.test(c));

const ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  "'": "'",
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/**
 * Reads the string whose opening quote is at `start` (`quote` is `"`, or `'` in a path), decoding
 * JSON escapes; an unknown escape stands for the character after the backslash. Unterminated, it
 * runs to the end (or, in text, to the end of the line). Returns the value and the offset after
 * the closing quote.
 */
const readString = (
  s: string,
  start: number,
  quote: string,
): { readonly value: string; readonly end: number; readonly closed: boolean } => {
  let value = '';
  let i = start + 1;
  let from = i;
  while (i < s.length) {
    const c = s[i];
    if (c === quote) return { value: value + s.slice(from, i), end: i + 1, closed: true };
    if (c === '\n') break;
    if (c === '\\') {
      value += s.slice(from, i);
      const e = s[i + 1];
      if (e === undefined) {
        i += 1;
        from = i;
        break;
      }
      const hex = s.slice(i + 2, i + 6);
      if (e === 'u' && /^[0-9a-fA-F]{4}$/u.test(hex)) {
        value += String.fromCharCode(Number.parseInt(hex, 16));
        i += 6;
      } else {
        value += ESCAPES[e] ?? e;
        i += 2;
      }
      from = i;
      continue;
    }
    i += 1;
  }
  return { value: value + s.slice(from, i), end: i, closed: false };
};

/** Skips a string in the text: the offset after its closing quote (or where it gives up). */
const skipString = (s: string, start: number): number => {
  let i = start + 1;
  while (i < s.length) {
    const c = s[i];
    if (c === '"') return i + 1;
    if (c === '\n') return i;
    i += c === '\\' ? 2 : 1;
  }
  return s.length;
};

const skipWhitespace = (s: string, start: number): number => {
  let i = start;
  while (i < s.length && isWhitespace(s[i])) i += 1;
  return i;
};

/**
 * The offset after the value starting at `start`. A container is skipped by counting brackets
 * (either kind closes either kind); a bare token stops at whitespace or punctuation, so a missing
 * value (`"a": ,`) is skipped as empty.
 */
const skipValue = (s: string, start: number): number => {
  const c = s[start];
  if (c === '"') return skipString(s, start);
  if (c === '{' || c === '[') {
    let depth = 0;
    let i = start;
    while (i < s.length) {
      const d = s[i];
      if (d === '"') {
        i = skipString(s, i);
        continue;
      }
      if (d === '{' || d === '[') depth += 1;
      else if (d === '}' || d === ']') {
        depth -= 1;
        if (depth === 0) return i + 1;
      }
      i += 1;
    }
    return s.length;
  }
  let i = start;
  while (!endsToken(s[i])) i += 1;
  return i;
};

/**
 * The path's segments after `$` (which may be left out), up to the first one that does not
 * parse; `end` is each segment's end in the path.
 */
const parsePath = (path: string): { readonly root: number; readonly segments: Segment[] } => {
  const segments: Segment[] = [];
  const root = path.startsWith('$') ? 1 : 0;
  let i = root;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      let j = i + 1;
      while (j < path.length && path[j] !== '.' && path[j] !== '[') j += 1;
      if (j === i + 1) break;
      segments.push({ kind: 'key', key: path.slice(i + 1, j), end: j });
      i = j;
    } else if (c === '[') {
      const q = path[i + 1];
      if (q === '"' || q === "'") {
        const read = readString(path, i + 1, q);
        if (!read.closed || path[read.end] !== ']') break;
        segments.push({ kind: 'key', key: read.value, end: read.end + 1 });
        i = read.end + 1;
      } else {
        const close = path.indexOf(']', i);
        const digits = close === -1 ? '' : path.slice(i + 1, close);
        if (!/^[0-9]+$/u.test(digits)) break;
        segments.push({ kind: 'index', index: Number(digits), end: close + 1 });
        i = close + 1;
      }
    } else {
      break;
    }
  }
  return { root, segments };
};

/**
 * The member `key` of the object whose `{` is at `start`: the offsets of its key's opening quote
 * and of its value, or undefined. The first member of that name wins.
 */
const findMember = (
  s: string,
  start: number,
  key: string,
): { readonly keyAt: number; readonly valueAt: number } | undefined => {
  let i = start + 1;
  while (true) {
    i = skipWhitespace(s, i);
    const c = s[i];
    if (c === undefined || c === '}' || c === ']') return undefined;
    if (c === ',') {
      i += 1;
      continue;
    }
    if (c === '"') {
      const keyAt = i;
      const read = readString(s, i, '"');
      i = skipWhitespace(s, read.end);
      if (s[i] === ':') i = skipWhitespace(s, i + 1);
      if (read.value === key) return { keyAt, valueAt: i };
      i = skipValue(s, i);
      continue;
    }
    // Not a member (an unquoted key, a stray colon or value): step over it.
    const next = skipValue(s, i);
    i = next === i ? i + 1 : next;
  }
};

/** The offset of element `index` of the array whose `[` is at `start`, or undefined. */
const findElement = (s: string, start: number, index: number): number | undefined => {
  let i = start + 1;
  let seen = 0;
  while (true) {
    i = skipWhitespace(s, i);
    const c = s[i];
    if (c === undefined || c === ']' || c === '}') return undefined;
    if (c === ',' || c === ':') {
      i += 1;
      continue;
    }
    if (seen === index) return i;
    seen += 1;
    const next = skipValue(s, i);
    i = next === i ? i + 1 : next;
  }
};

/** 1-based line and column of `offset`; lines end at `\n`. */
const lineColumn = (s: string, offset: number): { line: number; column: number } => {
  let line = 1;
  let lineStart = 0;
  let nl = s.indexOf('\n');
  while (nl !== -1 && nl < offset) {
    line += 1;
    lineStart = nl + 1;
    nl = s.indexOf('\n', lineStart);
  }
  return { line, column: offset - lineStart + 1 };
};

/**
 * Where the value at `path` is in the JSON `text`: for a member, its key's opening quote; for an
 * array element or `$`, the value's first character. When the path's last segments are not in
 * the text (a missing required field, an index past the end), the place of the deepest prefix
 * that is, with `found` naming that prefix. Undefined when the text holds no JSON value at all.
 * Never throws.
 */
export const placeOf = (text: string, path: string): JsonPlace | undefined => {
  try {
    const rootAt = skipWhitespace(text, 0);
    if (!startsValue(text[rootAt])) return undefined;
    const { root, segments } = parsePath(path);
    let placeAt = rootAt;
    let valueAt = rootAt;
    let foundEnd = root;
    for (const segment of segments) {
      const c = text[valueAt];
      if (segment.kind === 'key') {
        if (c !== '{') break;
        const member = findMember(text, valueAt, segment.key);
        if (member === undefined) break;
        placeAt = member.keyAt;
        valueAt = member.valueAt;
      } else {
        if (c !== '[') break;
        const element = findElement(text, valueAt, segment.index);
        if (element === undefined) break;
        placeAt = element;
        valueAt = element;
      }
      foundEnd = segment.end;
    }
    const found = root === 1 ? path.slice(0, foundEnd) : `$${path.slice(0, foundEnd)}`;
    return { ...lineColumn(text, placeAt), found };
  } catch {
    return undefined;
  }
};
