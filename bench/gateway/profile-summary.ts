/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, e.g. from `gateway-bench.ts --cpu-prof`):
 * self time by function and by package, heaviest first.
 *
 *   pnpm exec tsx bench/gateway/profile-summary.ts <file.cpuprofile> [--top 40]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' } } });
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
// Idle time is not work: shares are of the time the process was busy.
const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
let total = 0;
for (const [id, us] of selfUs) if (!idle.has(id)) total += us;

/** Where a frame's code lives: a package, Node itself, or the program's own. */
function area(url: string): string {
  if (url === '') return '(native / V8)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const pkg = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /packages\/([^/]+)\//.exec(url);
  return own ? `@tollgate/${own[1]}` : url;
}

const byFunction = new Map<string, number>();
const byArea = new Map<string, number>();
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (us === 0 || idle.has(node.id)) continue;
  const f = node.callFrame;
  const key = `${f.functionName || '(anonymous)'}  ${f.url ? `${f.url.replace(/^file:\/\//, '').replace(/.*\/(node_modules|packages)\//, '$1/')}:${f.lineNumber + 1}` : ''}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  byArea.set(area(f.url), (byArea.get(area(f.url)) ?? 0) + us);
}
const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
process.stdout.write(`busy ${(total / 1000).toFixed(0)} ms (idle left out)\n\nby area\n`);
for (const [k, us] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${pct(us)}  ${k}\n`);
process.stdout.write('\nby function (self time)\n');
for (const [k, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) process.stdout.write(`${pct(us)}  ${k}\n`);
