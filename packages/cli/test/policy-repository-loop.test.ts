import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { parseGatewayConfig, startGateway, type GitSourceStatus, type RunningGateway } from '@tollgate/gateway';
import { sha256Hex } from '@tollgate/policy';
import type { SimpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayServices } from '../src/gateway/gateway-runner.js';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { DEMO_EXCHANGE } from './mcp-servers.js';
import { commitAll, denyFetchOhlcv, scaffoldedRepository, type EditableTests, type WorkflowRunner } from './workflow-runner.js';

/** The gateway's Git policy source's status (these gateways serve signed bundles from Git). */
const gitStatus = (gateway: RunningGateway): GitSourceStatus | undefined => {
  const status = gateway.policies.status?.();
  return status?.kind === 'git' ? status : undefined;
};

// The whole GitOps loop on a repository made by `tollgate init`: the review workflow (the
// Tollgate action) lints, tests and diffs a change and signs the bundle on main, a real gateway reads it from
// the repository's remote and enforces it, and a later reviewed change reaches the gateway the
// same way.
const TOKEN = 'loop-agent';

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a policy repository made by tollgate init, from change to enforcement', () => {
  let tree: TempTree;
  let repo: string;
  let origin: string;
  let git: SimpleGit;
  let runner: WorkflowRunner;
  let gateway: RunningGateway;
  let client: Client;
  let signingKey: string;
  let args: Record<string, Record<string, unknown>>;
  let keyId: string;
  let firstRevision: number;

  /** Runs the workflow's bundle job (the Tollgate action, mode bundle) for the tip of main, as a push to main would. */
  async function bundleJob(): Promise<void> {
    await git.push('origin', 'main');
    const sha = (await git.revparse(['HEAD'])).trim();
    const run = await runner.runJob('bundle', { event: 'push', sha, secrets: { TOLLGATE_SIGNING_KEY: signingKey } });
    expect(run.step('bundle').stderr).not.toMatch(/Error/);
    expect(run.conclusion).toBe('success');
    expect(run.outputs['bundle-changed']).toBe('true');
    // The action pushed the bundle commit; main follows it as a later pull would.
    await git.pull('origin', 'main', ['--ff-only']);
  }

  async function call(tool: string) {
    return client.request({ method: 'tools/call', params: { name: tool, arguments: args[tool] ?? {} } }, CallToolResultSchema);
  }

  function denial(result: Awaited<ReturnType<typeof call>>): string | undefined {
    const text = result.content[0]?.type === 'text' ? result.content[0].text : '';
    return result.isError && text.startsWith('[POLICY DENIED]') ? (result.structuredContent as { rule?: string } | undefined)?.rule ?? 'denied' : undefined;
  }

  beforeAll(async () => {
    tree = await tempTree();
    ({ repo, origin, git, runner } = await scaffoldedRepository(tree.root, 'desk-policies'));

    // The key CI signs with, and its public half for the gateway's trust list.
    const keys = await runCli(['keys', 'generate', '--out', join(tree.root, 'ci'), '--json'], tree.root);
    expect(keys.code).toBe(0);
    keyId = (JSON.parse(keys.stdout) as { keyid: string }).keyid;
    signingKey = (await readFile(join(tree.root, 'ci.key'), 'utf8')).trimEnd();
    const publicKey = await readFile(join(tree.root, 'ci.pub'), 'utf8');

    // The generated tests' arguments are valid for each tool's schema; the loop calls with them.
    const tests = JSON.parse(await readFile(join(repo, 'policies/ccxt/ccxt.test.json'), 'utf8')) as EditableTests;
    args = Object.fromEntries(tests.cases.filter((c) => c.call).map((c) => [c.call!.tool, c.call!.args ?? {}]));

    await bundleJob();

    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'desk-bot', token_sha256: sha256Hex(TOKEN) }],
        upstreams: { ccxt: { command: process.execPath, args: [DEMO_EXCHANGE] } },
        policy: {
          git: { repo: `file://${origin}`, ref: 'main', path: 'bundles/bundle.json', poll: '200ms' },
          trust: { keys: [{ public_key: publicKey }], threshold: 1 },
          state_dir: join(tree.root, 'gateway-state'),
        },
        ledger: { data_dir: join(tree.root, 'ledger') },
        log: { level: 'silent' },
        limits: { store: 'memory' },
        approvals: { mode: 'retry' },
      }),
      join(tree.root, 'gateway.json'),
    );
    gateway = await startGateway(config, { services: gatewayServices(config) });
    client = new Client({ name: 'loop', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
  }, 120_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await gateway?.shutdown('test over');
    await tree?.remove();
  }, 30_000);

  it('the gateway enforces the starter policy CI signed: reads allowed, money behind approval', async () => {
    firstRevision = gitStatus(gateway)?.bundle?.revision ?? Number.NaN;
    expect(firstRevision).toBeGreaterThan(0);
    expect(denial(await call('fetch_ohlcv'))).toBeUndefined();
    expect(denial(await call('fetch_account_balance'))).toBeUndefined();
    const withdraw = await call('withdraw_cryptocurrency');
    expect(withdraw.isError).toBe(true);
    expect(withdraw.structuredContent).toMatchObject({ code: 'approval.required' });
  });

  it('a reviewed change — lint, test, diff on the pull request, signed on merge — is enforced by the running gateway', async () => {
    await git.checkoutLocalBranch('deny-ohlcv');
    await denyFetchOhlcv(repo, 'ccxt');
    await commitAll(git, 'Deny fetch_ohlcv');
    await git.fetch('origin');
    const review = await runner.runJob('review', { event: 'pull_request' });
    expect(review.conclusion).toBe('success');
    expect(review.outputs).toMatchObject({ 'lint-status': '0', 'test-status': '0', 'diff-status': '0' });
    expect(review.summary).toContain('fetch_ohlcv');

    // Until merged and signed, the gateway still allows it.
    expect(denial(await call('fetch_ohlcv'))).toBeUndefined();
    await git.checkout('main');
    await git.merge(['--ff-only', 'deny-ohlcv']);
    await bundleJob();

    const rule = await until('the new bundle to be enforced', async () => denial(await call('fetch_ohlcv')));
    expect(rule).toBe('tools.fetch_ohlcv.action');
    expect(denial(await call('fetch_account_balance'))).toBeUndefined();
    const status = gitStatus(gateway);
    expect(status?.bundle).toMatchObject({ gitCommit: (await git.revparse(['HEAD~1'])).trim(), signers: [keyId], via: 'repository' });
    expect(status!.bundle!.revision).toBeGreaterThan(firstRevision);
  });
});
