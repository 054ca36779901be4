/**
 * Evaluator benchmark: Tollgate's compiled policy (`CompiledPolicy.decide`) against Cedar
 * (`@cedar-policy/cedar-wasm`, stateful API over a preparsed policy set) on equivalent
 * policies and one deterministic stream of CCXT tool calls; then `tollgate test` over
 * 10,000 generated cases and the cold start of `tollgate --help`.
 *
 *   pnpm exec tsx bench/evaluator/evaluator-bench.ts [--calls 100000] [--seed 42] [--no-cli]
 *
 * Exits 1 when the two engines disagree on any call of the stream (the policies would not
 * be equivalent, and the comparison would mean nothing).
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { StatefulAuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import { readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MemoryLimitStore, compilePolicy } from '../../packages/policy/src/index.js';
import type { CompiledPolicy, Decision, ToolCall } from '../../packages/policy/src/index.js';
import { generateCallStream, toCedarRequest } from './call-stream.js';
import type { StreamCall } from './call-stream.js';
import { CEDAR_POLICIES, TOLLGATE_POLICY, cedarSchema, limitedPolicy } from './ccxt-policies.js';
import { CliRunner, timeHelp, timeTestCommand, timeTestInProcess, writeTestSuite } from './cli-bench.js';
import type { CliMeasurement, HelpTiming, InProcessTiming, TestStages, TestSuite, TestSuiteTiming } from './cli-bench.js';
import { measureThroughputInterleaved, observed, sampleBatched, samplePerCall, sampleTimerCost, summarize } from './latency-sampler.js';
import type { DecisionKernel, LatencySummary, ThroughputPlan, ThroughputResult } from './latency-sampler.js';

const GOAL_RATIO = 100;
const GOAL_P99_NS = 1000;
const GOAL_TEST_MS = 1000;
const GOAL_HELP_MS = 300;
const BATCH = 100;
/** Rounds over which the timed throughput passes of all engines are interleaved. */
const ROUNDS = 5;
const SERVER = 'ccxt';
/** Sized so that each limit trips on a few percent of this stream's calls, as a busy desk's would. */
const LIMITS = { callsPerMinute: 330, ordersPerMinute: 20, dailyNotional: 2500 } as const;
const POLICY_SET_ID = 'ccxt-bench';
const FLOOR_SET_ID = 'cedar-floor';

const { values: flags } = parseArgs({
  options: {
    calls: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '42' },
    'no-cli': { type: 'boolean', default: false },
  },
});
const SIZE = Number(flags.calls);
const SEED = Number(flags.seed);
if (!Number.isInteger(SIZE) || SIZE < 1000) throw new Error(`--calls must be an integer of at least 1000 (got ${flags.calls})`);
if (!Number.isInteger(SEED)) throw new Error(`--seed must be an integer (got ${flags.seed})`);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

// ---------------------------------------------------------------- formatting

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
function rate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M/s` : `${int(n)}/s`;
}
function ns(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} ms`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} µs`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)} µs`;
  return `${Math.round(n)} ns`;
}
const ms = (n: number): string => `${n.toFixed(1)} ms`;
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, c) => (c === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}
const say = (text = ''): void => void process.stdout.write(`${text}\n`);

// ---------------------------------------------------------------- setup

