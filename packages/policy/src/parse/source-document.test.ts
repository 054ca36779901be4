import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { validateDocument } from './schema-validator.js';
import { parseSourceDocument, pointerOf } from './source-document.js';

describe('parseSourceDocument', () => {
  const json = `{
  "version": "1",
  "tools": {
    "a/b": { "deny_if": [ { "conditions": [] } ] }
  }
}`;

  test('JSON: positions of keys and values by JSON pointer, with escaping', () => {
    const { document, diagnostics } = parseSourceDocument(json, 'p.json');
    expect(diagnostics).toEqual([]);
    expect(document!.positionOf('/version')).toEqual({ line: 2, column: 14 });
    expect(document!.positionOf('/version', 'key')).toEqual({ line: 2, column: 3 });
    expect(document!.positionOf(pointerOf('tools', 'a/b', 'deny_if', 0))).toEqual({ line: 4, column: 27 });
    // A pointer below a node that does not exist falls back to its nearest ancestor.
    expect(document!.positionOf('/tools/a~1b/missing/deeper')).toEqual({ line: 4, column: 12 });
  });

  test('YAML: the same positions model', () => {
    const yaml = 'version: "1"\ntools:\n  a/b:\n    deny_if:\n      - conditions: []\n';
    const { document, diagnostics } = parseSourceDocument(yaml, 'p.yaml');
    expect(diagnostics).toEqual([]);
    expect(document!.format).toBe('yaml');
    expect(document!.value).toEqual({ version: '1', tools: { 'a/b': { deny_if: [{ conditions: [] }] } } });
    expect(document!.positionOf('/version')).toEqual({ line: 1, column: 10 });
    expect(document!.positionOf('/tools/a~1b', 'key')).toEqual({ line: 3, column: 3 });
    expect(document!.positionOf('/tools/a~1b/deny_if/0')).toEqual({ line: 5, column: 9 });
  });

  test('JSON syntax errors carry line and column', () => {
    const { document, diagnostics } = parseSourceDocument('{\n  "a": 1,\n  "b": [1 2]\n}', 'bad.json');
    expect(document).toBeUndefined();
    expect(diagnostics[0]).toMatchObject({ code: 'TG001', severity: 'error', file: 'bad.json', line: 3, column: 11 });
    expect(diagnostics[0]!.message).toContain('expected ","');
  });

  test('comments, trailing commas and empty files are not JSON', () => {
    expect(parseSourceDocument('{"a": 1, // x\n}', 'c.json').diagnostics[0]?.message).toContain('comments are not allowed');
    expect(parseSourceDocument('{"a": 1,}', 't.json').diagnostics[0]?.code).toBe('TG001');
    expect(parseSourceDocument('', 'e.json').diagnostics[0]?.code).toBe('TG001');
  });

  test('duplicate keys are errors in both formats', () => {
    const j = parseSourceDocument('{"a": 1,\n "a": 2}', 'd.json');
    expect(j.diagnostics).toMatchObject([{ code: 'TG002', line: 2, column: 2 }]);
    const y = parseSourceDocument('a: 1\na: 2\n', 'd.yaml');
    expect(y.diagnostics[0]).toMatchObject({ code: 'TG002', line: 2, column: 1 });
  });

  test('YAML syntax errors and alias bombs are diagnostics, not crashes', () => {
    expect(parseSourceDocument('a: [1, 2\n', 'b.yaml').diagnostics[0]?.code).toBe('TG001');
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]'].join('\n');
    const r = parseSourceDocument(bomb, 'bomb.yaml');
    expect(r.document).toBeUndefined();
    expect(r.diagnostics[0]?.code).toBe('TG001');
  });

  test('a __proto__ key stays an own property in both formats', () => {
    for (const [text, file] of [['{"__proto__": {"polluted": true}}', 'p.json'], ['__proto__:\n  polluted: true\n', 'p.yaml']] as const) {
      const value = parseSourceDocument(text, file).document!.value as Record<string, unknown>;
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(Object.hasOwn(value, '__proto__')).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
  });

  test('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), fc.constantFrom('x.json', 'x.yaml'), (text, file) => {
        const r = parseSourceDocument(text, file);
        expect(r.document !== undefined || r.diagnostics.length > 0).toBe(true);
        if (r.document) validateDocument(r.document, 'policy');
      }),
      { numRuns: 500 },
    );
  });
});

describe('validateDocument', () => {
  test('reports every schema error at its node, unknown keys at the key', () => {
    const text = `{
  "version": "2",
  "default": "deny",
  "colour": "red",
  "tools": {
    "t": {
      "action": "maybe",
      "limits": [ { "counter": "c", "max": "ten", "window": "fortnight" } ],
      "require": [ { "path": "args", "op": "gt", "value": [1] } ]
    }
  }
}`;
    const { document } = parseSourceDocument(text, 'p.json');
    const d = validateDocument(document!, 'policy');
    const at = (pointer: string) => d.find((x) => x.pointer === pointer);
    expect(at('/version')).toMatchObject({ line: 2, column: 14, message: '/version must be "1" (got "2")' });
    expect(at('/colour')).toMatchObject({ line: 4, column: 3, message: 'unknown key "colour" in the document' });
    expect(at('/tools/t/action')?.message).toContain('must be one of "allow", "deny", "hide", "approve"');
    expect(at('/tools/t/limits/0/max')?.message).toContain('must be of type number');
    expect(at('/tools/t/limits/0/window')?.message).toContain('"second", "minute", "hour", "day" or a number of seconds');
    expect(at('/tools/t/require/0/path')?.message).toContain('is not a valid path');
    expect(at('/tools/t/require/0/value')?.message).toContain('must be of type number or string');
    expect(d.every((x) => x.code === 'TG010' && x.severity === 'error' && x.file === 'p.json')).toBe(true);
  });

  test('flags only with regex; required keys named', () => {
    const { document } = parseSourceDocument('{"version":"1","tools":{"t":{"require":[{"path":"args.x","op":"eq","value":1,"flags":"i"}],"deny_if":[{}]}}}', 'p.json');
    const messages = validateDocument(document!, 'policy').map((x) => x.message);
    expect(messages).toContain('the document is missing the required key "default"');
    expect(messages).toContain('/tools/t/require/0: "flags" is only allowed with op "regex"');
    expect(messages).toContain('/tools/t/deny_if/0 is missing the required key "conditions"');
  });

  test('test files: a case has call and expect, or a sequence', () => {
    const { document } = parseSourceDocument('{"cases":[{"name":"x","call":{"tool":"t"}},{"name":"y","sequence":[{"call":{"tool":"t"},"expect":"allow"}],"expect":"deny"}]}', 't.test.json');
    const d = validateDocument(document!, 'test-file');
    expect(d.map((x) => x.pointer)).toEqual(['/cases/0', '/cases/1']);
    expect(d[0]!.message).toContain('either "call" and "expect", or "sequence"');
  });
});
