import type { DemoCall, DemoProgress, DemoResult } from './demo-runner.js';
import { terminalStyle, type TerminalStyle } from '../render/terminal-style.js';

/** One progress line of `tollgate demo`. */
export function renderDemoProgress(event: DemoProgress, colour: boolean): string {
  const style = terminalStyle(colour);
  if (event.kind === 'stage') return `${style.cyan('==>')} ${event.text}\n`;
  if (event.kind === 'console') return renderConsoleInvitation(event, colour);
  const c = event.call;
  return `${String(c.step).padStart(3)}. ${c.title.padEnd(34)} ${c.tool.padEnd(26)} ${verdict(c, style)}\n       ${style.dim(c.text)}\n`;
}

/** What `tollgate demo --console` prints once the console waits for a person: where, as whom, and what to decide. */
export function renderConsoleInvitation(event: Extract<DemoProgress, { kind: 'console' }>, colour: boolean): string {
  const style = terminalStyle(colour);
  return [
    '',
    `${style.cyan('==>')} ${style.bold('The approvals console is open')}: ${event.url}`,
    `    Sign in as ${event.approver} with this token: ${event.token}`,
    `    A ${event.tool} is held for a desk lead (approval ${event.approvalId}): approve or deny it there.`,
    '    Press Ctrl-C to stop.',
    '',
  ].join('\n') + '\n';
}

/** The closing report of `tollgate demo`: the ledger's decisions, then `ledger verify`. */
export function renderDemoReport(result: DemoResult, colour: boolean): string {
  const style = terminalStyle(colour);
  const lines: string[] = ['', style.bold(`Decisions in the ledger (${result.ledger.backend}, ${result.ledger.location}, strand ${result.ledger.strand})`)];
  const rows = result.decisions.map((d) => [String(d.seq), d.type, d.tool, d.effect || '-', d.rule ?? '-', d.outcome ?? '-', truncate(d.reason, 60)]);
  lines.push(...table(['seq', 'event', 'tool', 'effect / by', 'rule', 'outcome', 'reason'], rows));
  const v = result.verify;
  lines.push('', style.bold('tollgate ledger verify'));
  lines.push(
    v.ok
      ? style.green(`ok: ${v.events} events in ${v.strands.length} strand(s), every hash link intact, no gaps`)
      : style.red(`FAILED: ${v.problem_count} problem(s); first: ${JSON.stringify(v.first_problem)}`),
  );
  const a = v.approvals;
  if (a.requests > 0) {
    lines.push(
      a.problems === 0
        ? `${a.requests} approval request(s), ${a.uses} call(s) run on one: each decided after its request, by someone other than the agent, used once, before it expired`
        : style.red(`${a.problems} approval problem(s)`),
    );
  }
  lines.push(v.missing_outcomes.count === 0 ? 'every allowed call has its outcome' : style.yellow(`${v.missing_outcomes.count} allowed call(s) without an outcome`));
  lines.push('', style.dim(`demo finished in ${(result.durationMs / 1000).toFixed(1)} s; inspect the ledger with \`tollgate ledger query\``), '');
  return lines.join('\n');
}

function verdict(c: DemoCall, style: TerminalStyle): string {
  const text = c.rule ? `${c.verdict} (${c.rule})` : c.verdict;
  if (c.verdict === 'allowed' || c.verdict.endsWith(': ran')) return style.green(text);
  if (c.verdict.startsWith('held')) return style.yellow(text);
  if (c.verdict === 'unknown tool') return style.yellow(text);
  return style.red(text);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function table(header: readonly string[], rows: readonly string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}