function cpuModel(): string {
  const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
  return line?.split(':')[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
}

function prepareCedar(): void {
  const validation = cedar.validate({ schema: cedarSchema() as never, policies: { staticPolicies: CEDAR_POLICIES }, validationSettings: { mode: 'strict' } });
  if (validation.type !== 'success') throw new Error(`Cedar could not validate the policy set: ${validation.errors.map((e) => e.message).join('; ')}`);
  if (validation.validationErrors.length > 0) {
    throw new Error(`the Cedar policy set does not type-check against the CCXT schema:\n${validation.validationErrors.map((e) => `  ${e.policyId}: ${e.error.message}`).join('\n')}`);
  }
  const parsed = cedar.preparsePolicySet(POLICY_SET_ID, { staticPolicies: CEDAR_POLICIES });
  if (parsed.type !== 'success') throw new Error(`Cedar could not parse the policy set: ${parsed.errors.map((e) => e.message).join('; ')}`);
  const floor = cedar.preparsePolicySet(FLOOR_SET_ID, { staticPolicies: { ticker: 'permit (principal, action == Action::"fetch_market_ticker", resource);' } });
  if (floor.type !== 'success') throw new Error(`Cedar could not parse the floor policy set: ${floor.errors.map((e) => e.message).join('; ')}`);
}

/** Proves the two policies equivalent on this stream: both must allow exactly the same calls. */
function checkAgreement(policy: CompiledPolicy, calls: readonly ToolCall[], requests: readonly StatefulAuthorizationCall[]): Record<string, number> {
  const effects: Record<string, number> = { allow: 0, deny: 0, approval_required: 0, hidden: 0 };
  const mismatches: string[] = [];
  let cedarErrors = 0;
  for (let i = 0; i < calls.length; i++) {
    const d: Decision = policy.decide(calls[i]!);
    const answer = cedar.statefulIsAuthorized(requests[i]!);
    if (answer.type !== 'success') throw new Error(`Cedar failed on call ${i} (${JSON.stringify(calls[i])}): ${answer.errors.map((e) => e.message).join('; ')}`);
    effects[d.effect] = (effects[d.effect] ?? 0) + 1;
    cedarErrors += answer.response.diagnostics.errors.length;
    if ((d.effect === 'allow') !== (answer.response.decision === 'allow') && mismatches.length < 10) {
      mismatches.push(
        `  call ${i}: ${JSON.stringify(calls[i])}\n    tollgate: ${d.effect} (${d.rule ?? 'no rule'}: ${d.reason})\n    cedar:    ${answer.response.decision} (policies: ${answer.response.diagnostics.reason.join(', ') || 'none'}; errors: ${answer.response.diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`).join('; ') || 'none'})`,
      );
    }
  }
  if (mismatches.length > 0) {
    say('FAIL: Tollgate and Cedar disagree on allow vs not-allow; the policies are not equivalent:');
    for (const m of mismatches) say(m);
    process.exit(1);
  }
  if (cedarErrors > 0) {
    say(`FAIL: Cedar reported ${cedarErrors} policy evaluation errors on a schema-valid stream; the Cedar policy is unsound.`);
    process.exit(1);
  }
  return effects;
}

// ---------------------------------------------------------------- kernels

function tollgateKernel(policy: CompiledPolicy, calls: readonly ToolCall[]): DecisionKernel {
  return (from, to) => {
    let allowed = 0;
    for (let i = from; i < to; i++) if (policy.decide(calls[i]!).effect === 'allow') allowed++;
    return allowed;
  };
}

/** A fresh policy and limit store per call of `prepare`; the clock follows the stream's arrival times. */
function limitedKernelFactory(stream: readonly StreamCall[], calls: readonly ToolCall[]): () => DecisionKernel {
  const policy = limitedPolicy(LIMITS);
  let now = 0;
  const clock = (): number => now;
  return () => {
    const compiled = compilePolicy(policy, { server: SERVER, limits: new MemoryLimitStore(), clock, validated: true });
    return (from, to) => {
      let allowed = 0;
      for (let i = from; i < to; i++) {
        now = stream[i]!.at;
        if (compiled.decide(calls[i]!).effect === 'allow') allowed++;
      }
      return allowed;
    };
  };
}

function cedarKernel(requests: readonly StatefulAuthorizationCall[]): DecisionKernel {
  return (from, to) => {
    let allowed = 0;
    for (let i = from; i < to; i++) {
      const answer = cedar.statefulIsAuthorized(requests[i]!);
      if (answer.type === 'success' && answer.response.decision === 'allow') allowed++;
    }
    return allowed;
  };
}

/** What the limited policy decides over one pass of the stream, by effect and by kind of limit that denied. */
function limitedBreakdown(s: readonly StreamCall[], c: readonly ToolCall[]): string {
  let now = 0;
  const policy = compilePolicy(limitedPolicy(LIMITS), { server: SERVER, limits: new MemoryLimitStore(), clock: () => now, validated: true });
  const counts = new Map<string, number>();
  for (let i = 0; i < c.length; i++) {
    now = s[i]!.at;
    const d = policy.decide(c[i]!);
    const spend = d.limits?.find((l) => l.rule === d.rule)?.counter === 'daily-notional';
    const kind = d.code === 'rate_limited' ? (spend ? 'deny by the spend cap' : 'deny by a rate limit') : d.effect;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${int(n)} ${k}`).join(', ');
}

