import { join } from 'node:path';
import { parseGatewayConfig, startGateway, type GitSourceStatus, type RunningGateway } from '@tollgate/gateway';
import { buildBundle, generateSigningKey, sha256Hex, signBundle } from '@tollgate/policy';
import { simpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayServices } from '../src/gateway/gateway-runner.js';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { DEMO_EXCHANGE } from './mcp-servers.js';

/** The gateway's Git policy source's status (these gateways serve signed bundles from Git). */
const gitStatus = (gateway: RunningGateway): GitSourceStatus | undefined => {
  const status = gateway.policies.status?.();
  return status?.kind === 'git' ? status : undefined;
};

const ADMIN_TOKEN = 'status-admin-token';

describe('tollgate gateway status', () => {
  const key = generateSigningKey();
  const stranger = generateSigningKey();
  let tree: TempTree;
  let gateway: RunningGateway;
  let admin: string;
  let head: string;

  /** Commits a bundle of one policy for `ccxt`, signed by `signer`. */
  async function commitBundle(revision: number, signer = key): Promise<string> {
    const policy = { version: '1', default: 'deny', tools: { fetch_ohlcv: {} } };
    const bundle = signBundle(
      buildBundle({ files: [{ path: 'policies/ccxt/policy.json', text: JSON.stringify(policy) }], revision, gitCommit: null, createdAt: new Date(), expiresAt: null }),
      signer.privateKeyPem,
    );
    await tree.write('repo/bundles/bundle.json', bundle);
    const git = simpleGit(join(tree.root, 'repo'));
    await git.add('bundles/bundle.json');
    await git.commit(`revision ${revision}`, ['--quiet']);
    return (await git.revparse(['HEAD'])).trim();
  }

  beforeAll(async () => {
    tree = await tempTree({ 'repo/README.md': 'policies\n' });
    const git = simpleGit(join(tree.root, 'repo'));
    await git.init(['--initial-branch=main', '--quiet']);
    await git.addConfig('user.name', 'Policy Bot');
    await git.addConfig('user.email', 'policy-bot@example.test');
    head = await commitBundle(7);
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'bot', token_sha256: sha256Hex('agent') }],
        upstreams: { ccxt: { command: process.execPath, args: [DEMO_EXCHANGE, '--stdio'] } },
        policy: { git: { repo: 'repo', poll: '100ms' }, trust: { keys: [{ public_key: key.publicKeyPem }] }, state_dir: 'state' },
        ledger: { data_dir: 'ledger' },
        admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
        log: { level: 'silent' },
      }),
      join(tree.root, 'gateway.json'),
    );
    gateway = await startGateway(config, { services: gatewayServices(config) });
    admin = gateway.admin!.url;
  }, 60_000);

  afterAll(async () => {
    await gateway?.shutdown('test over');
    await tree?.remove();
  });

  it('prints the active revision, commit and signers', async () => {
    const out = await runCli(['gateway', 'status', '--admin-url', admin, '--token', ADMIN_TOKEN], tree.root);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/revision\s+7\n/);
    expect(out.stdout).toContain(`read at        commit ${head}`);
    expect(out.stdout).toContain('built from     no commit recorded');
    expect(out.stdout).toContain(`signers        ${key.keyid}`);
    expect(out.stdout).toContain('last refusal   none');
    expect(out.stdout).toMatch(/ccxt {2}revision 7 {2}digest [0-9a-f]{16}…/);
  });

  it('reports the last refusal, as JSON too, with the token from TOLLGATE_ADMIN_TOKEN', async () => {
    const refused = await commitBundle(8, stranger);
    const deadline = Date.now() + 10_000;
    while ((gitStatus(gateway)?.lastRefusal?.commit ?? null) !== refused) {
      if (Date.now() > deadline) throw new Error('the refusal was not seen');
      await new Promise((r) => setTimeout(r, 50));
    }
    const out = await runCli(['gateway', 'status', '--admin-url', admin, '--json'], tree.root, { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout) as { source: { bundle: { revision: number; commit: string; signers: string[] }; last_refusal: { code: string; revision: number; commit: string } } };
    expect(report.source.bundle).toMatchObject({ revision: 7, commit: head, signers: [key.keyid] });
    expect(report.source.last_refusal).toMatchObject({ code: 'signature.untrusted', revision: 8, commit: refused });
    const pretty = await runCli(['gateway', 'status', '--admin-url', admin], tree.root, { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(pretty.stdout).toContain(`signature.untrusted: revision 8 at ${refused.slice(0, 12)}`);
  });

  it('exits 2 for a wrong token and for an unreachable admin API', async () => {
    const wrong = await runCli(['gateway', 'status', '--admin-url', admin, '--token', 'nope', '--json'], tree.root);
    expect(wrong.code).toBe(2);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ error: { code: 'admin.unauthorized', exit: 2 } });
    const port = Number(new URL(admin).port);
    await gateway.shutdown('test over');
    const gone = await runCli(['gateway', 'status', '--admin-url', `http://127.0.0.1:${port}`, '--token', ADMIN_TOKEN], tree.root);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(`the gateway's admin API at http://127.0.0.1:${port} is unreachable`);
  });
});
