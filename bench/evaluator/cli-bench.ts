/**
 * The CLI half of the evaluator benchmark: `tollgate test` over a generated suite of
 * 10,000 cases, and the cold start of `tollgate --help`, both timed as child processes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLimitStore, compilePolicy, loadPolicy, parseSourceDocument, runTestFile, validateDocument } from '../../packages/policy/src/index.js';
import type { Decision, Policy, PolicyTestFile, ToolCall } from '../../packages/policy/src/index.js';
import { generateCallStream, seededRandom } from './call-stream.js';
import { limitedPolicy } from './ccxt-policies.js';

/** Wall times of repeated child-process runs, in milliseconds. */
export interface WallTimes {
  readonly runs: readonly number[];
  readonly median: number;
  readonly p90: number;
  readonly min: number;
}

/** A generated test suite on disk. */
export interface TestSuite {
  readonly dir: string;
  readonly cases: number;
  readonly sequences: number;
  readonly decisions: number;
}

/** The outcome of probing or timing a CLI command: measured, or why it could not be. */
export type CliMeasurement<T> = { readonly available: true; readonly result: T } | { readonly available: false; readonly reason: string };

/** What `tollgate test` reported over the generated suite. */
export interface TestSuiteTiming {
  readonly times: WallTimes;
  readonly cases: number;
  readonly sequences: number;
  readonly decisions: number;
  /** The runner's closing `N passed, M failed` line. */
  readonly summary: string;
  readonly passed: number;
  readonly failed: number;
  readonly exitCode: number;
}

/** The cold start of `tollgate --help`, with `node -e 0` as the floor. */
export interface HelpTiming {
  readonly help: WallTimes;
  readonly bareNode: WallTimes;
  /** How many commands `--help` listed (a skeleton CLI lists none). */
  readonly commandsListed: number;
}

/** Runs the CLI's entry point: `node packages/cli/bin/run.js <args>`. */
export class CliRunner {
  readonly entry: string;
  readonly #cwd: string;
  readonly #env: NodeJS.ProcessEnv;

  constructor(repoRoot: string) {
    this.#cwd = repoRoot;
    this.entry = join(repoRoot, 'packages', 'cli', 'bin', 'run.js');
    // A user's shell has neither: pnpm exec and tsx set them for this process only.
    const env = { ...process.env };
    delete env.NODE_PATH;
    delete env.NODE_OPTIONS;
    this.#env = env;
  }

  /** Runs node with `args` once; returns exit code, output and wall time (ms). */
  run(args: readonly string[]): { code: number; stdout: string; stderr: string; ms: number } {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: this.#cwd, env: this.#env, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.error) throw r.error;
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms };
  }

  /** Whether `tollgate <command> --help` works; else why not. */
  probe(command: readonly string[]): { ok: true } | { ok: false; reason: string } {
    const shown = `node packages/cli/bin/run.js ${[...command, '--help'].join(' ')}`;
    if (!existsSync(this.entry)) return { ok: false, reason: `${this.entry} does not exist` };
    const r = this.run([this.entry, ...command, '--help']);
    if (r.code === 0 && r.stdout.trim() !== '') return { ok: true };
    const why = (r.stderr || r.stdout).trim().split('\n').find((l) => l.trim() !== '') ?? 'no output';
    return { ok: false, reason: `\`${shown}\` exited ${r.code}: ${why.trim()} (build the CLI with \`pnpm build\`)` };
  }

  /** Runs node with `args` `warmup` times untimed, then `runs` times timed. */
  time(args: readonly string[], warmup: number, runs: number, check: (r: { code: number; stdout: string; stderr: string }) => void): WallTimes {
    for (let i = 0; i < warmup; i++) check(this.run(args));
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = this.run(args);
      check(r);
      times.push(r.ms);
    }
    return wallTimes(times);
  }
}

function wallTimes(times: readonly number[]): WallTimes {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  return { runs: times, median: at(0.5), p90: at(0.9), min: sorted[0]! };
}

type Expect = 'allow' | { effect: string; rule: string | null; reason_contains?: string };

function expectationOf(d: Decision): Expect {
  if (d.effect === 'allow') return 'allow';
  // A short, stable piece of the reason: rate-limit reasons end with a retry time.
  return { effect: d.effect, rule: d.rule, reason_contains: d.reason.slice(0, 20) };
}

