/**
 * Policy reload from Git (DESIGN §9, issue 5): how long from `git commit` of a new signed
 * bundle until a call through the running gateway is decided under it, over N commits, for
 * - a local repository the gateway watches (no polling), and
 * - a `file://` remote the gateway mirrors and polls (`--poll`, default 250ms);
 * the time to verify, test and compile a bundle of a 1,000-tool policy; and the longest
 * event-loop stall while the Git source activates that bundle, verified inline on the event
 * loop vs in the gateway's verifier thread (only the compile and the swap on the event loop).
 *
 * Each commit flips whether `echo` is allowed, so the first call that comes back with the
 * new answer is the first decided under the new revision. The clock starts just before
 * `git commit` (the bundle is built, signed, written and staged before) and stops when that
 * call returns. The gateway is real: `startGateway` in this process, the everything server as
 * its stdio upstream, the ledger on PostgreSQL (activations are committed to it before the
 * swap), an MCP client over Streamable HTTP.
 *
 * Run: pnpm exec tsx --tsconfig bench/reload/tsconfig.json bench/reload/reload-bench.ts [--commits 20] [--poll 250ms] [--tools 1000] [--rounds 5]
 * Needs PostgreSQL (TOLLGATE_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres) and git.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { openLedgerServices } from '../../packages/ledger/src/index.js';
import { GitPolicySource, abortIsolatingFetch, ledgerServiceOptions, parseGatewayConfig, startGateway, type GitPolicySourceOptions, type RunningGateway } from '../../packages/gateway/src/index.js';
import { connectLedger } from '../../packages/ledger/src/index.js';
import { MemoryLimitStore, buildBundle, generateSigningKey, parseBundle, signBundle, tryCompilePolicy, verifyBundleText } from '../../packages/policy/src/index.js';
import { largeBundleText, longestStall } from '../../packages/gateway/test/large-bundle.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    commits: { type: 'string', default: '20' },
    poll: { type: 'string', default: '250ms' },
    tools: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
  },
});
const COMMITS = Number(values.commits);
const TOOLS = Number(values.tools);
const ROUNDS = Number(values.rounds);
const ADMIN_URL = process.env.TOLLGATE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TOKEN = 'reload-bench';
const key = generateSigningKey();

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
const ms = (v: number): string => `${v.toFixed(1)} ms`;

function everythingEntry(): string {
  const require = createRequire(import.meta.url);
  return resolve(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json', { paths: [ROOT] })), 'dist/index.js');
}

/** The signed bundle of revision `revision`: echo allowed on odd revisions, denied on even ones. */
function bundleOf(revision: number): string {
  const allow = revision % 2 === 1;
  const policy = { version: '1', default: 'deny', tools: { echo: allow ? {} : { action: 'deny', reason: `off in revision ${revision}` } } };
  const test = { policy: 'policy.json', cases: [{ name: 'echo', call: { tool: 'echo', args: { message: 'x' } }, expect: { effect: allow ? 'allow' : 'deny' } }] };
  const bundle = buildBundle({
    files: [
      { path: 'policies/everything/policy.json', text: JSON.stringify(policy) },
      { path: 'policies/everything/echo.test.json', text: JSON.stringify(test) },
    ],
    revision,
    gitCommit: null,
    createdAt: new Date(),
    expiresAt: null,
  });
  return JSON.stringify(signBundle(bundle, key.privateKeyPem), null, 2);
}

async function git(dir: string, ...args: string[]): Promise<string> {
  return (await run('git', args, { cwd: dir })).stdout;
}

async function createRepo(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-reload-repo-'));
  await git(dir, 'init', '--quiet', '--initial-branch=main');
  await git(dir, 'config', 'user.name', 'Bench');
  await git(dir, 'config', 'user.email', 'bench@example.test');
  await git(dir, 'config', 'commit.gpgsign', 'false');
  mkdirSync(join(dir, 'bundles'));
  writeFileSync(join(dir, 'bundles/bundle.json'), bundleOf(1));
  await git(dir, 'add', 'bundles/bundle.json');
  await git(dir, 'commit', '--quiet', '-m', 'revision 1');
  return dir;
}

async function echoAllowed(client: Client): Promise<boolean> {
  return !(await client.callTool({ name: 'echo', arguments: { message: 'x' } })).isError;
}

