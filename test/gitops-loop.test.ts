import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_JS, cliEnv, runCli, tempTree, type TempTree } from '../packages/cli/test/cli-process.js';
import { DEMO_EXCHANGE, DEMO_EXCHANGE_COMMAND } from '../packages/cli/test/mcp-servers.js';
import { createTestDatabase, type TestDatabase } from '../packages/gateway/test/database.js';

// The whole GitOps loop on a repository made by `tollgate init`, with the real CLI and a real
// gateway process: change a policy -> lint, test, diff -> build and sign the bundle -> commit
// -> the running gateway enforces it; a bundle signed by an untrusted key is refused and the
// last good one stays; `tollgate gateway status` shows all of it.
const AGENT_TOKEN = 'gitops-agent';
const ADMIN_TOKEN = 'gitops-admin';
const OHLCV = { exchange_id: 'binance', symbol: 'BTC/USDT', timeframe: '1h' };

/** Runs git in `cwd`; resolves with its trimmed output. */
async function gitIn(cwd: string, ...args: string[]): Promise<string> {
  return (await promisify(execFile)('git', args, { cwd })).stdout.trim();
}

interface GatewayChild {
  readonly child: ChildProcess;
  readonly url: string;
  readonly admin: string;
  readonly log: string[];
}

/** Starts `tollgate gateway --config <file>` and waits for its agent and admin URLs in its JSON log. */
function startGatewayProcess(config: string, cwd: string): Promise<GatewayChild> {
  const child = spawn(process.execPath, [RUN_JS, 'gateway', '--config', config], { cwd, env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  let url: string | undefined;
  let admin: string | undefined;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start:\n${log.join('\n')}`)), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited with ${code}:\n${log.join('\n')}`));
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      log.push(line);
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'serving agents over Streamable HTTP') url = entry.url;
      if (entry.msg === 'admin API listening') admin = entry.url;
      if (url && admin) {
        clearTimeout(timer);
        resolve({ child, url, admin, log });
      }
    });
  });
}