// ---------------------------------------------------------------- run

interface EngineResult {
  readonly name: string;
  readonly throughput: ThroughputResult;
  readonly perCall: LatencySummary;
  readonly batched: LatencySummary;
}

/** Concatenates the samples of several passes. */
function passes(count: number, sample: () => Float64Array): Float64Array {
  const parts = Array.from({ length: count }, sample);
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One engine of the comparison: how to run it, and how many passes of each kind. */
interface Engine extends ThroughputPlan {
  readonly name: string;
  /** Warm passes of per-decision and of batched timing (samples of all passes pooled, so noise is kept, not picked away). */
  readonly latencyPasses: number;
}

/** Throughput of every engine (interleaved), then each engine's latency passes. */
function measureEngines(engines: readonly Engine[]): EngineResult[] {
  process.stderr.write(`throughput: ${engines.map((e) => `${e.name} ${e.warmup} warm-up + ${e.passes} timed`).join('; ')} passes of ${int(SIZE)} calls, interleaved…\n`);
  const throughputs = measureThroughputInterleaved(engines, SIZE, ROUNDS);
  return engines.map((e, i) => {
    process.stderr.write(`latency: ${e.name}, ${e.latencyPasses} pass(es)…\n`);
    const perCall = summarize(passes(e.latencyPasses, () => samplePerCall(e.prepare(), SIZE)));
    const batched = summarize(passes(e.latencyPasses, () => sampleBatched(e.prepare(), SIZE, BATCH)));
    return { name: e.name, throughput: throughputs[i]!, perCall, batched };
  });
}

say('# Evaluator benchmark: Tollgate CompiledPolicy.decide vs Cedar (cedar-wasm)');
say();
say(`machine: ${availableParallelism()} cores (nproc), ${cpuModel()}; node ${process.version} (V8 ${process.versions.v8}); cedar-wasm ${cedar.getCedarSDKVersion()} (Cedar ${cedar.getCedarVersion()})`);
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' / ');
say(`load:    ${load()} (1 / 5 / 15 min) at the start; figures are only comparable on an otherwise idle machine`);
say(`stream:  ${int(SIZE)} CCXT tool calls, seed ${SEED}, 12 agents, one call every 10 ms of simulated time`);
say();

const stream = generateCallStream({ size: SIZE, seed: SEED, start: Date.parse('2026-01-05T08:00:00Z'), spacingMs: 10 });
const calls = stream.map((s) => s.call);
const compared = compilePolicy(TOLLGATE_POLICY, { server: SERVER });
prepareCedar();
const requests = calls.map((c) => toCedarRequest(c, SERVER, POLICY_SET_ID));

process.stderr.write('checking that both engines allow exactly the same calls…\n');
const effects = checkAgreement(compared, calls, requests);
say(
  `equivalence: both engines allow the same ${int(effects.allow!)} of ${int(SIZE)} calls and refuse the other ${int(SIZE - effects.allow!)} ` +
    `(Tollgate: ${int(effects.deny!)} deny, ${int(effects.approval_required!)} approval_required, ${int(effects.hidden!)} hidden; Cedar: deny). Cedar policy set type-checks in strict mode against the CCXT schema.`,
);
say();

/** Cedar's fixed cost per call: a one-policy set and a request with an empty context and no entities. */
const floorRequest: StatefulAuthorizationCall = {
  principal: { type: 'Agent', id: 'agent-0' },
  action: { type: 'Action', id: 'fetch_market_ticker' },
  resource: { type: 'Server', id: SERVER },
  context: {},
  preparsedPolicySetId: FLOOR_SET_ID,
  entities: [],
};
const floorRequests = new Array<StatefulAuthorizationCall>(SIZE).fill(floorRequest);
const [tollgate, cedarResult, limited, cedarFloor] = measureEngines([
  { name: 'Tollgate', prepare: () => tollgateKernel(compared, calls), warmup: 5, passes: 15, latencyPasses: 3 },
  { name: 'Cedar', prepare: () => cedarKernel(requests), warmup: 1, passes: 5, latencyPasses: 1 },
  { name: 'Tollgate + limits', prepare: limitedKernelFactory(stream, calls), warmup: 5, passes: 15, latencyPasses: 3 },
  { name: 'Cedar floor: 1 policy, empty request', prepare: () => cedarKernel(floorRequests), warmup: 1, passes: 5, latencyPasses: 1 },
]) as [EngineResult, EngineResult, EngineResult, EngineResult];
const timer = summarize(passes(3, () => sampleTimerCost(SIZE)));
const limitedDecisions = limitedBreakdown(stream, calls);

