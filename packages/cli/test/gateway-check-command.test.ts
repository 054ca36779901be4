import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectLedger } from '@tollgate/ledger';
import { simpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { DEMO_EXCHANGE, closedPortUrl } from './mcp-servers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const ADMIN_URL = process.env['TOLLGATE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Report {
  ok: boolean;
  summary: string;
  checks: Array<{ what: string; name: string; status: string; detail: string }>;
}

describe('tollgate gateway --check', () => {
  let tree: TempTree;
  let database: string;
  let databaseUrl: string;
  const base = () => ({
    listen: { http: { host: '127.0.0.1', port: 18_931 } },
    agents: [{ id: 'desk-bot', token_sha256: 'a'.repeat(64) }],
    upstreams: { ccxt: { command: process.execPath, args: [DEMO_EXCHANGE] } },
    policy: { dir: join(ROOT, 'policies') },
    ledger: { data_dir: join(tree.root, 'never-created') },
    admin: { host: '127.0.0.1', port: 18_932, token_sha256: 'b'.repeat(64) },
  });
  const check = async (config: object, extra: string[] = [], env: NodeJS.ProcessEnv = {}) => {
    const file = await tree.write(`config-${randomBytes(4).toString('hex')}.json`, config);
    const out = await runCli(['gateway', '--config', file, '--check', '--json', ...extra], tree.root, env);
    return { ...out, report: out.stdout ? (JSON.parse(out.stdout) as Report) : undefined, file };
  };

  beforeAll(async () => {
    tree = await tempTree();
    database = `tollgate_test_${randomBytes(6).toString('hex')}`;
    const admin = await connectLedger({ databaseUrl: ADMIN_URL });
    try {
      await admin.execute(`CREATE DATABASE ${database}`);
    } finally {
      await admin.close();
    }
    const url = new URL(ADMIN_URL);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
  });
  afterAll(async () => {
    const admin = await connectLedger({ databaseUrl: ADMIN_URL });
    try {
      await admin.execute(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    } finally {
      await admin.close();
    }
    await tree?.remove();
  });

  it('a good configuration: config, policy, upstream, ledger and listeners ok, exit 0, nothing created or bound', async () => {
    const { code, report, stderr } = await check(base());
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(report!.ok).toBe(true);
    const by = (what: string) => report!.checks.filter((c) => c.what === what);
    expect(by('policy')).toEqual([expect.objectContaining({ name: 'ccxt', status: 'ok' })]);
    expect(by('upstream')).toEqual([expect.objectContaining({ name: 'ccxt', status: 'ok', detail: expect.stringMatching(/answers, 19 tools$/) })]);
    expect(by('ledger')[0]).toMatchObject({ status: 'ok', detail: expect.stringContaining('created and migrated on first start') });
    expect(by('listen').map((c) => c.name)).toEqual(['http://127.0.0.1:18931/mcp', 'http://127.0.0.1:18932']);
    expect(existsSync(join(tree.root, 'never-created'))).toBe(false);
    expect(report!.summary).toMatch(/^\d+ ok, 0 warnings, 0 errors$/);
  });

  it('telemetry: each OTLP endpoint is sent an empty export; a collector that refuses or is gone is a warning, not an error', async () => {
    // A collector's OTLP/HTTP endpoint: it takes what is posted and keeps the bodies.
    const posted: Array<{ path: string; body: string; authorization: string | undefined }> = [];
    const collector = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        posted.push({ path: req.url ?? '', body, authorization: req.headers.authorization });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((done) => collector.listen(0, '127.0.0.1', done));
    const receiver = { url: `http://127.0.0.1:${(collector.address() as AddressInfo).port}` };
    try {
      const taken = await check({ ...base(), telemetry: { otlp: { endpoint: receiver.url, headers: { authorization: 'Bearer t' } } } });
      expect(taken.code).toBe(0);
      expect(taken.report!.checks.filter((c) => c.what === 'telemetry')).toEqual([
        expect.objectContaining({ name: `${receiver.url}/v1/traces`, status: 'ok' }),
        expect.objectContaining({ name: `${receiver.url}/v1/metrics`, status: 'ok' }),
      ]);
      expect(posted.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
        { path: '/v1/metrics', body: '{"resourceMetrics":[]}', authorization: 'Bearer t' },
        { path: '/v1/traces', body: '{"resourceSpans":[]}', authorization: 'Bearer t' },
      ]);
    } finally {
      await new Promise<void>((done) => collector.close(() => done()));
    }
    const gone = await check({ ...base(), telemetry: { otlp: { endpoint: (await closedPortUrl()).replace(/\/mcp$/, ''), timeout: '2s' }, metrics: { enabled: false } } });
    expect(gone.code).toBe(0);
    expect(gone.report!.checks.filter((c) => c.what === 'telemetry')).toEqual([expect.objectContaining({ status: 'warning', detail: expect.stringContaining('cannot export traces') })]);
    expect(gone.report!.summary).toMatch(/, 1 warning, 0 errors$/);
  });

  it('pretty output: one line per check, the verdict, the summary last', async () => {
    const file = await tree.write('pretty.json', base());
    const out = await runCli(['gateway', '--config', file, '--check'], tree.root);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^ok {7}upstream {2}ccxt +demo-exchange \S+ answers, 19 tools$/m);
    expect(out.stdout).toContain(`The gateway of ${file} can start`);
    expect(out.stdout.trimEnd().split('\n').at(-1)).toMatch(/^\d+ ok, 0 warnings, 0 errors$/);
  });

  it('an unreachable upstream, a missing policy and a policy naming tools the server lacks: exit 1, each named', async () => {
    const url = await closedPortUrl();
    const policies = join(tree.root, 'policies');
    await tree.write('policies/ccxt/policy.json', { version: '1', default: 'deny', tools: { fetch_ohlcv: {}, teleport: {} } });
    await tree.write('policies/remote/policy.json', { version: '1', default: 'deny' });
    const { code, report } = await check({ ...base(), policy: { dir: policies }, upstreams: { ccxt: base().upstreams.ccxt, remote: { url }, orphan: { command: process.execPath, args: [DEMO_EXCHANGE] } } });
    expect(code).toBe(1);
    expect(report!.ok).toBe(false);
    const find = (what: string, name: string) => report!.checks.find((c) => c.what === what && c.name === name)!;
    expect(find('upstream', 'ccxt')).toMatchObject({ status: 'warning', detail: expect.stringContaining('not "teleport" that its policy names') });
    expect(find('upstream', 'remote')).toMatchObject({ status: 'error', detail: expect.stringContaining('cannot connect') });
    expect(find('policy', 'orphan')).toMatchObject({ status: 'error', detail: expect.stringContaining('upstream "orphan" has no policy') });
    expect(report!.summary).toMatch(/, 1 warning, 2 errors$/);
  });

  it('an invalid configuration is an input error (exit 2) with file:line:col, as without --check', async () => {
    const file = await tree.write('invalid.json', '{\n  "listen": { "stdio": true },\n  "upstreams": {},\n  "policy": { "dir": "p" }\n}\n');
    const out = await runCli(['gateway', '--config', file, '--check'], tree.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(`${file}:3:16: upstreams must name at least one MCP server`);
  });

  it('PostgreSQL: not migrated is an error naming the migrations; --database-url (or TOLLGATE_DATABASE_URL) replaces the file\'s URL', { timeout: 90_000 }, async () => {
    const inFile = { ...base(), ledger: { database_url: 'postgres://nobody@127.0.0.1:1/none' }, limits: { store: 'postgres' } };
    const unreachable = await check(inFile);
    expect(unreachable.code).toBe(1);
    expect(unreachable.report!.checks.find((c) => c.what === 'ledger')).toMatchObject({ status: 'error', detail: expect.stringContaining('cannot connect') });

    const fresh = await check({ ...inFile, ledger: { database_url: 'postgres://nobody@127.0.0.1:1/none', migrate: false } }, ['--database-url', databaseUrl]);
    expect(fresh.code).toBe(1);
    const ledger = fresh.report!.checks.find((c) => c.what === 'ledger')!;
    expect(ledger).toMatchObject({ status: 'error', detail: expect.stringContaining('not migrated: 0001_ledger_events.sql') });
    expect(ledger.name).not.toContain('nobody');
    expect(fresh.report!.checks.find((c) => c.what === 'limits')).toMatchObject({ status: 'error' });

    expect((await runCli(['ledger', 'migrate', '--database-url', databaseUrl], tree.root)).code).toBe(0);
    const migrated = await check({ ...inFile, ledger: { migrate: false } }, [], { TOLLGATE_DATABASE_URL: databaseUrl });
    expect(migrated.code).toBe(0);
    expect(migrated.report!.checks.find((c) => c.what === 'ledger')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^reachable, \d+ migrations applied$/) });
  });

  it('policy from Git: the signed bundle is read and verified; an untrusted signer is refused (exit 1)', async () => {
    const repo = join(tree.root, 'policy-repo');
    await tree.write('policy-repo/policies/ccxt/policy.json', await readFile(join(ROOT, 'policies/ccxt/policy.json'), 'utf8'));
    await tree.write('policy-repo/policies/ccxt/catalog.json', await readFile(join(ROOT, 'policies/ccxt/catalog.json'), 'utf8'));
    const git = simpleGit(repo);
    await git.init(['--initial-branch=main']);
    await git.addConfig('user.name', 'T').addConfig('user.email', 't@example.com');
    await git.add('.').commit('policies');
    for (const who of ['ci', 'stranger']) expect((await runCli(['keys', 'generate', '--out', join(tree.root, who)], tree.root)).code).toBe(0);
    expect((await runCli(['bundle', 'build', '--out', 'bundles/bundle.json'], repo)).code).toBe(0);
    expect((await runCli(['bundle', 'sign', 'bundles/bundle.json', '--key', join(tree.root, 'ci.key')], repo)).code).toBe(0);
    await git.add('.').commit('bundle');
    const gitPolicy = (key: string) => ({
      git: { repo, ref: 'main', path: 'bundles/bundle.json' },
      trust: { keys: [{ public_key: key }], threshold: 1 },
      state_dir: join(tree.root, 'state'),
    });
    const trusted = await check({ ...base(), policy: gitPolicy(await readFile(join(tree.root, 'ci.pub'), 'utf8')) });
    expect(trusted.code).toBe(0);
    expect(trusted.report!.checks.find((c) => c.what === 'policy' && c.name.includes('bundle.json'))!.detail).toMatch(/^bundle revision 1 at commit [0-9a-f]{12}, signed by [0-9a-f]{64}, verified with its tests$/);
    expect(existsSync(join(tree.root, 'state'))).toBe(false);
    const untrusted = await check({ ...base(), policy: gitPolicy(await readFile(join(tree.root, 'stranger.pub'), 'utf8')) });
    expect(untrusted.code).toBe(1);
    expect(untrusted.report!.checks.find((c) => c.what === 'policy')).toMatchObject({ status: 'error', detail: expect.stringContaining('(signature.untrusted)') });
  });
});
