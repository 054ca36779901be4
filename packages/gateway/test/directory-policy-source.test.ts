import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLimitStore } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../src/gateway-error.js';
import { DirectoryPolicySource } from '../src/policy/directory-policy-source.js';

const CATALOG = {
  server: 'shop',
  tools: [
    { name: 'read_order', inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } },
    { name: 'refund', inputSchema: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] } },
  ],
};
const CLEAN = { version: '1', default: 'deny', tools: { read_order: { require: [{ path: 'args.id', op: 'regex', value: '^[0-9]{1,12}$' }] }, refund: { deny_if: [{ conditions: [{ path: 'args.amount', op: 'gt', value: 100 }] }] } } };
const REDOS = { ...CLEAN, tools: { ...CLEAN.tools, read_order: { require: [{ path: 'args.id', op: 'regex', value: '^(a+)+$' }] } } };
const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

describe('the directory policy source admits what lint admits', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tollgate-directory-source-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A policy repository with one server directory holding `files`; resolves with its policies/ directory. */
  async function repository(name: string, files: Record<string, string>): Promise<string> {
    const dir = join(root, name, 'policies');
    await mkdir(join(dir, 'shop'), { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(join(dir, 'shop', file), text);
    return dir;
  }

  async function loadError(dir: string): Promise<GatewayError> {
    try {
      await DirectoryPolicySource.load({ dir, servers: ['shop'], limits: new MemoryLimitStore() });
    } catch (error) {
      if (error instanceof GatewayError) return error;
      throw error;
    }
    throw new Error('the policies were loaded');
  }

  it('enforces a lint-clean policy, checked against the catalog beside it', async () => {
    const dir = await repository('clean', { 'policy.json': json(CLEAN), 'catalog.json': json(CATALOG) });
    const source = await DirectoryPolicySource.load({ dir, servers: ['shop'], limits: new MemoryLimitStore() });
    const policy = source.policyFor('shop')!;
    expect(policy.decide({ tool: 'read_order', args: { id: '42' } }).effect).toBe('allow');
    expect(policy.decide({ tool: 'refund', args: { amount: 500 } }).effect).toBe('deny');
  });

  it('refuses a ReDoS-prone regex with TG101 at its file:line:col', async () => {
    const text = json(REDOS);
    const dir = await repository('redos', { 'policy.json': text, 'catalog.json': json(CATALOG) });
    const error = await loadError(dir);
    expect(error.code).toBe('policy.invalid');
    const line = text.split('\n').findIndex((l) => l.includes('^(a+)+$')) + 1;
    const column = text.split('\n')[line - 1]!.indexOf('"^(a+)+$"') + 1;
    expect(error.message).toContain(`${join(dir, 'shop', 'policy.json')}:${line}:${column}: error TG101 regex "^(a+)+$" is open to catastrophic backtracking`);
  });

  it('refuses a directory with policy.json and policy.yaml (TG004) instead of picking one', async () => {
    const dir = await repository('two', { 'policy.json': json(CLEAN), 'policy.yaml': 'version: "1"\ndefault: allow\n' });
    const error = await loadError(dir);
    expect(error.code).toBe('policy.invalid');
    expect(error.message).toContain(`${join(dir, 'shop', 'policy.json')}:1:1: error TG004 the server directory has 2 policy files (policy.json, policy.yaml)`);
  });

  it('refuses a tool the catalog beside the policy does not have (TG200), and an invalid catalog (TG206)', async () => {
    const unknown = await repository('unknown-tool', { 'policy.json': json({ ...CLEAN, tools: { ...CLEAN.tools, refnud: {} } }), 'catalog.json': json(CATALOG) });
    expect((await loadError(unknown)).message).toMatch(/error TG200 tool "refnud" in tools is not in .*catalog\.json/);
    const broken = await repository('broken-catalog', { 'policy.json': json(CLEAN), 'catalog.json': '{ "tools": 7 }\n' });
    expect((await loadError(broken)).message).toContain('error TG206');
  });
});
