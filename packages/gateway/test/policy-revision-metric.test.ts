import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import type { GitPolicySource } from '../src/policy/git-policy-source.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, everythingStdio, testLogger } from './fixtures.js';
import { configuredServices } from './gateway-services.js';
import { createPolicyRepo, type PolicyRepo } from './git-policy-repo.js';

const ADMIN_TOKEN = 'revision-metric-admin';

/** The value of one unlabelled sample in Prometheus text, or undefined. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** Waits for the check a restored gateway starts in the background. */
async function firstCheck(source: GitPolicySource): Promise<void> {
  for (let i = 0; i < 500 && source.status().lastCheck === null; i++) await new Promise((r) => setTimeout(r, 10));
}

describe('tollgate_policy_revision shows the bundle the gateway serves, a restored one included', () => {
  let db: TestDatabase;
  let repo: PolicyRepo;
  let stateDir: string;
  let policy: Record<string, unknown>;

  /** A gateway with the admin API and its policy from `policy`. */
  async function start(over: Record<string, unknown> = {}): Promise<RunningGateway> {
    const upstream = everythingStdio();
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'bot', token_sha256: sha256Hex('revision-metric-agent') }],
        upstreams: { everything: { command: upstream.command, args: upstream.args } },
        policy: { ...policy, ...over },
        ledger: { database_url: db.url, migrate: true },
        limits: { store: 'memory' },
        admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
      }),
      join(ROOT, 'gateway.json'),
    );
    return startGateway(config, { logger: testLogger(), services: configuredServices(config) });
  }

  async function revisionGauge(gateway: RunningGateway): Promise<number | undefined> {
    const res = await fetch(`${gateway.admin!.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    return sample(await res.text(), 'tollgate_policy_revision');
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    repo = await createPolicyRepo();
    stateDir = await mkdtemp(join(tmpdir(), 'tollgate-policy-state-'));
    // Neither polled nor watched: only the start-up check and the test's own checks read the repository.
    policy = { git: { repo: repo.dir, poll: '1h', watch: false }, trust: { keys: [{ public_key: repo.keys[0]!.publicKeyPem }] }, state_dir: stateDir };
    // Revision 7 is activated from the repository once, and so persisted in state_dir.
    await repo.commit({ revision: 7, allowEcho: true });
    const first = await start();
    try {
      expect(await revisionGauge(first)).toBe(7);
    } finally {
      await first.shutdown('test set-up over');
    }
  }, 60_000);

  afterAll(async () => {
    await repo?.remove();
    await rm(stateDir, { recursive: true, force: true });
    await db?.drop();
  });

  it('shows the restored revision right after a start without the repository', async () => {
    const moved = `${repo.dir}.away`;
    await rename(repo.dir, moved);
    const gateway = await start();
    try {
      const source = gateway.policies as GitPolicySource;
      expect(source.status().bundle).toMatchObject({ revision: 7, via: 'restored' });
      expect(await revisionGauge(gateway)).toBe(7);
    } finally {
      await gateway.shutdown('test over');
      await rename(moved, repo.dir);
    }
  }, 30_000);

  it('shows the restored revision when the repository still holds the same bundle (nothing new to activate)', async () => {
    const gateway = await start();
    try {
      const source = gateway.policies as GitPolicySource;
      // The first check finds the bundle it restored: unchanged, so nothing is reloaded.
      await firstCheck(source);
      expect(source.status().lastCheck).toMatchObject({ outcome: 'unchanged' });
      expect(source.status().bundle).toMatchObject({ revision: 7, via: 'restored' });
      expect(await revisionGauge(gateway)).toBe(7);
    } finally {
      await gateway.shutdown('test over');
    }
  }, 30_000);

  it('follows a newer bundle activated after the restore', async () => {
    const gateway = await start();
    try {
      const source = gateway.policies as GitPolicySource;
      await firstCheck(source);
      const commit = await repo.commit({ revision: 9, allowEcho: false });
      expect(await source.check()).toMatchObject({ outcome: 'activated', revision: 9, commit });
      expect(await revisionGauge(gateway)).toBe(9);
    } finally {
      await gateway.shutdown('test over');
    }
  }, 30_000);
});