/** Commits revisions 2..commits+1 and measures each commit -> enforced latency (ms). */
async function measure(label: string, repoPolicy: (repo: string) => Record<string, unknown>, databaseUrl: string): Promise<number[]> {
  const repo = await createRepo();
  const state = mkdtempSync(join(tmpdir(), 'tollgate-reload-state-'));
  let gateway: RunningGateway | undefined;
  let client: Client | undefined;
  try {
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'bench', token_sha256: sha256(TOKEN) }],
        upstreams: { everything: { command: process.execPath, args: [everythingEntry(), 'stdio'] } },
        policy: { ...repoPolicy(repo), trust: { keys: [{ public_key: key.publicKeyPem }] }, state_dir: state },
        ledger: { database_url: databaseUrl, migrate: true },
        limits: { store: 'memory' },
        log: { level: 'warn' },
      }),
      join(ROOT, 'gateway.json'),
    );
    gateway = await startGateway(config, { services: ({ metrics, logger }) => openLedgerServices(ledgerServiceOptions(config, metrics, logger)) });
    client = new Client({ name: 'reload-bench', version: '1' }, { capabilities: {} });
    // The polling loop makes thousands of calls on one connection: give each its own abort signal.
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } }, fetch: abortIsolatingFetch(fetch) }));
    const latencies: number[] = [];
    const commitTimes: number[] = [];
    for (let revision = 2; revision <= COMMITS + 1; revision++) {
      writeFileSync(join(repo, 'bundles/bundle.json'), bundleOf(revision));
      await git(repo, 'add', 'bundles/bundle.json');
      const want = revision % 2 === 1;
      const started = performance.now();
      await git(repo, 'commit', '--quiet', '-m', `revision ${revision}`);
      commitTimes.push(performance.now() - started);
      while ((await echoAllowed(client)) !== want) {
        if (performance.now() - started > 30_000) throw new Error(`${label}: revision ${revision} was not enforced within 30 s`);
      }
      latencies.push(performance.now() - started);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(`${label.padEnd(34)} p50 ${ms(percentile(sorted, 50)).padStart(9)}  p99 ${ms(percentile(sorted, 99)).padStart(9)}  min ${ms(sorted[0]!).padStart(9)}  max ${ms(sorted.at(-1)!).padStart(9)}  (${COMMITS} commits; \`git commit\` itself p50 ${ms(percentile([...commitTimes].sort((a, b) => a - b), 50))})`);
    return sorted;
  } finally {
    await client?.close().catch(() => undefined);
    await gateway?.shutdown('bench over');
    rmSync(repo, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  }
}

const silentLogger = { child: () => silentLogger, trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} } as unknown as GitPolicySourceOptions['logger'];

/**
 * The longest event-loop stall while a Git source (local repository, no ledger) activates a
 * new `tools`-tool bundle, `rounds` activations each way, alternating so both see the same load.
 */