const row = (r: EngineResult): string[] => [
  r.name,
  rate(r.throughput.median),
  rate(r.throughput.best),
  ns(r.perCall.p50),
  ns(r.perCall.p99),
  ns(r.perCall.p999),
  ns(r.batched.p50),
  ns(r.batched.p99),
  `${((r.throughput.allowed / SIZE) * 100).toFixed(1)}%`,
];
say(
  table(
    ['engine', 'decisions/s (median)', 'best', 'p50', 'p99', 'p99.9', `p50 (/${BATCH})`, `p99 (/${BATCH})`, 'allowed'],
    [row(tollgate), row(cedarResult), row(limited), row(cedarFloor), ['timer alone (hrtime.bigint × 2)', '', '', ns(timer.p50), ns(timer.p99), ns(timer.p999), '', '', '']],
  ),
);
say();
say('- Tollgate and Cedar decide the same policy (permits and forbids over the same tools and argument conditions), without limits: Cedar has no stateful counters.');
say(
  `- "Tollgate + limits" adds an all-tools rate limit (${int(LIMITS.callsPerMinute)}/min per agent), an order rate limit (${LIMITS.ordersPerMinute}/min per agent) and a global daily spend cap`,
);
say(`  (${int(LIMITS.dailyNotional)} units, increment_from args.amount) on an in-memory limit store, the clock following the stream; it is not compared with Cedar.`);
say(`  Its decisions: ${limitedDecisions}.`);
say(`- Throughput: whole-stream passes after warm-up (Tollgate 5 + 15 timed, Cedar 1 + 5 timed), the timed passes of all engines interleaved over ${ROUNDS} rounds; median and best pass.`);
say('- p50/p99/p99.9: one process.hrtime.bigint() before and after each decision, over warm passes of the stream (Tollgate 3, pooled; Cedar 1);');
say('  these include the timer\'s own cost (the "timer alone" row, 3 passes of an empty kernel).');
say(`- p50/p99 (/${BATCH}): each group of ${BATCH} consecutive decisions timed together and divided by ${BATCH}; no timer cost, but averaged within each group.`);
say('- "Cedar floor" is not the compared policy: one permit and a request with an empty context and no entities, i.e. the least any cedar-wasm call costs here.');
say('- Cedar requests (principal, action, resource, context with decimals, agent entity with tags) are built before timing: Cedar\'s figures exclude translating a tool call into a request.');
say(`- Every timed pass must allow the same count as the equivalence check (work observed: ${observed()}).`);
say();

const ratio = tollgate.throughput.median / cedarResult.throughput.median;
const latencyRatio50 = cedarResult.perCall.p50 / tollgate.perCall.p50;
const latencyRatio99 = cedarResult.perCall.p99 / tollgate.perCall.p99;
const netP50 = Math.max(0, tollgate.perCall.p50 - timer.p50);
say(`ratio: Tollgate/Cedar throughput ${ratio.toFixed(1)}× (median passes; best passes ${(tollgate.throughput.best / cedarResult.throughput.best).toFixed(1)}×)`);
say(`ratio: Tollgate/Cedar floor throughput ${(tollgate.throughput.median / cedarFloor.throughput.median).toFixed(1)}× (Cedar's least possible call, not an equivalent policy)`);
say(`ratio: Cedar/Tollgate latency ${latencyRatio50.toFixed(1)}× at p50, ${latencyRatio99.toFixed(1)}× at p99 (per-decision timing, timer cost included on both sides)`);
say(`Tollgate p50 net of the timer's median: ~${ns(netP50)}; with limits: ${ns(Math.max(0, limited.perCall.p50 - timer.p50))}`);
say();

// ---------------------------------------------------------------- CLI