const sameExpect = (a: Expect, b: Expect): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The policy of the generated suite: the benchmark policy with tight limits, so sequences hit them. */
export function testSuitePolicy(): Policy {
  return limitedPolicy({ callsPerMinute: 120, ordersPerMinute: 10, dailyNotional: 5 });
}

/**
 * Writes `policy.json` and `generated.test.json` (`cases` cases; one in five a sequence of
 * one to three calls, each repeated up to twelve times at one instant, so that order rate
 * limits and the spend cap trip) into a new temporary directory. Expectations are what the
 * compiled policy decides; the runner must agree with every one.
 */
export function writeTestSuite(cases: number, seed: number): TestSuite {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-test-'));
  const policy = testSuitePolicy();
  const random = seededRandom(seed);
  const at = '2026-01-01T09:30:00Z';
  const now = Date.parse(at);
  const stream = generateCallStream({ size: cases * 3, seed: seed + 1, start: now, spacingMs: 0 });
  let next = 0;
  const nextCall = (): ToolCall => stream[next++]!.call;
  const compiled = compilePolicy(policy, { server: 'ccxt' });
  // Like the runner: every case starts with empty counters; a sequence's steps share them.
  const fresh = (): ((call: ToolCall) => Decision) => {
    const context = { now, limits: new MemoryLimitStore() };
    return (call) => compiled.decide(call, context);
  };
  const out: unknown[] = [];
  let sequences = 0;
  let decisions = 0;
  for (let i = 0; i < cases; i++) {
    if (random() >= 0.2) {
      const call = nextCall();
      decisions++;
      out.push({ name: `case ${i + 1}: ${call.tool} by ${call.agent?.id}`, call, expect: expectationOf(fresh()(call)) });
      continue;
    }
    sequences++;
    const decide = fresh();
    const steps: { call: ToolCall; expect: Expect; repeat?: number; at?: string }[] = [];
    const calls = 1 + Math.floor(random() * 3);
    for (let c = 0; c < calls; c++) {
      const call = nextCall();
      const repeat = 1 + Math.floor(random() * 12);
      for (let r = 0; r < repeat; r++) {
        const expect = expectationOf(decide(call));
        decisions++;
        const last = steps[steps.length - 1];
        if (last !== undefined && last.call === call && sameExpect(last.expect, expect)) last.repeat = (last.repeat ?? 1) + 1;
        else steps.push({ call, expect });
      }
    }
    steps[0]!.at = at;
    out.push({ name: `sequence ${i + 1}: ${steps.length} steps`, sequence: steps });
  }
  writeFileSync(join(dir, 'policy.json'), `${JSON.stringify(policy, null, 2)}\n`);
  writeFileSync(join(dir, 'generated.test.json'), `${JSON.stringify({ policy: 'policy.json', cases: out }, null, 1)}\n`);
  return { dir, cases, sequences, decisions };
}

const SUMMARY = /(\d+) passed, (\d+) failed/;

/** Milliseconds spent in each stage of running a test suite in process. */
export interface TestStages {
  /** Read, parse, validate and compile policy.json (`loadPolicy`). */
  readonly policy: number;
  /** Positional JSON parse of the test file (`parseSourceDocument`). */
  readonly parse: number;
  /** JSON Schema validation of the test file (`validateDocument`; the first call compiles the schema). */
  readonly validate: number;
  /** Every case decided and compared (`runTestFile`). */
  readonly run: number;
  readonly total: number;
}

/** The in-process run of a suite: the first (cold) run and the median of the warm ones, by stage. */
export interface InProcessTiming {
  readonly cold: TestStages;
  readonly warm: TestStages;
  readonly warmRuns: number;
}

/**
 * Runs the suite in this process with the policy package's own pipeline — `loadPolicy`,
 * then `parseSourceDocument` + `validateDocument` (what `parseTestFile` does), then
 * `runTestFile` — timing each stage: the work `tollgate test` does, without starting a
 * process or loading the CLI. The first run is cold (schemas compiled, code not yet
 * optimised), as in a CLI process. Throws when a case fails: the suite would be wrong.
 */
