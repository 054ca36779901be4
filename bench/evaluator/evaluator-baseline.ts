/**
 * `decide` of this checkout against another checkout of the policy package, side by side:
 * the CCXT policy of the evaluator benchmark without and with limits, over the same call
 * stream, each tree in a child process of its own (its own JIT), the trees alternated round
 * by round (and which goes first, too) so that the machine's drift falls on both. Prints each tree's median ns per
 * decision and the median of the per-round ratios (this / baseline).
 *
 *   pnpm exec tsx bench/evaluator/evaluator-baseline.ts --baseline /path/to/other/checkout [--rounds 9]
 *
 * The baseline needs its sources and node_modules (a copy of a checkout with `pnpm install`
 * done); nothing needs building. Both trees decide the same stream with their own
 * `bench/evaluator` policy and stream generator, which must agree on the allowed count.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface RoundResult {
  readonly plainNs: number;
  readonly limitsNs: number;
  readonly allowed: number;
}

const SIZE = 100_000;
const PASSES = 25;
const WARMUP = 5;

if (process.env.EVALUATOR_ROOT !== undefined) {
  // The child: one tree, PASSES passes of each policy, the median of the passes after WARMUP.
  console.log(JSON.stringify(await measure(process.env.EVALUATOR_ROOT)));
} else {
  const { values } = parseArgs({ options: { baseline: { type: 'string' }, rounds: { type: 'string', default: '9' } } });
  const baseline = values.baseline;
  if (!baseline || !existsSync(`${baseline}/packages/policy/src/index.ts`)) throw new Error('--baseline must name a checkout with packages/policy/src');
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer (got ${values.rounds})`);
  const here = fileURLToPath(new URL('../../', import.meta.url));
  const run = (root: string): RoundResult =>
    JSON.parse(execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], { env: { ...process.env, EVALUATOR_ROOT: root }, encoding: 'utf8' }).trim().split('\n').at(-1)!) as RoundResult;
  const mine: RoundResult[] = [];
  const theirs: RoundResult[] = [];
  for (let r = 0; r < rounds; r++) {
    // Each tree goes first in every other round: neither gets the machine's better half.
    if (r % 2 === 0) {
      theirs.push(run(baseline));
      mine.push(run(here));
    } else {
      mine.push(run(here));
      theirs.push(run(baseline));
    }
    const [a, b] = [mine.at(-1)!, theirs.at(-1)!];
    if (a.allowed !== b.allowed) throw new Error(`the trees disagree: ${a.allowed} allowed here, ${b.allowed} in the baseline`);
    console.log(`round ${r + 1}: plain ${b.plainNs.toFixed(1)} → ${a.plainNs.toFixed(1)} ns, limits ${b.limitsNs.toFixed(1)} → ${a.limitsNs.toFixed(1)} ns`);
  }
  for (const key of ['plainNs', 'limitsNs'] as const) {
    const ratios = mine.map((m, i) => m[key] / theirs[i]![key]);
    console.log(
      `${key === 'plainNs' ? 'decide' : 'decide + limits'}: baseline ${median(theirs.map((t) => t[key])).toFixed(1)} ns, this ${median(mine.map((m) => m[key])).toFixed(1)} ns; ` +
        `ratio this/baseline ${median(ratios).toFixed(2)} (median of ${rounds} rounds, range ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
    );
  }
}

async function measure(root: string): Promise<RoundResult> {
  const policyPackage = (await import(`${root}/packages/policy/src/index.ts`)) as typeof import('../../packages/policy/src/index.js');
  const { generateCallStream } = (await import(`${root}/bench/evaluator/call-stream.ts`)) as typeof import('./call-stream.js');
  const { limitedPolicy, TOLLGATE_POLICY } = (await import(`${root}/bench/evaluator/ccxt-policies.ts`)) as typeof import('./ccxt-policies.js');
  const stream = generateCallStream({ size: SIZE, seed: 42, start: Date.parse('2026-01-05T08:00:00Z'), spacingMs: 10 });
  let now = 0;
  let allowed = 0;
  const pass = (policy: unknown): number => {
    const compiled = policyPackage.compilePolicy(policy, { server: 'ccxt', limits: new policyPackage.MemoryLimitStore(), clock: () => now, validated: true });
    allowed = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < stream.length; i++) {
      now = stream[i]!.at;
      if (compiled.decide(stream[i]!.call).effect === 'allow') allowed++;
    }
    return Number(process.hrtime.bigint() - start) / stream.length;
  };
  const limited = limitedPolicy({ callsPerMinute: 330, ordersPerMinute: 20, dailyNotional: 2500 });
  const plain: number[] = [];
  const limits: number[] = [];
  for (let p = 0; p < PASSES; p++) {
    plain.push(pass(TOLLGATE_POLICY));
    limits.push(pass(limited));
  }
  return { plainNs: median(plain.slice(WARMUP)), limitsNs: median(limits.slice(WARMUP)), allowed };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
