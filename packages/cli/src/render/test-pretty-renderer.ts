import { formatDiagnostic } from '@tollgate/policy';
import type { PolicyCoverage, TestSuiteResult } from '../test-suite.js';
import { failureText } from './test-failure-format.js';
import { terminalStyle, type TerminalStyle } from './terminal-style.js';

/** Options of {@link renderTestPretty}. */
export interface TestPrettyOptions {
  /** Colour marks and verdicts (only when writing to a TTY). */
  readonly colour: boolean;
  /** Show per-policy, per-tool coverage and the uncovered rule ids (`--coverage`). */
  readonly coverage: boolean;
}

function coverageBlock(c: PolicyCoverage, style: TerminalStyle): string[] {
  const lines = [`  ${style.bold(c.policy)}  (${c.server})  ${c.total.hit}/${c.total.total}  ${c.total.percent}%`];
  const tools = Object.keys(c.tools).sort((a, b) => (a === '*' ? -1 : b === '*' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const width = Math.max(0, ...tools.map((t) => (t === '*' ? '(policy-wide)' : t).length));
  for (const tool of tools) {
    const count = c.tools[tool]!;
    const name = (tool === '*' ? '(policy-wide)' : tool).padEnd(width);
    const ratio = `${count.hit}/${count.total}`.padStart(7);
    const percent = `${count.percent}%`.padStart(8);
    const text = `    ${name}  ${ratio}${percent}`;
    lines.push(count.hit === count.total ? text : style.yellow(text));
  }
  const uncovered = c.items.filter((i) => !i.hit).map((i) => i.id);
  if (uncovered.length > 0) lines.push(`    uncovered: ${uncovered.join(', ')}`);
  return lines;
}

/**
 * Renders a test run for people: per file, each case as ✓ or ✗ with its name, and under a
 * failed case where it is, the call, the expected and the actual decision; then the
 * problems that kept files from running; then coverage (with `coverage`) and the threshold
 * verdict; and last the line `N passed, M failed`.
 */
export function renderTestPretty(result: TestSuiteResult, options: TestPrettyOptions): string {
  const style = terminalStyle(options.colour);
  const blocks: string[] = [];
  for (const file of result.files) {
    const lines = [`${style.bold(file.file)}${style.dim(`  (policy ${file.policy ?? '?'})`)}`];
    for (const c of file.cases) {
      lines.push(c.passed ? `  ${style.green('✓')} ${c.name}` : `  ${style.red('✗')} ${style.red(c.name)}`);
      if (!c.passed) lines.push(failureText(c, '      '));
    }
    if (file.cases.length === 0) lines.push(style.dim('  (no cases)'));
    blocks.push(lines.join('\n'));
  }
  if (result.diagnostics.length > 0) {
    const lines = [style.red('Files that could not be run:')];
    for (const d of result.diagnostics) lines.push(`  ${formatDiagnostic(d)}`);
    blocks.push(lines.join('\n'));
  }
  if (options.coverage) {
    const lines = [style.bold('Coverage')];
    if (result.coverage.length === 0) lines.push('  no policy was loaded');
    for (const c of result.coverage) lines.push(...coverageBlock(c, style));
    lines.push(`  total  ${result.total.hit}/${result.total.total}  ${result.total.percent}%`);
    blocks.push(lines.join('\n'));
  }
  if (result.threshold) {
    const t = result.threshold;
    blocks.push(
      t.met
        ? style.green(`Coverage meets the threshold of ${t.percent}% for every policy.`)
        : t.below.map((b) => style.red(`Coverage of ${b.policy} is ${b.percent}%, below the threshold of ${t.percent}%.`)).join('\n'),
    );
  }
  blocks.push(result.failed > 0 ? style.red(result.summary) : style.green(result.summary));
  return blocks.join('\n\n');
}