export function timeTestInProcess(suite: TestSuite, warmRuns: number): InProcessTiming {
  const runs: TestStages[] = [];
  const clock = (): number => Number(process.hrtime.bigint()) / 1e6;
  for (let i = 0; i <= warmRuns; i++) {
    const policyFile = join(suite.dir, 'policy.json');
    const testFile = join(suite.dir, 'generated.test.json');
    const t0 = clock();
    const loaded = loadPolicy(readFileSync(policyFile, 'utf8'), policyFile, { server: 'ccxt' });
    const t1 = clock();
    const parsed = parseSourceDocument(readFileSync(testFile, 'utf8'), testFile);
    const t2 = clock();
    const diagnostics = parsed.document ? validateDocument(parsed.document, 'test-file') : [];
    const t3 = clock();
    if (!loaded.policy || !parsed.document || diagnostics.length > 0) {
      const d = [...loaded.diagnostics, ...parsed.diagnostics, ...diagnostics][0];
      throw new Error(`the generated suite does not load: ${d ? `${d.file}:${d.line}:${d.column}: ${d.message}` : 'unknown error'}`);
    }
    const result = runTestFile(parsed.document.value as PolicyTestFile, parsed.document, loaded.policy);
    const t4 = clock();
    if (result.failed > 0 || result.passed !== suite.cases) {
      const f = result.cases.find((c) => !c.passed);
      throw new Error(`the generated suite fails in process: ${result.passed} passed, ${result.failed} failed; first: ${f?.name}: ${f?.failure?.mismatches.join('; ')}`);
    }
    runs.push({ policy: t1 - t0, parse: t2 - t1, validate: t3 - t2, run: t4 - t3, total: t4 - t0 });
  }
  const warm = runs.slice(1);
  const median = (key: keyof TestStages): number => {
    const sorted = warm.map((r) => r[key]).sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)]!;
  };
  return {
    cold: runs[0]!,
    warm: { policy: median('policy'), parse: median('parse'), validate: median('validate'), run: median('run'), total: median('total') },
    warmRuns: warm.length,
  };
}

/** Times `tollgate test <dir>` over a generated suite (one untimed run, then `runs` timed). */
export function timeTestCommand(cli: CliRunner, suite: TestSuite, runs: number): CliMeasurement<TestSuiteTiming> {
  const probe = cli.probe(['test']);
  if (!probe.ok) return { available: false, reason: probe.reason };
  let last = { code: -1, stdout: '', stderr: '' };
  const times = cli.time([cli.entry, 'test', suite.dir], 1, runs, (r) => {
    last = r;
  });
  const lines = `${last.stdout}\n${last.stderr}`.split('\n').filter((l) => SUMMARY.test(l));
  const summary = lines[lines.length - 1]?.trim() ?? '';
  const m = SUMMARY.exec(summary);
  return {
    available: true,
    result: {
      times,
      cases: suite.cases,
      sequences: suite.sequences,
      decisions: suite.decisions,
      summary: summary || `(no "N passed, M failed" line; exit ${last.code}: ${(last.stderr || last.stdout).trim().split('\n')[0] ?? ''})`,
      passed: m ? Number(m[1]) : 0,
      failed: m ? Number(m[2]) : 0,
      exitCode: last.code,
    },
  };
}

/** Times `tollgate --help` and bare `node -e 0` cold starts, `runs` each. */
export function timeHelp(cli: CliRunner, runs: number): CliMeasurement<HelpTiming> {
  const probe = cli.probe([]);
  if (!probe.ok) return { available: false, reason: probe.reason };
  let listed = 0;
  const help = cli.time([cli.entry, '--help'], 1, runs, (r) => {
    if (r.code !== 0) throw new Error(`tollgate --help exited ${r.code}: ${r.stderr}`);
    const sections = r.stdout.split(/\n(?=[A-Z]+\n)/).filter((s) => /^\n?(COMMANDS|TOPICS)\n/.test(s));
    listed = sections.reduce((n, s) => n + s.split('\n').filter((l) => /^ {2}\S/.test(l)).length, 0);
  });
  const bareNode = cli.time(['-e', '0'], 1, runs, (r) => {
    if (r.code !== 0) throw new Error(`node -e 0 exited ${r.code}`);
  });
  return { available: true, result: { help, bareNode, commandsListed: listed } };
}
