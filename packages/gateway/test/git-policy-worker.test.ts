import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MemoryLimitStore, generateSigningKey, verifyBundleText, type PolicyBundle } from '@tollgate/policy';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GitPolicyConfig } from '../src/config/gateway-config.js';
import { BundleCheckThread, type BundleChecker } from '../src/policy/git-bundle-check-thread.js';
import { GitPolicySource } from '../src/policy/git-policy-source.js';
import { testLogger } from './fixtures.js';
import { createPolicyRepo, type PolicyRepo } from './git-policy-repo.js';
import { largeBundleText, longestStall } from './large-bundle.js';

const TOOLS = 1000;
/** Test cases per tool: the tests run in the verifier thread, so a heavy suite shows the difference clearly. */
const CASES_PER_TOOL = 4;

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('Git policy source: bundles are verified off the event loop', () => {
  const key = generateSigningKey();
  let repo: PolicyRepo;
  const dirs: string[] = [];
  const opened: GitPolicySource[] = [];

  beforeAll(async () => {
    repo = await createPolicyRepo({ keys: [key] });
  });

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  afterAll(async () => {
    await repo?.remove();
  });

  async function tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  }

  async function open(stateDir: string, servers: readonly string[], checker?: BundleChecker | 'inline'): Promise<GitPolicySource> {
    const config: GitPolicyConfig = {
      kind: 'git',
      git: { repo: repo.dir, remote: false, ref: 'main', path: 'bundles/bundle.json', pollMs: 0, watch: false },
      trust: { keys: [{ public_key: key.publicKeyPem }], threshold: 1 },
      stateDir,
    };
    const source = await GitPolicySource.open({ config, servers, limits: new MemoryLimitStore(), logger: testLogger(), ...(checker ? { checker } : {}) });
    opened.push(source);
    return source;
  }

  it('keeps the event loop responsive while a 1,000-tool bundle with 4,000 tests is verified, unlike inline verification', async () => {
    const stalls: Record<'inline' | 'worker', number[]> = { inline: [], worker: [] };
    let revision = 0;
    let text = '';
    // Alternate the two ways, so both see the same load on the machine.
    const inline = await open(await tempDir('tollgate-worker-inline-'), ['big'], 'inline');
    const worker = await open(await tempDir('tollgate-worker-thread-'), ['big']);
    // Warm both (the thread starts on its first check; the first compile of each code path is slower).
    for (const source of [inline, worker]) {
      await repo.commit({ revision: ++revision, allowEcho: true, text: largeBundleText(key.privateKeyPem, { tools: TOOLS, revision, casesPerTool: CASES_PER_TOOL }) });
      expect(await source.check()).toMatchObject({ outcome: 'activated', revision });
    }
    for (let round = 0; round < 3; round++) {
      for (const [mode, source] of [['inline', inline], ['worker', worker]] as const) {
        text = largeBundleText(key.privateKeyPem, { tools: TOOLS, revision: ++revision, casesPerTool: CASES_PER_TOOL });
        await repo.commit({ revision, allowEcho: true, text });
        const { result, stallMs } = await longestStall(() => source.check());
        expect(result).toMatchObject({ outcome: 'activated', revision });
        stalls[mode].push(stallMs);
      }
    }
    // The thread's verdict is compiled here and enforced like an inline one.
    const policy = worker.policyFor('big')!;
    expect(policy.revision).toBe(revision);
    expect(policy.decide({ tool: 'tool_2', args: { symbol: 'X2/USDT' } })).toMatchObject({ effect: 'deny', rule: 'tools.tool_2.deny_if[0]', reason: `not that market (revision ${revision})` });
    expect(policy.decide({ tool: 'tool_0', args: {} }).effect).toBe('allow');
    const direct = verifyBundleText(text, { trust: [{ public_key: key.publicKeyPem }], threshold: 1, now: Date.now() });
    expect(direct.ok && direct.policies.get('big')!.digest).toBe(policy.digest);

    const inlineStall = median(stalls.inline);
    const workerStall = median(stalls.worker);
    // Only the compilation of the accepted policy (closures cannot cross threads) stays on the
    // event loop: well under half of what inline verification blocks it for.
    expect(workerStall, `longest stall: worker ${stalls.worker.map((s) => s.toFixed(0)).join('/')} ms vs inline ${stalls.inline.map((s) => s.toFixed(0)).join('/')} ms`).toBeLessThan(inlineStall * 0.5);
  }, 120_000);

  it('refuses a bad bundle in the thread with the same code and message as inline verification', async () => {
    const stateInline = await tempDir('tollgate-worker-inline-');
    const stateWorker = await tempDir('tollgate-worker-thread-');
    await repo.commit({ revision: 1000, allowEcho: true });
    const inline = await open(stateInline, ['everything'], 'inline');
    const worker = await open(stateWorker, ['everything']);
    expect(await inline.check()).toMatchObject({ outcome: 'activated', revision: 1000 });
    expect(await worker.check()).toMatchObject({ outcome: 'activated', revision: 1000 });
    const refusals = [
      { revision: 1001, allowEcho: false, failingTest: true },
      { revision: 1001, allowEcho: false, tamper: (b: PolicyBundle): PolicyBundle => ({ ...b, manifest: { ...b.manifest, revision: 1002 } }) },
      { revision: 999, allowEcho: false },
      { revision: 1001, allowEcho: false, servers: ['other'] },
      { revision: 1001, allowEcho: false, text: '{ not json' },
    ];
    for (const spec of refusals) {
      await repo.commit(spec);
      const a = await inline.check();
      const b = await worker.check();
      expect(a.outcome).toBe('refused');
      expect(b).toEqual(a);
      expect(worker.status().lastRefusal).toEqual({ ...inline.status().lastRefusal, at: worker.status().lastRefusal!.at });
    }
    expect(worker.policyFor('everything')!.revision).toBe(1000);
  }, 60_000);

  it('fails the check closed when the verifier thread crashes or cannot start: the last good bundle stays', async () => {
    const scripts = await tempDir('tollgate-worker-scripts-');
    const crashing = join(scripts, 'crashing-worker.mjs');
    await writeFile(crashing, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => process.exit(3));\n");
    const broken = join(scripts, 'broken-worker.mjs');
    await writeFile(broken, "throw new Error('the verifier cannot load');\n");

    // Revision 2000 activated (and persisted) through a working thread.
    const stateDir = await tempDir('tollgate-worker-state-');
    await repo.commit({ revision: 2000, allowEcho: true });
    const good = await open(stateDir, ['everything']);
    expect(await good.check()).toMatchObject({ outcome: 'activated', revision: 2000 });
    await good.close();

    for (const [script, why] of [
      [crashing, /could not be verified: the bundle verifier thread exited \(code 3\)/],
      [broken, /could not be verified: the bundle verifier thread failed: the verifier cannot load/],
    ] as const) {
      // A restart serves the persisted bundle (verified on the event loop at start-up).
      const source = await open(stateDir, ['everything'], new BundleCheckThread({ entry: pathToFileURL(script) }));
      expect(source.policyFor('everything')!.revision).toBe(2000);
      const head = await repo.commit({ revision: 2001, allowEcho: false });
      const outcome = await source.check();
      expect(outcome.outcome).toBe('error');
      expect(outcome.outcome === 'error' && outcome.message).toMatch(why);
      expect(outcome.outcome === 'error' && outcome.message).toContain(`bundle at commit ${head}`);
      expect(source.policyFor('everything')!.revision).toBe(2000);
      expect(source.status()).toMatchObject({ bundle: { revision: 2000 }, lastCheck: { outcome: 'error', commit: null }, lastRefusal: null });
      expect(source.status().lastCheck!.error).toMatch(why);
      // Not remembered as examined: the next check verifies the same commit again (and fails again).
      expect((await source.check()).outcome).toBe('error');
      await source.close();
    }
    // A working thread then activates it.
    const source = await open(stateDir, ['everything']);
    expect(await source.check()).toMatchObject({ outcome: 'activated', revision: 2001 });
  }, 60_000);
});
