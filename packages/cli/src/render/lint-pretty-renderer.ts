import type { Diagnostic, Severity } from '@tollgate/policy';
import { lintSummary, type LintResult } from '../lint-runner.js';
import { terminalStyle, type TerminalStyle } from './terminal-style.js';

/** Options of {@link renderLintPretty}. */
export interface PrettyOptions {
  /** Colour severities and codes (only when writing to a TTY). */
  readonly colour: boolean;
}

function severityText(severity: Severity, style: TerminalStyle): string {
  const padded = severity.padEnd(7);
  if (severity === 'error') return style.red(padded);
  if (severity === 'warning') return style.yellow(padded);
  return style.cyan(padded);
}

/**
 * Renders lint findings for people: grouped by file (a blank line between files), one line
 * per finding as `file:line:col  severity  CODE  message` with its hint indented below, then
 * the summary line (`lintSummary`).
 *
 * @example
 * policies/ccxt/policy.json:12:7  error    TG101  regex "(a+)+$" is open to catastrophic backtracking
 *                                                  hint: remove the nested quantifier
 *
 * 1 error, 0 warnings, 0 infos in 2 policies
 */
export function renderLintPretty(result: LintResult, options: PrettyOptions): string {
  const style = terminalStyle(options.colour);
  const groups = new Map<string, Diagnostic[]>();
  for (const d of result.diagnostics) {
    const group = groups.get(d.file) ?? [];
    group.push(d);
    groups.set(d.file, group);
  }
  const blocks: string[] = [];
  for (const diagnostics of groups.values()) {
    const locations = diagnostics.map((d) => `${d.file}:${d.line}:${d.column}`);
    const width = Math.max(...locations.map((l) => l.length));
    const lines: string[] = [];
    diagnostics.forEach((d, i) => {
      const location = locations[i]!.padEnd(width);
      lines.push(`${style.bold(location)}  ${severityText(d.severity, style)}  ${style.dim(d.code)}  ${d.message}`);
      if (d.hint) lines.push(`${' '.repeat(width + 2 + 7 + 2 + d.code.length + 2)}${style.dim(`hint: ${d.hint}`)}`);
    });
    blocks.push(lines.join('\n'));
  }
  const summary = lintSummary(result);
  const coloured = result.errors > 0 ? style.red(summary) : result.warnings > 0 ? style.yellow(summary) : style.green(summary);
  blocks.push(coloured);
  return blocks.join('\n\n');
}
