import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { placeOf } from '../../ui/src/jsonPlace.ts';

/** The offset of a 1-based line and column in `text`. */
const offsetOf = (text: string, place: { line: number; column: number }): number =>
  text
    .split('\n')
    .slice(0, place.line - 1)
    .reduce((sum, line) => sum + line.length + 1, 0) +
  place.column -
  1;

/** The text from the place of `path` on. */
const at = (text: string, path: string): string | undefined => {
  const place = placeOf(text, path);
  return place === undefined ? undefined : text.slice(offsetOf(text, place));
};

const blueprint = JSON.stringify(
  {
    name: 'orders',
    steps: [
      { id: 'a', type: 'activity', activity: 'fetch' },
      { id: 'b', type: 'activity', activity: 'price', dependsOn: ['a'] },
      { id: 'c', type: 'wait', signal: 'ok', dependsOn: ['b', 'a'] },
    ],
    'odd key': { 'a"b': 1, 'x.y': [true, null] },
  },
  null,
  2,
);

describe('placeOf', () => {
  it('finds the root, a member (at its key) and an array element (at its value)', () => {
    expect(placeOf(blueprint, '$')).toEqual({ line: 1, column: 1, found: '$' });
    expect(placeOf(blueprint, '$.name')).toEqual({ line: 2, column: 3, found: '$.name' });
    expect(at(blueprint, '$.name')).toMatch(/^"name": "orders"/u);
    expect(at(blueprint, '$.steps[0]')).toMatch(/^\{\n {6}"id": "a"/u);
    expect(at(blueprint, '$.steps[2].dependsOn[1]')).toMatch(/^"a"\n/u);
    expect(placeOf(blueprint, '$.steps[2].dependsOn[0]')).toEqual({
      line: 22,
      column: 9,
      found: '$.steps[2].dependsOn[0]',
    });
  });

  it('reads quoted keys in the path and escaped keys in the text', () => {
    expect(at(blueprint, '$["odd key"]')).toMatch(/^"odd key": \{/u);
    expect(at(blueprint, '$["odd key"]["a\\"b"]')).toMatch(/^"a\\"b": 1/u);
    expect(at(blueprint, "$['odd key']['x.y'][1]")).toMatch(/^null/u);
    expect(at('{"\\u0041b": 7, "x": 1}', '$.Ab')).toBe('"\\u0041b": 7, "x": 1}');
    expect(placeOf('{"a.b": 1}', '$.a.b')).toEqual({ line: 1, column: 1, found: '$' });
  });

  it('falls back to the deepest prefix that exists', () => {
    expect(placeOf(blueprint, '$.steps[0].activity')?.found).toBe('$.steps[0].activity');
    expect(placeOf(blueprint, '$.steps[2].activity')).toEqual({
      ...placeOf(blueprint, '$.steps[2]'),
      found: '$.steps[2]',
    });
    expect(placeOf(blueprint, '$.steps[7].id')?.found).toBe('$.steps');
    expect(placeOf(blueprint, '$.name.first')?.found).toBe('$.name');
    expect(placeOf(blueprint, '$.steps.id')?.found).toBe('$.steps');
    expect(placeOf(blueprint, '$[0]')?.found).toBe('$');
    expect(placeOf(blueprint, '$.missing')).toEqual({ line: 1, column: 1, found: '$' });
  });

  it('stops at the first segment of the path it cannot read', () => {
    expect(placeOf(blueprint, '$.steps[x].id')?.found).toBe('$.steps');
    expect(placeOf(blueprint, '$.steps[1')?.found).toBe('$.steps');
    expect(placeOf(blueprint, '$["odd key"')?.found).toBe('$');
    expect(placeOf(blueprint, '.name')?.found).toBe('$.name');
    expect(placeOf(blueprint, '')?.found).toBe('$');
  });

  it('is undefined when the text holds no JSON value', () => {
    for (const text of ['', '   \n ', 'hello', '}', ': 1']) {
      expect(placeOf(text, '$.a')).toBeUndefined();
    }
    expect(placeOf('  42', '$')).toEqual({ line: 1, column: 3, found: '$' });
  });

  it('tolerates text being typed: trailing and doubled commas, unterminated values', () => {
    expect(at('{"a": 1,, "b": [1,,2,],}', '$.b[1]')).toMatch(/^2/u);
    expect(at('{"a" 1, "b": 2}', '$.b')).toMatch(/^"b": 2/u);
    expect(at('{"a": , "b": 2}', '$.b')).toMatch(/^"b": 2/u);
    expect(at('{"a": {"x": [1, 2', '$.a.x[1]')).toBe('2');
    expect(placeOf('{"a": "unterminated\n, "b": 1}', '$.b')?.found).toBe('$.b');
    expect(placeOf('{"a": [1, 2}, "b": 3}', '$.b')?.found).toBe('$.b');
  });

  it('counts lines at \\n (so CRLF text keeps its columns)', () => {
    const crlf = '{\r\n  "a": {\r\n    "b": 1\r\n  }\r\n}';
    expect(placeOf(crlf, '$.a.b')).toEqual({ line: 3, column: 5, found: '$.a.b' });
  });

  it('never throws, whatever the text and path', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'{}[]",:\\ \n1atru$.x'.split('')), maxLength: 60 }),
        fc.string({ unit: fc.constantFrom(...'$.[]"\'\\0123ax'.split('')), maxLength: 20 }),
        (text, path) => {
          const place = placeOf(text, path);
          if (place !== undefined) {
            expect(place.line).toBeGreaterThanOrEqual(1);
            expect(place.column).toBeGreaterThanOrEqual(1);
            expect(place.found.startsWith('$')).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('does not overflow the stack on deep nesting', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    expect(placeOf(deep, '$[0][0][0]')).toEqual({ line: 1, column: 4, found: '$[0][0][0]' });
    expect(placeOf(`[${deep}, 5]`, '$[1]')?.column).toBe(deep.length + 4);
  });

  it('finds the last place in a 200 KB text (its speed is measured by no test: it scans once)', () => {
    const big = JSON.stringify(
      {
        steps: Array.from({ length: 2000 }, (_, i) => ({
          id: `step_${i}`,
          type: 'activity',
          activity: 'work',
          input: { text: 'x\\"y'.repeat(5), n: i },
          dependsOn: [`step_${i - 1}`],
        })),
      },
      null,
      2,
    );
    expect(big.length).toBeGreaterThan(200_000);
    const place = placeOf(big, '$.steps[1999].dependsOn[0]');
    expect(place?.found).toBe('$.steps[1999].dependsOn[0]');
    expect(big.split('\n')[(place?.line ?? 0) - 1]?.slice((place?.column ?? 0) - 1)).toBe(
      '"step_1998"',
    );
    expect(placeOf(big, '$.steps[1999].missing')?.found).toBe('$.steps[1999]');
  });
});

type Step = string | number;

/** A path written the way diagnostics write it: `.ident` where it can, `["…"]` where it cannot. */
const pathOf = (steps: readonly Step[]): string =>
  '$' +
  steps
    .map((step) =>
      typeof step === 'number'
        ? `[${step}]`
        : /^[A-Za-z_$][\w$]*$/u.test(step)
          ? `.${step}`
          : `[${JSON.stringify(step)}]`,
    )
    .join('');

/** Every node of a JSON value, each with its path. */
const nodesOf = (value: unknown, steps: Step[] = []): { steps: Step[]; value: unknown }[] => {
  const here = { steps, value };
  if (Array.isArray(value)) {
    return [here, ...value.flatMap((v: unknown, i) => nodesOf(v, [...steps, i]))];
  }
  if (typeof value === 'object' && value !== null) {
    return [here, ...Object.entries(value).flatMap(([k, v]) => nodesOf(v, [...steps, k]))];
  }
  return [here];
};

const isLeaf = (value: unknown): boolean =>
  typeof value !== 'object' ||
  value === null ||
  (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0);

describe('placeOf on pretty-printed JSON', () => {
  it('finds every leaf: its text starts with the leaf\'s JSON (after `"key": ` for a member)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const text = JSON.stringify(value, null, 2);
        for (const node of nodesOf(value)) {
          const path = pathOf(node.steps);
          const place = placeOf(text, path);
          expect(place?.found).toBe(path);
          if (place === undefined || !isLeaf(node.value)) continue;
          const last = node.steps.at(-1);
          const member = typeof last === 'string' ? `${JSON.stringify(last)}: ` : '';
          const there = text.slice(offsetOf(text, place));
          expect(there.startsWith(member + JSON.stringify(node.value)), path).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('resolves a missing path to its deepest existing prefix', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 4 }),
        fc.nat(),
        fc.array(fc.oneof(fc.string(), fc.nat({ max: 5 })), { maxLength: 3 }),
        (value, pick, tail) => {
          const text = JSON.stringify(value, null, 2);
          const nodes = nodesOf(value);
          const node = nodes[pick % nodes.length];
          if (node === undefined) return;
          // A first step that is not there: a new key, an index past the end, or a key or index
          // on a value of the other kind.
          const v = node.value;
          const missing: Step = Array.isArray(v)
            ? v.length + (pick % 3)
            : typeof v === 'object' && v !== null
              ? `missing ${Object.keys(v).join('|')}`
              : pick % 2 === 0
                ? 0
                : 'key';
          const existing = pathOf(node.steps);
          const place = placeOf(text, pathOf([...node.steps, missing, ...tail]));
          expect(place).toEqual(placeOf(text, existing));
          expect(place?.found).toBe(existing);
        },
      ),
      { numRuns: 300 },
    );
  });
});