async function activationStalls(): Promise<Record<'inline' | 'worker', number[]>> {
  const repo = await createRepo();
  const dirs = [repo];
  const stalls: Record<'inline' | 'worker', number[]> = { inline: [], worker: [] };
  const sources: GitPolicySource[] = [];
  try {
    const open = async (checker: 'inline' | undefined): Promise<GitPolicySource> => {
      const stateDir = mkdtempSync(join(tmpdir(), 'tollgate-reload-state-'));
      dirs.push(stateDir);
      const source = await GitPolicySource.open({
        config: { kind: 'git', git: { repo, remote: false, ref: 'main', path: 'bundles/bundle.json', pollMs: 0, watch: false }, trust: { keys: [{ public_key: key.publicKeyPem }], threshold: 1 }, stateDir },
        servers: ['big'],
        limits: new MemoryLimitStore(),
        logger: silentLogger,
        ...(checker ? { checker } : {}),
      });
      sources.push(source);
      return source;
    };
    const modes = [['inline', await open('inline')], ['worker', await open(undefined)]] as const;
    let revision = 1;
    for (let round = -1; round < ROUNDS; round++) {
      for (const [mode, source] of modes) {
        writeFileSync(join(repo, 'bundles/bundle.json'), largeBundleText(key.privateKeyPem, { tools: TOOLS, revision: ++revision }));
        await git(repo, 'add', 'bundles/bundle.json');
        await git(repo, 'commit', '--quiet', '-m', `revision ${revision}`);
        const { result, stallMs } = await longestStall(() => source.check());
        if (result.outcome !== 'activated') throw new Error(`${mode}: revision ${revision} was not activated: ${JSON.stringify(result)}`);
        if (round >= 0) stalls[mode].push(stallMs); // round -1 warms up (starts the thread, compiles the code paths)
      }
    }
    return stalls;
  } finally {
    for (const s of sources) await s.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const name = `tollgate_reload_${randomBytes(4).toString('hex')}`;
  const admin = await connectLedger({ databaseUrl: ADMIN_URL });
  await admin.execute(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  try {
    console.log(`commit -> enforced, ${COMMITS} commits each (a call through the gateway decides under the new revision)\n`);
    const local = await measure('local repository (watch, no poll)', (repo) => ({ git: { repo, poll: 'off', watch: true } }), databaseUrl);
    const remote = await measure(`file:// remote (poll ${values.poll})`, (repo) => ({ git: { repo: `file://${repo}`, poll: values.poll } }), databaseUrl);

    const text = largeBundleText(key.privateKeyPem, { tools: TOOLS, revision: 1 });
    const times: number[] = [];
    let summary = '';
    for (let i = 0; i < ROUNDS; i++) {
      const started = performance.now();
      const v = verifyBundleText(text, { trust: [{ public_key: key.publicKeyPem }], threshold: 1, now: Date.now(), limits: new MemoryLimitStore() });
      times.push(performance.now() - started);
      if (!v.ok) throw new Error(`the ${TOOLS}-tool bundle was refused: ${v.refusal.code}: ${v.refusal.message}`);
      summary = `${v.testSummary.passed} tests passed`;
    }
    times.sort((a, b) => a - b);
    console.log(`\nverify + test + compile, ${TOOLS} tools (${(text.length / 1024).toFixed(0)} KiB, ${summary}): median ${ms(percentile(times, 50))}, min ${ms(times[0]!)} over ${ROUNDS} rounds`);
    // The part that must stay on the event loop: compiling the accepted policy (closures cannot cross threads).
    const policyValue = parseBundle(text).files['policies/big/policy.json'];
    const compileTimes: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const started = performance.now();
      tryCompilePolicy(policyValue, { server: 'big', revision: 1, validated: true, limits: new MemoryLimitStore() });
      compileTimes.push(performance.now() - started);
    }
    compileTimes.sort((a, b) => a - b);
    console.log(`  of which compiling the validated policy alone: median ${ms(percentile(compileTimes, 50))}, min ${ms(compileTimes[0]!)} (${((100 * percentile(compileTimes, 50)) / percentile(times, 50)).toFixed(0)}% of the median)`);

    const stalls = await activationStalls();
    const inline = [...stalls.inline].sort((a, b) => a - b);
    const worker = [...stalls.worker].sort((a, b) => a - b);
    const list = (v: readonly number[]): string => v.map((x) => x.toFixed(0)).join(', ');
    console.log(`\nlongest event-loop stall while the Git source activates a new ${TOOLS}-tool bundle (1 ms timer gap, ${ROUNDS} activations each):`);
    console.log(`  inline (verify on the event loop)      median ${ms(percentile(inline, 50)).padStart(9)}  max ${ms(inline.at(-1)!).padStart(9)}  [${list(stalls.inline)}]`);
    console.log(`  worker thread (compile + swap only)    median ${ms(percentile(worker, 50)).padStart(9)}  max ${ms(worker.at(-1)!).padStart(9)}  [${list(stalls.worker)}]`);
    console.log(`  ratio worker / inline: median ${(percentile(worker, 50) / percentile(inline, 50)).toFixed(2)}, max ${(worker.at(-1)! / inline.at(-1)!).toFixed(2)}`);
    const p50 = percentile(local, 50);
    console.log(`\nlocal p50 ${ms(p50)} (goal <= 500 ms: ${p50 <= 500 ? 'met' : 'NOT met'}); file:// remote p50 ${ms(percentile(remote, 50))}, of which the poll interval is half on average`);
  } finally {
    await admin.execute(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.close();
  }
}

await main();
