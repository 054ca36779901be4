import { FLIP_KINDS } from '@tollgate/policy';
import { terminalStyle } from '../render/terminal-style.js';
import { CHANGE_LABELS, FLIP_LABELS, formatApprovalFlip, formatCall, formatDecision, formatPreceded, shortCommit } from './diff-call-format.js';
import type { DiffReport, DiffSide } from './diff-runner.js';

function sideName(s: DiffSide): string {
  return s.commit ? `${s.ref} (${shortCommit(s.commit)})` : s.ref;
}

/** The last line of a diff report: counts, and the `--fail-on-widening` verdict. */
export function diffSummaryLine(report: DiffReport): string {
  const t = report.totals;
  const counts = `${t.wider} wider, ${t.narrower} narrower, ${t.both} both, ${t.unchanged} unchanged; ${t.changes} structural change${t.changes === 1 ? '' : 's'}`;
  if (report.fail_on_widening === null) return counts;
  return report.failed
    ? `${counts}. FAILED: ${report.widened.length} tool${report.widened.length === 1 ? '' : 's'} at or above ${report.fail_on_widening} risk became wider`
    : `${counts}. No tool at or above ${report.fail_on_widening} risk became wider`;
}

/**
 * `tollgate diff` for people: per server its structural changes, then every tool that
 * changed with its risk and example calls (base decision → head decision), the replay
 * counts, and the summary line.
 */
export function renderDiffPretty(report: DiffReport, options: { colour: boolean }): string {
  const style = terminalStyle(options.colour);
  const c = (name: 'red' | 'green' | 'yellow' | 'dim' | 'bold', text: string): string => style[name](text);
  const lines: string[] = [`tollgate diff ${sideName(report.base)} → ${sideName(report.head)}`];
  for (const server of report.servers) {
    const changed = server.tools.filter((t) => t.change !== 'unchanged');
    lines.push('', c('bold', `${server.server}: ${server.status}`));
    if (server.changes.length > 0) {
      lines.push('  Changes:');
      for (const ch of server.changes) lines.push(`    • ${ch.text}`);
    }
    for (const tool of changed) {
      const tone = tool.change === 'narrower' ? 'green' : tool.change === 'wider' ? 'red' : 'yellow';
      lines.push(`  ${tool.tool === '*' ? '* (every tool not listed)' : tool.tool}  ${tool.risk}  ${c(tone, CHANGE_LABELS[tool.change].toUpperCase())}  (${tool.wider} wider, ${tool.narrower} narrower of ${tool.checked} checked)`);
      for (const ex of tool.examples) {
        const sign = ex.direction === 'wider' ? c('red', '+') : c('green', '-');
        const before = ex.preceded_by ? ` ${c('dim', `(${formatPreceded(ex.preceded_by)})`)}` : '';
        const approval = ex.approval ? ` ${c('dim', `(${formatApprovalFlip(ex.approval)})`)}` : '';
        lines.push(`    ${sign} ${formatCall(ex.call, { withTool: false })}${before}: ${formatDecision(ex.base)} → ${formatDecision(ex.head)}${approval}`);
      }
    }
    const same = server.tools.length - changed.length;
    if (same > 0) lines.push(c('dim', `  ${same} tool${same === 1 ? '' : 's'} unchanged`));
  }
  if (report.replay) {
    const r = report.replay;
    lines.push('', c('bold', `Replay of the ledger since ${r.since}: ${r.calls} recorded decision${r.calls === 1 ? '' : 's'}, ${r.replayed} replayed, ${r.not_replayable} not replayable (arguments redacted)${r.truncated ? ', more not read' : ''}`));
    lines.push(`  ${FLIP_KINDS.map((k) => `${FLIP_LABELS[k]}: ${r.flips[k]}`).join(', ')}`);
    if (r.recorded_mismatch > 0) lines.push(c('dim', `  ${r.recorded_mismatch} replayed under the base policy decided differently than recorded`));
    for (const ex of r.examples) {
      lines.push(`    ${FLIP_LABELS[ex.kind]}: ${ex.at} ${ex.server} ${formatCall(ex.call, { agent: '', session: '' })}: ${formatDecision(ex.base)} → ${formatDecision(ex.head)}`);
    }
  }
  lines.push('', diffSummaryLine(report));
  for (const w of report.widened) lines.push(c('red', `  ${w.server}/${w.tool} (${w.risk}) became ${w.change === 'both' ? 'wider and narrower' : 'wider'}`));
  return `${lines.join('\n')}\n`;
}
