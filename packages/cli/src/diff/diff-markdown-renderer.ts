import { FLIP_KINDS } from '@tollgate/policy';
import { CHANGE_LABELS, FLIP_LABELS, formatApprovalFlip, formatCall, formatDecision, formatPreceded, shortCommit } from './diff-call-format.js';
import { DIFF_COMMENT_MARKER } from '../scaffold/policy-review-workflow.js';
import { diffSummaryLine } from './diff-pretty-renderer.js';
import type { DiffReport, DiffSide } from './diff-runner.js';

/** Text as inline code that is safe inside a markdown table cell. */
function code(text: string): string {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '&#124;');
  return `<code>${escaped}</code>`;
}

function sideName(s: DiffSide): string {
  return s.commit ? `${code(s.ref)} (${shortCommit(s.commit)})` : s.ref;
}

const CHANGE_ICONS = { wider: '⬆️', narrower: '⬇️', both: '↕️', unchanged: '' } as const;

/**
 * `tollgate diff --format markdown`: the pull-request comment. It starts with
 * {@link DIFF_COMMENT_MARKER} so a workflow can find and update one sticky comment, then a
 * heading, the summary, the `--fail-on-widening` verdict, a table of every changed tool
 * (server, tool, risk, change, flips), per server the structural changes and each tool's
 * example calls in collapsible details, and the replay counts.
 */
export function renderDiffMarkdown(report: DiffReport): string {
  const out: string[] = [DIFF_COMMENT_MARKER, `## Tollgate policy diff: ${sideName(report.base)} → ${sideName(report.head)}`, ''];
  out.push(diffSummaryLine(report), '');
  if (report.fail_on_widening !== null) {
    out.push(
      report.failed
        ? `> [!CAUTION]\n> Tools at or above **${report.fail_on_widening}** risk became wider: ${widenedList(report)}. This needs an explicit approval of the widening.`
        : `> [!NOTE]\n> No tool at or above **${report.fail_on_widening}** risk became wider.`,
      '',
    );
  }
  const replay = report.replay ? replaySection(report.replay) : [];
  // GitHub refuses comments over 65,536 characters: the most severe changes go first and the
  // rest is counted, so a large change still gets its comment.
  let budget = MAX_COMMENT_LENGTH - length(out) - length(replay) - 400;
  const fits = (lines: readonly string[]): boolean => {
    const n = length(lines);
    if (n > budget) return false;
    budget -= n;
    return true;
  };
  const changedTools = report.servers
    .flatMap((s) => s.tools.filter((t) => t.change !== 'unchanged').map((t) => ({ server: s.server, tool: t })))
    .sort((a, b) => severity(a.tool) - severity(b.tool));
  let omittedRows = 0;
  if (changedTools.length > 0) {
    out.push('| Server | Tool | Risk | Change | Wider / narrower calls |', '|---|---|---|---|---|');
    for (const { server, tool } of changedTools) {
      const row = `| ${server} | ${code(tool.tool)} | ${tool.risk} | ${CHANGE_ICONS[tool.change]} ${CHANGE_LABELS[tool.change]} | ${tool.wider} / ${tool.narrower} |`;
      if (fits([row])) out.push(row);
      else omittedRows += 1;
    }
    if (omittedRows > 0) out.push(`| … | ${omittedRows} more tool${omittedRows === 1 ? '' : 's'} | | | |`);
    out.push('');
  } else {
    out.push('No tool is decided differently.', '');
  }
  let omittedDetails = 0;
  for (const server of report.servers) {
    const tools = server.tools.filter((t) => t.change !== 'unchanged').sort((a, b) => severity(a) - severity(b));
    if (server.changes.length === 0 && tools.length === 0) continue;
    const heading = [`### ${server.server} (${server.status})`, ''];
    if (!fits(heading)) {
      omittedDetails += tools.length + (server.changes.length > 0 ? 1 : 0);
      continue;
    }
    out.push(...heading);
    if (server.changes.length > 0) {
      const block = [`<details><summary>${server.changes.length} structural change${server.changes.length === 1 ? '' : 's'}</summary>`, ''];
      for (const ch of server.changes) block.push(`- ${code(ch.text)}`);
      block.push('', '</details>', '');
      if (fits(block)) out.push(...block);
      else omittedDetails += 1;
    }
    for (const tool of tools) {
      const block = [`<details><summary>${code(tool.tool)} — ${CHANGE_LABELS[tool.change]} (${tool.risk}): ${tool.examples.length} example${tool.examples.length === 1 ? '' : 's'}</summary>`, ''];
      block.push('| | Call | Base | Head |', '|---|---|---|---|');
      for (const ex of tool.examples) {
        const preceded = ex.preceded_by ? ` ${formatPreceded(ex.preceded_by)}` : '';
        const approval = ex.approval ? ` ${code(formatApprovalFlip(ex.approval))}` : '';
        block.push(`| ${ex.direction === 'wider' ? '➕' : '➖'} | ${code(formatCall(ex.call))}${preceded} | ${code(formatDecision(ex.base))} | ${code(formatDecision(ex.head))}${approval} |`);
      }
      block.push('', '</details>', '');
      if (fits(block)) out.push(...block);
      else omittedDetails += 1;
    }
  }
  if (omittedRows > 0 || omittedDetails > 0) {
    out.push(`_The comment is shortened to GitHub's size limit: ${omittedDetails} more section${omittedDetails === 1 ? '' : 's'} of details. Run \`tollgate diff\` (or \`--format json\`) for all of them._`, '');
  }
  out.push(...replay);
  return `${out.join('\n').trimEnd()}\n`;
}

function widenedList(report: DiffReport): string {
  const shown = report.widened.slice(0, 20).map((w) => code(`${w.server}/${w.tool}`));
  const more = report.widened.length - shown.length;
  return `${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

/** GitHub's limit on the body of a comment, in characters. */
export const MAX_COMMENT_LENGTH = 65_536;

function length(lines: readonly string[]): number {
  return lines.reduce((n, l) => n + l.length + 1, 0);
}

const RISK_ORDER = ['critical', 'high', 'medium', 'low'];
const CHANGE_ORDER = ['both', 'wider', 'narrower', 'unchanged'];

/** Sort key: the most severe risk first, and within it wider before narrower. */
function severity(t: { risk: string; change: string }): number {
  return RISK_ORDER.indexOf(t.risk) * 10 + CHANGE_ORDER.indexOf(t.change);
}

function replaySection(r: NonNullable<DiffReport['replay']>): string[] {
  const out: string[] = [];
  out.push(`### Replay of recorded calls since ${r.since}`, '');
  out.push(`${r.calls} recorded decisions: ${r.replayed} replayed, ${r.not_replayable} not replayable (arguments redacted)${r.truncated ? '; more were recorded than read' : ''}.`, '');
  out.push(`| ${FLIP_KINDS.map((k) => FLIP_LABELS[k]).join(' | ')} |`, `|${FLIP_KINDS.map(() => '---').join('|')}|`, `| ${FLIP_KINDS.map((k) => r.flips[k]).join(' | ')} |`, '');
  if (r.examples.length > 0) {
    out.push('<details><summary>Examples</summary>', '', '| Flip | Time | Call | Base | Head |', '|---|---|---|---|---|');
    for (const ex of r.examples) {
      out.push(`| ${FLIP_LABELS[ex.kind]} | ${ex.at} | ${code(`${ex.server}/${formatCall(ex.call, { agent: '', session: '' })}`)} | ${code(formatDecision(ex.base))} | ${code(formatDecision(ex.head))} |`);
    }
    out.push('', '</details>', '');
  }
  return out;
}
