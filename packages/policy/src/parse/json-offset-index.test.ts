import fc from 'fast-check';
import { findNodeAtLocation, parseTree } from 'jsonc-parser';
import { describe, expect, test } from 'vitest';
import { countParsedKeys, countWrittenKeys, JsonOffsetIndex } from './json-offset-index.js';

/** Every JSON pointer of a value, as decoded tokens. */
function pointers(value: unknown, prefix: string[] = []): string[][] {
  const out = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pointers(v, [...prefix, String(i)])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...pointers(v, [...prefix, k]));
  return out;
}

describe('JsonOffsetIndex', () => {
  test('finds the same key and value offsets as a full parse tree, for every node of random JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(0, 1, 2, '\t'), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        const tree = parseTree(text)!;
        const index = new JsonOffsetIndex(text);
        for (const tokens of pointers(JSON.parse(text))) {
          const path = tokens.map((t, i) => (Array.isArray(valueAt(JSON.parse(text), tokens.slice(0, i))) ? Number(t) : t));
          const node = findNodeAtLocation(tree, path)!;
          const found = index.locate(tokens)!;
          expect(found.valueOffset).toBe(node.offset);
          if (node.parent?.type === 'property') expect(found.keyOffset).toBe(node.parent.children![0]!.offset);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('strings with escaped quotes and backslashes do not end early', () => {
    const text = '{"a\\"b": {"c\\\\": ["x\\"]", {"d": 1}]}}';
    const index = new JsonOffsetIndex(text);
    expect(index.locate(['a"b', 'c\\', '1', 'd'])?.valueOffset).toBe(text.lastIndexOf('1'));
    expect(index.locate(['missing'])).toBeUndefined();
    expect(index.locate(['a"b', 'c\\', '7'])).toBeUndefined();
  });

  test('written and parsed key counts agree exactly when no object repeats a key', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value, null, 1);
        expect(countWrittenKeys(text)).toBe(countParsedKeys(JSON.parse(text)));
      }),
      { numRuns: 500 },
    );
    const dup = '{"a": 1, "b": {"c": 2, "c": 3}}';
    expect(countWrittenKeys(dup)).toBe(4);
    expect(countParsedKeys(JSON.parse(dup))).toBe(3);
    expect(countWrittenKeys('{"k": "a:b", "s": "\\":"}')).toBe(2);
  });
});

function valueAt(root: unknown, tokens: readonly string[]): unknown {
  let v = root;
  for (const t of tokens) v = (v as Record<string, unknown>)[t];
  return v;
}