let suite: TestSuite | undefined;
let inProcess: InProcessTiming | undefined;
let testRun: CliMeasurement<TestSuiteTiming> = { available: false, reason: 'skipped (--no-cli)' };
let helpRun: CliMeasurement<HelpTiming> = { available: false, reason: 'skipped (--no-cli)' };
if (!flags['no-cli']) {
  const cli = new CliRunner(REPO_ROOT);
  process.stderr.write('generating 10,000 test cases and running them in process…\n');
  suite = writeTestSuite(10_000, 20_260_101);
  try {
    inProcess = timeTestInProcess(suite, 3);
    process.stderr.write('timing tollgate test over the generated cases…\n');
    testRun = timeTestCommand(cli, suite, 5);
  } finally {
    rmSync(suite.dir, { recursive: true, force: true });
  }
  process.stderr.write('timing tollgate --help cold starts…\n');
  helpRun = timeHelp(cli, 20);
}

say('## tollgate test (10,000 generated cases)');
if (suite && inProcess) {
  say(`suite: ${int(suite.cases)} cases (${int(suite.cases - suite.sequences)} single calls, ${int(suite.sequences)} sequences; ${int(suite.decisions)} decisions), policy with rate and spend limits`);
  const stages = (t: TestStages): string[] => [ms(t.policy), ms(t.parse), ms(t.validate), ms(t.run), ms(t.total)];
  say('in process, the same pipeline without a process start or the CLI (every case passes):');
  say(
    table(
      ['run', 'loadPolicy', 'parseSourceDocument', 'validateDocument', 'runTestFile', 'total'],
      [
        ['first run (compiles the test-file schema)', ...stages(inProcess.cold)],
        [`warm (median of ${inProcess.warmRuns})`, ...stages(inProcess.warm)],
      ],
    ),
  );
}
if (testRun.available) {
  const t = testRun.result;
  say(`runner: "${t.summary}" (exit ${t.exitCode})`);
  say(`wall time (node packages/cli/bin/run.js test <dir>, 1 warm-up + ${t.times.runs.length} runs): median ${ms(t.times.median)}, p90 ${ms(t.times.p90)}, min ${ms(t.times.min)}`);
} else {
  say(`tollgate test: not available — ${testRun.reason}`);
}
say();
say('## tollgate --help cold start');
if (helpRun.available) {
  const h = helpRun.result;
  say(
    table(
      ['command', 'median', 'p90', 'min'],
      [
        ['node packages/cli/bin/run.js --help', ms(h.help.median), ms(h.help.p90), ms(h.help.min)],
        ['node -e 0 (floor)', ms(h.bareNode.median), ms(h.bareNode.p90), ms(h.bareNode.min)],
      ],
    ),
  );
  say(`(${h.help.runs.length} runs each after one warm-up; --help listed ${h.commandsListed} commands and topics)`);
} else {
  say(`tollgate --help: not available — ${helpRun.reason}`);
}
say();

// ---------------------------------------------------------------- verdicts

const verdict = (met: boolean): string => (met ? 'MET' : 'NOT MET');
say(`load at the end: ${load()} (1 / 5 / 15 min)`);
say();
say('## Verdicts');
say(`throughput ≥ ${GOAL_RATIO}× Cedar: ${verdict(ratio >= GOAL_RATIO)} (${ratio.toFixed(1)}×: ${rate(tollgate.throughput.median)} vs ${rate(cedarResult.throughput.median)})`);
say(`p99 ≤ 1 µs per decision: ${verdict(tollgate.perCall.p99 <= GOAL_P99_NS)} (p99 ${ns(tollgate.perCall.p99)} per decision, timer cost included; batched p99 ${ns(tollgate.batched.p99)})`);
if (testRun.available) {
  const t = testRun.result;
  const correct = t.exitCode === 0 && t.failed === 0 && t.passed === t.cases;
  say(
    `tollgate test over 10,000 cases ≤ 1 s: ${verdict(t.times.median <= GOAL_TEST_MS)} (median ${ms(t.times.median)})` +
      (correct ? '' : `; note: the runner did not pass every case ("${t.summary}", exit ${t.exitCode})`),
  );
} else {
  say(`tollgate test over 10,000 cases ≤ 1 s: NOT MEASURED (not available: ${testRun.reason})`);
}
if (helpRun.available) {
  say(`tollgate --help cold start ≤ 300 ms: ${verdict(helpRun.result.help.median <= GOAL_HELP_MS)} (median ${ms(helpRun.result.help.median)}; node -e 0: ${ms(helpRun.result.bareNode.median)})`);
} else {
  say(`tollgate --help cold start ≤ 300 ms: NOT MEASURED (not available: ${helpRun.reason})`);
}
