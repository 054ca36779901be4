import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSourceDocument } from '@tollgate/policy';
import { runCli, tempTree, type TempTree } from './cli-process.js';

const POLICY = '{"tools":{"orders":{"limits":[{"window":"minute","max":10,"counter":"orders"}],"require":[{"value":["a","b"],"op":"in","path":"args.venue"}]}},"default":"deny","version":"1"}';
const FORMATTED = `{
  "version": "1",
  "default": "deny",
  "tools": {
    "orders": {
      "require": [
        { "path": "args.venue", "op": "in", "value": ["a", "b"] }
      ],
      "limits": [
        { "counter": "orders", "max": 10, "window": "minute" }
      ]
    }
  }
}
`;
const TESTS = '{"cases":[{"expect":"allow","call":{"tool":"orders","args":{"venue":"a"}},"name":"venue a"}]}';

describe('tollgate fmt', () => {
  let repo: TempTree;
  afterEach(() => repo.remove());

  it('rewrites policies and tests in the canonical layout, keeps file modes, and then --check passes', async () => {
    repo = await tempTree({ 'policies/shop/policy.json': POLICY, 'policies/shop/orders.test.json': TESTS });
    await chmod(join(repo.root, 'policies/shop/policy.json'), 0o600);
    const out = await runCli(['fmt'], repo.root);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('formatted policies/shop/orders.test.json\nformatted policies/shop/policy.json\n2 of 2 files reformatted\n');
    expect(await readFile(join(repo.root, 'policies/shop/policy.json'), 'utf8')).toBe(FORMATTED);
    expect((await stat(join(repo.root, 'policies/shop/policy.json'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(repo.root, 'policies/shop/orders.test.json'), 'utf8')).toContain('      "name": "venue a",\n      "call": { "tool": "orders", "args": { "venue": "a" } },\n');
    // The tests still pass against the reformatted policy.
    expect((await runCli(['test'], repo.root)).code).toBe(0);
    const check = await runCli(['fmt', '--check'], repo.root);
    expect(check).toMatchObject({ code: 0, stdout: '0 of 2 files would be reformatted\n' });
  });

  it('--check lists the files that would change, exits 1 and writes nothing', async () => {
    repo = await tempTree({ 'policies/shop/policy.json': POLICY, 'policies/shop/orders.test.json': TESTS });
    const out = await runCli(['fmt', '--check', 'policies/shop'], repo.root);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('would reformat policies/shop/policy.json\n');
    expect(out.stdout.trim().split('\n').at(-1)).toBe('2 of 2 files would be reformatted');
    expect(await readFile(join(repo.root, 'policies/shop/policy.json'), 'utf8')).toBe(POLICY);
    const json = await runCli(['fmt', '--check', '--json'], repo.root);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      check: true,
      files: [
        { path: 'policies/shop/orders.test.json', kind: 'test-file', status: 'would-change' },
        { path: 'policies/shop/policy.json', kind: 'policy', status: 'would-change' },
      ],
      changed: 2,
      malformed: 0,
      diagnostics: [],
    });
  });

  it('exits 2 with file:line:col for a file that does not parse, and writes no file at all', async () => {
    repo = await tempTree({
      'policies/shop/policy.json': POLICY,
      'policies/broken/policy.json': '{\n  "version": "1",\n  "default": "deny",\n  "tools": { "a": {} \n}\n',
    });
    const out = await runCli(['fmt'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stdout).toMatch(/^policies\/broken\/policy\.json:6:1: error TG001 invalid JSON: expected "}"/m);
    expect(out.stdout.trim().split('\n').at(-1)).toBe('1 of 2 files could not be parsed; nothing was written');
    expect(await readFile(join(repo.root, 'policies/shop/policy.json'), 'utf8')).toBe(POLICY);
    const json = JSON.parse((await runCli(['fmt', '--json'], repo.root)).stdout) as { files: unknown[]; diagnostics: Array<{ file: string; line: number; column: number; code: string }> };
    expect(json.files).toContainEqual({ path: 'policies/broken/policy.json', kind: 'policy', status: 'malformed' });
    expect(json.diagnostics[0]).toMatchObject({ file: 'policies/broken/policy.json', line: 6, column: 1, code: 'TG001' });
  });

  it('keeps a YAML policy as YAML, with its comments, meaning the same', async () => {
    const yaml = '# shop policy\ntools:\n  orders:\n    rate_limit: {window: minute, max: 5}   # per agent\ndefault: deny\nversion: "1"\n';
    repo = await tempTree({ 'policies/shop/policy.yaml': yaml });
    const out = await runCli(['fmt', 'policies/shop/policy.yaml'], repo.root);
    expect(out.code).toBe(0);
    const text = await readFile(join(repo.root, 'policies/shop/policy.yaml'), 'utf8');
    expect(text).toBe('# shop policy\n\nversion: "1"\ndefault: deny\ntools:\n  orders:\n    rate_limit: {max: 5, window: minute} # per agent\n');
    expect(parseSourceDocument(text, 'p.yaml').document!.value).toEqual(parseSourceDocument(yaml, 'p.yaml').document!.value);
  });

  it('exits 2 for a path that does not exist', async () => {
    repo = await tempTree({});
    const out = await runCli(['fmt', 'nowhere'], repo.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('nowhere: no such file or directory');
  });
});
