import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLedgerSink, type LedgerSink } from '@tollgate/ledger';
import { MemoryLimitStore, generateSigningKey } from '@tollgate/policy';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GitPolicyConfig } from '../src/config/gateway-config.js';
import { GatewayError } from '../src/gateway-error.js';
import { GitPolicySource } from '../src/policy/git-policy-source.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { testLogger } from './fixtures.js';
import { createPolicyRepo, type PolicyRepo } from './git-policy-repo.js';

const HOUR = 3_600_000;

describe('Git policy source: what is persisted in state_dir', () => {
  const key = generateSigningKey();
  let db: TestDatabase;
  let sink: LedgerSink;
  let repo: PolicyRepo;
  let stateDir: string;
  const opened: GitPolicySource[] = [];

  const config = (over: Partial<GitPolicyConfig['git']> = {}, keys = [key]): GitPolicyConfig => ({
    kind: 'git',
    git: { repo: repo.dir, remote: false, ref: 'main', path: 'bundles/bundle.json', pollMs: 0, watch: false, ...over },
    trust: { keys: keys.map((k) => ({ public_key: k.publicKeyPem })), threshold: 1 },
    stateDir,
  });

  async function open(cfg: GitPolicyConfig, now: number = Date.now()): Promise<GitPolicySource> {
    const source = await GitPolicySource.open({ config: cfg, servers: ['everything'], limits: new MemoryLimitStore(), logger: testLogger(), clock: () => now });
    opened.push(source);
    return source;
  }

  async function rejections(): Promise<string[]> {
    const rows = await db.query<{ reason: string }>("SELECT reason FROM ledger_events WHERE event_type = 'policy.rejected' ORDER BY occurred_at, seq");
    return rows.map((r) => r.reason);
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    sink = await openLedgerSink({ databaseUrl: db.url, migrate: true, label: 'git-policy-state test' });
    repo = await createPolicyRepo({ keys: [key] });
  }, 60_000);

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  afterAll(async () => {
    await sink?.close();
    await repo?.remove();
    await db?.drop();
  });

  it('persists the activated bundle byte for byte and the rollback floor', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'tollgate-policy-state-'));
    const commit = await repo.commit({ revision: 3, allowEcho: true });
    const source = await open(config());
    await source.start(sink);
    expect(await readFile(join(stateDir, 'bundle.json'), 'utf8')).toBe(await readFile(join(repo.dir, 'bundles/bundle.json'), 'utf8'));
    const state = JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')) as Record<string, unknown>;
    expect(state).toMatchObject({ format: 'tollgate.policy-state/v1', highest_revision: 3, git_commit: null, commit });
    expect(state.highest_digest).toBe(source.status().bundle!.digest);
  });

  it('does not serve an expired persisted bundle: without the repository the start fails closed', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'tollgate-policy-state-'));
    const now = Date.now();
    await repo.commit({ revision: 4, allowEcho: true, createdAt: new Date(now - HOUR), expiresAt: new Date(now + HOUR) });
    const first = await open(config(), now);
    await first.start(sink);
    await first.close();

    const later = now + 2 * HOUR;
    const gone = await open(config({ repo: join(repo.dir, 'gone') }), later);
    expect(gone.policyFor('everything')).toBeUndefined();
    const start = gone.start(sink);
    await expect(start).rejects.toBeInstanceOf(GatewayError);
    await expect(start).rejects.toMatchObject({ code: 'policy.unavailable' });
    await expect(start).rejects.toThrow(/the persisted bundle was not served either \(bundle\.expired\)/);
    expect((await rejections()).at(-1)).toMatch(/^bundle\.expired: the persisted bundle .*bundle\.json: the bundle expired at/);

    // A newer, unexpired bundle in the repository is served instead.
    await repo.commit({ revision: 5, allowEcho: false, createdAt: new Date(later - HOUR), expiresAt: new Date(later + HOUR) });
    const fresh = await open(config(), later);
    await fresh.start(sink);
    expect(fresh.policyFor('everything')?.revision).toBe(5);
  });

  it('does not serve a persisted bundle that was altered, nor one no longer signed by a trusted key', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'tollgate-policy-state-'));
    await repo.commit({ revision: 6, allowEcho: true });
    await (await open(config())).start(sink);

    const file = join(stateDir, 'bundle.json');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('"default": "deny"', '"default": "allow"'));
    const altered = await open(config({ repo: join(repo.dir, 'gone') }));
    expect(altered.policyFor('everything')).toBeUndefined();
    await expect(altered.start(sink)).rejects.toThrow(/bundle\.hash_mismatch/);

    await writeFile(file, original);
    const rotated = await open(config({ repo: join(repo.dir, 'gone') }, [generateSigningKey()]));
    expect(rotated.policyFor('everything')).toBeUndefined();
    await expect(rotated.start(sink)).rejects.toThrow(/signature\.untrusted/);

    // The rollback floor holds even when the persisted bundle is not served.
    await writeFile(file, '{ "not": "a bundle" }');
    await repo.commit({ revision: 2, allowEcho: true });
    const rolledBack = await open(config());
    await expect(rolledBack.start(sink)).rejects.toThrow(/refused \(bundle\.rollback\): revision 2 is lower than 6/);
  });

  it('refuses to start on a corrupt state file instead of forgetting the rollback floor', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'tollgate-policy-state-'));
    await writeFile(join(stateDir, 'state.json'), '{"format": "tollgate.policy-state/v1", "highest_revision": "many"}');
    await expect(open(config())).rejects.toMatchObject({ code: 'policy.state', message: expect.stringMatching(/state\.json is corrupt/) });
    await rm(join(stateDir, 'state.json'));
    await writeFile(join(stateDir, 'bundle.json'), '{}');
    await expect(open(config())).rejects.toMatchObject({ code: 'policy.state', message: expect.stringMatching(/missing while bundle\.json exists/) });
  });
});
