import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { canonicalJson, generateSigningKey, sha256Hex, type PolicyBundle } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { GatewayError } from '../src/gateway-error.js';
import type { GitPolicySource } from '../src/policy/git-policy-source.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, everythingStdio, testLogger } from './fixtures.js';
import { configuredServices } from './gateway-services.js';
import { createPolicyRepo, type BundleCommit, type PolicyRepo } from './git-policy-repo.js';

const AGENT_TOKEN = 'git-source-agent';
const ADMIN_TOKEN = 'git-source-admin';

interface Running {
  readonly gateway: RunningGateway;
  readonly client: Client;
  readonly source: GitPolicySource;
  stop(): Promise<void>;
}

/** Starts a real gateway in front of the everything server, its policy from `repo` (a path or URL). */
async function startWith(db: TestDatabase, policy: Record<string, unknown>): Promise<Running> {
  const upstream = everythingStdio();
  const config = parseGatewayConfig(
    JSON.stringify({
      listen: { http: { port: 0 } },
      agents: [{ id: 'bot', token_sha256: sha256Hex(AGENT_TOKEN) }],
      upstreams: { everything: { command: upstream.command, args: upstream.args } },
      policy,
      ledger: { database_url: db.url, migrate: true },
      limits: { store: 'memory' },
      admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
    }),
    join(ROOT, 'gateway.json'),
  );
  const gateway = await startGateway(config, { logger: testLogger(), services: configuredServices(config) });
  const client = new Client({ name: 'git-source-test', version: '1' }, { capabilities: {} });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
  return {
    gateway,
    client,
    source: gateway.policies as GitPolicySource,
    async stop() {
      await client.close().catch(() => undefined);
      await gateway.shutdown('test over');
    },
  };
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether the gateway lets `echo` through now. */
async function echoAllowed(client: Client): Promise<boolean> {
  const result = await client.callTool({ name: 'echo', arguments: { message: 'hello' } });
  if (!result.isError) return true;
  expect(result.structuredContent).toMatchObject({ code: 'policy.denied' });
  return false;
}

/**
 * Waits until the source has activated or refused the bundle of `commit` (a later check of
 * the same commit reports it unchanged, so the outcome is read from the active bundle and
 * the last refusal rather than from the last check).
 */
function checkedAt(source: GitPolicySource, commit: string) {
  return until(`a decision on commit ${commit}`, () => {
    const status = source.status();
    if (status.bundle?.commit === commit) return { outcome: 'activated' as const };
    if (status.lastRefusal?.commit === commit) return { outcome: 'refused' as const, code: status.lastRefusal.code };
    return undefined;
  });
}

/** The value of one sample in Prometheus text, or undefined. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function ledgerRows(db: TestDatabase, type: 'policy.activated' | 'policy.rejected') {
  return db.query<{ server: string | null; policy_revision: string | null; policy_digest: string | null; reason: string; detail: Record<string, unknown> | null }>(
    'SELECT server, policy_revision, policy_digest, reason, detail FROM ledger_events WHERE event_type = $1 ORDER BY occurred_at, seq',
    [type],
  );
}

/** Re-hashes a file after an edit, as a signer who signed the edited content would. */
function rehash(bundle: PolicyBundle, path: string, value: unknown): PolicyBundle {
  const files = { ...bundle.files, [path]: value } as PolicyBundle['files'];
  const entry = { ...bundle.manifest.files[path]!, sha256: sha256Hex(canonicalJson(value)) };
  return { ...bundle, files, manifest: { ...bundle.manifest, files: { ...bundle.manifest.files, [path]: entry } } };
}

describe('Git policy source: a local repository, watched', () => {
  const keys = [generateSigningKey(), generateSigningKey()];
  const stranger = generateSigningKey();
  let db: TestDatabase;
  let repo: PolicyRepo;
  let stateDir: string;
  let run: Running;
  let policy: Record<string, unknown>;

  beforeAll(async () => {
    db = await createTestDatabase();
    repo = await createPolicyRepo({ keys });
    stateDir = await mkdtemp(join(tmpdir(), 'tollgate-policy-state-'));
    await repo.commit({ revision: 1, allowEcho: false });
    // Polling off: only the watch on the repository's refs can pick up a commit.
    policy = {
      git: { repo: repo.dir, ref: 'main', path: 'bundles/bundle.json', poll: 'off' },
      trust: { keys: keys.map((k) => ({ keyid: k.keyid, public_key: k.publicKeyPem })), threshold: 2 },
      state_dir: stateDir,
    };
    run = await startWith(db, policy);
  }, 60_000);

  afterAll(async () => {
    await run?.stop();
    await repo?.remove();
    await rm(stateDir, { recursive: true, force: true });
    await db?.drop();
  });

  it('serves the committed bundle at start and records its activation', async () => {
    expect(run.source.policyFor('everything')?.revision).toBe(1);
    expect(await echoAllowed(run.client)).toBe(false);
    const [activated] = await ledgerRows(db, 'policy.activated');
    expect(activated).toMatchObject({ server: 'everything', policy_revision: '1' });
    expect(activated!.reason).toContain('bundle revision 1');
    expect(activated!.detail).toMatchObject({ signers: keys.map((k) => k.keyid).sort() });
  });

  it('enforces a new commit without polling: the call flips', async () => {
    const commit = await repo.commit({ revision: 2, allowEcho: true });
    expect(await checkedAt(run.source, commit)).toMatchObject({ outcome: 'activated' });
    expect(await echoAllowed(run.client)).toBe(true);
    const rows = await ledgerRows(db, 'policy.activated');
    const last = rows.at(-1)!;
    expect(last).toMatchObject({ server: 'everything', policy_revision: '2', policy_digest: run.source.policyFor('everything')!.digest });
    expect(last.reason).toContain(`read at commit ${commit}`);
    for (const k of keys) expect(last.reason).toContain(k.keyid);
    // Persisted: the bytes of the bundle and the rollback floor.
    const status = run.source.status();
    expect(status).toMatchObject({ highestRevision: 2, bundle: { revision: 2, via: 'repository', signers: keys.map((k) => k.keyid).sort() } });
  });

  it('shows the active revision, commit and signers on the admin API', async () => {
    const res = await fetch(`${run.gateway.admin!.url}/policy`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = (await res.json()) as { policies: Array<Record<string, unknown>>; source: Record<string, unknown> };
    const head = (await repo.git.revparse(['HEAD'])).trim();
    expect(body.policies[0]).toMatchObject({ server: 'everything', revision: 2, git_commit: null, signers: keys.map((k) => k.keyid).sort() });
    expect(body.source).toMatchObject({ kind: 'git', location: `${repo.dir}@main:bundles/bundle.json`, bundle: { revision: 2, git_commit: null, commit: head }, highest_revision: 2 });
    expect((body.source as { last_check: { outcome: string } }).last_check.outcome).toBe('activated');
  });

  const refusals: ReadonlyArray<[string, () => BundleCommit]> = [
    ['bundle.malformed', () => ({ revision: 3, allowEcho: false, text: '{"format": "tollgate.bundle/v1", "manifest": 7}' })],
    ['signature.missing', () => ({ revision: 3, allowEcho: false, signers: [] })],
    [
      'signature.invalid',
      () => ({
        revision: 3,
        allowEcho: false,
        tamper: (b) => ({ ...b, signatures: b.signatures.map((s, i) => (i === 0 ? { ...s, signature: Buffer.alloc(64, 7).toString('base64') } : s)) }),
      }),
    ],
    ['signature.untrusted', () => ({ revision: 3, allowEcho: false, signers: [stranger] })],
    ['signature.threshold', () => ({ revision: 3, allowEcho: false, signers: [keys[0]!, stranger] })],
    [
      'bundle.hash_mismatch',
      () => ({
        revision: 3,
        allowEcho: false,
        tamper: (b) => ({ ...b, files: { ...b.files, 'policies/everything/policy.json': { version: '1', default: 'allow' } } as PolicyBundle['files'] }),
      }),
    ],
    ['bundle.expired', () => ({ revision: 3, allowEcho: false, createdAt: new Date(Date.now() - 3 * 86_400_000), expiresAt: new Date(Date.now() - 86_400_000) })],
    ['bundle.rollback', () => ({ revision: 1, allowEcho: false })],
    ['bundle.equivocation', () => ({ revision: 2, allowEcho: false })],
    ['policy.invalid', () => ({ revision: 3, allowEcho: false, edit: (b) => rehash(b, 'policies/everything/policy.json', { version: '1', default: 'sometimes' }) })],
    ['tests.failed', () => ({ revision: 3, allowEcho: false, failingTest: true })],
    ['bundle.incomplete', () => ({ revision: 3, allowEcho: false, servers: ['elsewhere'] })],
  ];

  it.each(refusals)('refuses %s, keeps the last good bundle and records policy.rejected once', async (code, spec) => {
    const before = (await ledgerRows(db, 'policy.rejected')).length;
    const commit = await repo.commit(spec());
    expect(await checkedAt(run.source, commit)).toMatchObject({ outcome: 'refused' });
    expect(run.source.status().lastRefusal).toMatchObject({ code, commit });
    expect(run.source.policyFor('everything')?.revision).toBe(2);
    expect(await echoAllowed(run.client)).toBe(true);
    const rows = await ledgerRows(db, 'policy.rejected');
    expect(rows).toHaveLength(before + 1);
    expect(rows.at(-1)!.reason.startsWith(`${code}: `)).toBe(true);
    expect(rows.at(-1)!.detail).toMatchObject({ code, git_commit: commit });
    // The same bundle again is not refused (nor recorded) again.
    expect(await run.source.check()).toMatchObject({ outcome: 'unchanged' });
    expect(await ledgerRows(db, 'policy.rejected')).toHaveLength(before + 1);
  });

  // What `tollgate lint` rejects is refused too, with lint's code: bundles signed after an edit that lint would have caught.
  const lintRefusals: ReadonlyArray<[string, string, () => BundleCommit]> = [
    [
      'a ReDoS-prone regex',
      'TG101',
      () => ({
        revision: 3,
        allowEcho: false,
        edit: (b) => rehash(b, 'policies/everything/policy.json', { version: '1', default: 'deny', tools: { echo: { require: [{ path: 'args.message', op: 'regex', value: '^(a+)+$' }] } } }),
      }),
    ],
    [
      'two policy files for one server',
      'TG004',
      () => ({
        revision: 3,
        allowEcho: false,
        edit: (b) => {
          const yaml = 'policies/everything/policy.yaml';
          const both = rehash(b, yaml, { version: '1', default: 'allow' });
          return { ...both, manifest: { ...both.manifest, files: { ...both.manifest.files, [yaml]: { ...both.manifest.files[yaml]!, kind: 'policy', server: 'everything' } } } };
        },
      }),
    ],
  ];

  it.each(lintRefusals)('refuses %s with %s, keeps the last good bundle and records policy.rejected with that code', async (_what, lintCode, spec) => {
    const before = (await ledgerRows(db, 'policy.rejected')).length;
    const commit = await repo.commit(spec());
    expect(await checkedAt(run.source, commit)).toMatchObject({ outcome: 'refused' });
    expect(run.source.status().lastRefusal).toMatchObject({ code: 'policy.invalid', commit, diagnosticCodes: [lintCode] });
    expect(run.source.status().lastRefusal?.message).toMatch(new RegExp(`^policies/everything/policy\\.json:1:\\d+: error ${lintCode} `));
    expect(run.source.policyFor('everything')?.revision).toBe(2);
    expect(await echoAllowed(run.client)).toBe(true);
    const rows = await ledgerRows(db, 'policy.rejected');
    expect(rows).toHaveLength(before + 1);
    expect(rows.at(-1)!.reason).toContain(`error ${lintCode} `);
    expect(rows.at(-1)!.detail).toMatchObject({ code: 'policy.invalid', git_commit: commit, diagnostic_codes: [lintCode] });
  });

  it('counts reloads by outcome in the metrics', async () => {
    const res = await fetch(`${run.gateway.admin!.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const text = await res.text();
    expect(sample(text, 'tollgate_policy_reloads_total{outcome="refused"}')).toBe(refusals.length + lintRefusals.length);
    expect(sample(text, 'tollgate_policy_reloads_total{outcome="activated"}')).toBe(2); // revision 1 at start, then 2
    expect(sample(text, 'tollgate_policy_revision')).toBe(2);
  });

  it('lets a call in flight finish under the policy that decided it', async () => {
    const good = await repo.commit({ revision: 4, allowEcho: true });
    await checkedAt(run.source, good);
    expect(run.source.policyFor('everything')?.revision).toBe(4);
    const slow = run.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1.5, steps: 3 } });
    await until('the slow call to be decided', async () => {
      const rows = await db.query("SELECT 1 FROM ledger_events WHERE event_type = 'decision' AND tool = 'trigger-long-running-operation' AND policy_revision = '4'");
      return rows.length > 0 ? true : undefined;
    });
    const swap = await repo.commit({ revision: 5, allowEcho: true, denyLong: true });
    expect(await checkedAt(run.source, swap)).toMatchObject({ outcome: 'activated' });
    const denied = await run.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.1, steps: 1 } });
    expect(denied.isError).toBe(true);
    expect(denied.structuredContent).toMatchObject({ code: 'policy.denied' });
    const finished = await slow;
    expect(finished.isError).toBeFalsy();
    expect(JSON.stringify(finished.content)).toContain('Long running operation completed');
    const decided = await db.query<{ effect: string; policy_revision: string }>(
      "SELECT effect, policy_revision FROM ledger_events WHERE event_type = 'decision' AND tool = 'trigger-long-running-operation' ORDER BY occurred_at, seq",
    );
    expect(decided.map((d) => [d.effect, d.policy_revision])).toEqual([
      ['allow', '4'],
      ['deny', '5'],
    ]);
  }, 30_000);

  it('restarts without the repository, serving the persisted bundle; a rollback afterwards is refused', async () => {
    await run.stop();
    const moved = `${repo.dir}.away`;
    await rename(repo.dir, moved);
    try {
      run = await startWith(db, policy);
      expect(run.source.policyFor('everything')?.revision).toBe(5);
      expect(run.source.status()).toMatchObject({ bundle: { revision: 5, via: 'restored' }, highestRevision: 5 });
      await until('the first check', () => run.source.status().lastCheck ?? undefined);
      expect(run.source.status().lastCheck).toMatchObject({ outcome: 'error' });
      expect(await echoAllowed(run.client)).toBe(true);
      const restored = (await ledgerRows(db, 'policy.activated')).at(-1)!;
      expect(restored).toMatchObject({ policy_revision: '5' });
      expect(restored.reason).toContain('restored from');
    } finally {
      await rename(moved, repo.dir);
    }
    await run.stop();
    run = await startWith(db, policy);
    const rollback = await repo.commit({ revision: 3, allowEcho: false });
    expect(await checkedAt(run.source, rollback)).toMatchObject({ outcome: 'refused' });
    expect(run.source.status().lastRefusal).toMatchObject({ code: 'bundle.rollback', revision: 3 });
    expect(run.source.policyFor('everything')?.revision).toBe(5);
  }, 60_000);

  it('refuses to start with neither a persisted bundle nor a reachable repository', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'tollgate-policy-state-'));
    try {
      const attempt = startWith(db, { ...policy, git: { repo: join(repo.dir, 'missing'), poll: '1s' }, state_dir: empty });
      await expect(attempt).rejects.toThrow(GatewayError);
      await expect(attempt).rejects.toMatchObject({ code: 'policy.unavailable' });
      await expect(attempt).rejects.toThrow(/nothing was persisted/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('Git policy source: a file:// remote, polled', () => {
  let db: TestDatabase;
  let repo: PolicyRepo;
  let stateDir: string;
  let run: Running | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    repo = await createPolicyRepo();
    stateDir = await mkdtemp(join(tmpdir(), 'tollgate-policy-state-'));
  });

  afterAll(async () => {
    await run?.stop();
    await repo?.remove();
    await rm(stateDir, { recursive: true, force: true });
    await db?.drop();
  });

  it('clones the remote, picks up a pushed bundle by polling, and restarts from the state directory when the remote is gone', async () => {
    await repo.commit({ revision: 1, allowEcho: false });
    const policy = {
      git: { repo: `file://${repo.dir}`, poll: '200ms' },
      trust: { keys: [{ public_key: repo.keys[0]!.publicKeyPem }] },
      state_dir: stateDir,
    };
    run = await startWith(db, policy);
    expect(await echoAllowed(run.client)).toBe(false);
    const commit = await repo.commit({ revision: 2, allowEcho: true });
    expect(await checkedAt(run.source, commit)).toMatchObject({ outcome: 'activated' });
    expect(await echoAllowed(run.client)).toBe(true);

    await run.stop();
    await rm(repo.dir, { recursive: true, force: true });
    run = await startWith(db, policy);
    expect(run.source.status().bundle).toMatchObject({ revision: 2, via: 'restored', commit });
    expect(await echoAllowed(run.client)).toBe(true);
    await until('a failed fetch', () => (run!.source.status().lastCheck?.outcome === 'error' ? true : undefined));
    expect(run.source.status().lastCheck?.error).toMatch(/cannot fetch the policy repository file:\/\//);
  }, 60_000);
});