async function editJson<T>(file: string, edit: (value: T) => void): Promise<void> {
  const value = JSON.parse(await readFile(file, 'utf8')) as T;
  edit(value);
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Every object in a JSON value (to find a tool's entry in the diff report whatever its nesting). */
function objects(value: unknown): Array<Record<string, unknown>> {
  if (value === null || typeof value !== 'object') return [];
  const children = Object.values(value as Record<string, unknown>).flatMap(objects);
  return Array.isArray(value) ? children : [value as Record<string, unknown>, ...children];
}

describe('the GitOps loop: tollgate init -> review -> signed bundle -> the running gateway', () => {
  let tree: TempTree;
  let repo: string;
  let db: TestDatabase;
  let gateway: GatewayChild | undefined;
  let client: Client | undefined;
  let keyid: string;

  const cli = async (args: readonly string[], cwd = repo) => {
    const out = await runCli(args, cwd);
    expect(out.code, `tollgate ${args.join(' ')}\n${out.stdout}\n${out.stderr}`).toBe(0);
    return out;
  };

  /** Builds, signs with `key` and commits the bundle; resolves with its revision. */
  const release = async (key: string): Promise<number> => {
    const built = JSON.parse((await cli(['bundle', 'build', '--out', 'bundles/bundle.json', '--json'])).stdout) as Record<string, unknown>;
    await cli(['bundle', 'sign', 'bundles/bundle.json', '--key', key]);
    await gitIn(repo, 'add', 'bundles/bundle.json');
    await gitIn(repo, 'commit', '--quiet', '-m', 'Signed policy bundle');
    const revision = objects(built).map((o) => o.revision).find((r) => typeof r === 'number');
    expect(revision).toBeTypeOf('number');
    return revision as number;
  };

  const status = async () => {
    const out = await runCli(['gateway', 'status', '--admin-url', gateway!.admin, '--token', ADMIN_TOKEN, '--json'], repo);
    expect(out.code, out.stderr).toBe(0);
    return JSON.parse(out.stdout) as { source: { bundle: { revision: number; git_commit: string | null; commit: string | null; signers: string[] }; last_refusal: { code: string } | null } };
  };

  /** Whether the gateway's policy lets fetch_ohlcv through (a denial carries code policy.denied). */
  const ohlcvAllowed = async (): Promise<boolean> => {
    const result = await client!.callTool({ name: 'fetch_ohlcv', arguments: OHLCV });
    return (result.structuredContent as { code?: string } | undefined)?.code !== 'policy.denied';
  };

  beforeAll(async () => {
    tree = await tempTree();
    db = await createTestDatabase();
    await cli(['init', 'repo', '--from-server', DEMO_EXCHANGE_COMMAND, '--server-name', 'ccxt'], tree.root);
    repo = join(tree.root, 'repo');
    await gitIn(repo, 'config', 'user.name', 'Policy Author');
    await gitIn(repo, 'config', 'user.email', 'author@example.test');
    await gitIn(repo, 'add', '.');
    await gitIn(repo, 'commit', '--quiet', '-m', 'Policies for ccxt');
    const key = JSON.parse((await cli(['keys', 'generate', '--out', '../keys/release', '--json'])).stdout) as { keyid: string };
    keyid = key.keyid;
  }, 120_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    if (gateway && gateway.child.exitCode === null) {
      gateway.child.kill('SIGTERM');
      await new Promise((r) => gateway!.child.once('exit', r));
    }
    await db?.drop();
    await tree?.remove();
  }, 60_000);

  it('the first signed bundle is enforced by a gateway that reads it from the repository', async () => {
    const revision = await release('../keys/release.key');
    const config = await tree.write('gateway.json', {
      listen: { http: { host: '127.0.0.1', port: 0 } },
      agents: [{ id: 'desk-bot', token_sha256: sha256Hex(AGENT_TOKEN) }],
      upstreams: { ccxt: { command: process.execPath, args: [DEMO_EXCHANGE, '--stdio'] } },
      policy: {
        git: { repo: 'repo', ref: 'main', path: 'bundles/bundle.json', poll: '500ms' },
        trust: { keys: [{ keyid, public_key: await readFile(join(tree.root, 'keys/release.pub'), 'utf8') }], threshold: 1 },
        state_dir: 'state',
      },
      ledger: { database_url: db.url, migrate: true },
      limits: { store: 'memory' },
      admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
      log: { level: 'info' },
    });
    gateway = await startGatewayProcess(config, tree.root);
    client = new Client({ name: 'gitops-loop', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));

    expect(await ohlcvAllowed()).toBe(true);
    // Built from the reviewed policies' commit, read at the commit that added the signed bundle.
    const [policies, bundle] = [await gitIn(repo, 'rev-parse', 'HEAD~1'), await gitIn(repo, 'rev-parse', 'HEAD')];
    expect((await status()).source.bundle).toMatchObject({ revision, git_commit: policies, commit: bundle, signers: [keyid] });
  });

  it('a reviewed change (lint, test, diff) released as a signed bundle flips the call in the running gateway', async () => {
    const policyFile = join(repo, 'policies/ccxt/policy.json');
    await editJson<{ tools: Record<string, unknown> }>(policyFile, (policy) => {
      policy.tools.fetch_ohlcv = { action: 'deny', reason: 'Market data is paused during the audit.' };
    });
    await editJson<{ cases: Array<{ call: { tool: string }; expect: Record<string, unknown> }> }>(join(repo, 'policies/ccxt/ccxt.test.json'), (tests) => {
      for (const c of tests.cases) if (c.call.tool === 'fetch_ohlcv') c.expect = { effect: 'deny', rule: 'tools.fetch_ohlcv.action' };
    });
    await cli(['lint']);
    await cli(['test']);
    const diff = await runCli(['diff', 'HEAD', '--format', 'json'], repo);
    expect(diff.code, diff.stderr).toBe(0);
    const ohlcv = objects(JSON.parse(diff.stdout)).find((o) => o.tool === 'fetch_ohlcv' && 'change' in o);
    expect(ohlcv).toMatchObject({ change: 'narrower' });

    await gitIn(repo, 'add', 'policies');
    await gitIn(repo, 'commit', '--quiet', '-m', 'Pause market data');
    const revision = await release('../keys/release.key');
    const deadline = Date.now() + 20_000;
    while (await ohlcvAllowed()) {
      if (Date.now() > deadline) throw new Error(`revision ${revision} was not enforced:\n${gateway!.log.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await status()).source.bundle.revision).toBe(revision);
  }, 60_000);

  it('a bundle signed by a key the gateway does not trust is refused and the last good one stays', async () => {
    await cli(['keys', 'generate', '--out', '../keys/intruder']);
    // The change itself is fine (it passes its tests); only its signature is not.
    await editJson<{ tools: Record<string, unknown> }>(join(repo, 'policies/ccxt/policy.json'), (policy) => {
      policy.tools.fetch_ohlcv = {};
    });
    await editJson<{ cases: Array<{ call: { tool: string }; expect: Record<string, unknown> }> }>(join(repo, 'policies/ccxt/ccxt.test.json'), (tests) => {
      for (const c of tests.cases) if (c.call.tool === 'fetch_ohlcv') c.expect = { effect: 'allow', rule: null };
    });
    await gitIn(repo, 'add', 'policies');
    await gitIn(repo, 'commit', '--quiet', '-m', 'Resume market data');
    const before = (await status()).source.bundle.revision;
    await release('../keys/intruder.key');
    const deadline = Date.now() + 20_000;
    let report = await status();
    while (report.source.last_refusal?.code !== 'signature.untrusted') {
      if (Date.now() > deadline) throw new Error(`the untrusted bundle was not refused:\n${gateway!.log.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
      report = await status();
    }
    expect(report.source.bundle.revision).toBe(before);
    expect(await ohlcvAllowed()).toBe(false);
    const rejected = await db.query<{ reason: string }>("SELECT reason FROM ledger_events WHERE event_type = 'policy.rejected'");
    expect(rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/^signature\.untrusted: /)]);
  }, 60_000);
});
