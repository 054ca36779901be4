import { FLIP_KINDS } from '@tollgate/policy';
import { CHANGE_LABELS, FLIP_LABELS, formatCall, formatDecision, formatPreceded, shortCommit } from './diff-call-format.js';
import { DIFF_COMMENT_MARKER } from './diff-formats.js';
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
        ? `> [!CAUTION]\n> Tools at or above **${report.fail_on_widening}** risk became wider: ${report.widened.map((w) => code(`${w.server}/${w.tool}`)).join(', ')}. This needs an explicit approval of the widening.`
        : `> [!NOTE]\n> No tool at or above **${report.fail_on_widening}** risk became wider.`,
      '',
    );
  }
  const changedTools = report.servers.flatMap((s) => s.tools.filter((t) => t.change !== 'unchanged').map((t) => ({ server: s.server, tool: t })));
  if (changedTools.length > 0) {
    out.push('| Server | Tool | Risk | Change | Wider / narrower calls |', '|---|---|---|---|---|');
    for (const { server, tool } of changedTools) {
      out.push(`| ${server} | ${code(tool.tool)} | ${tool.risk} | ${CHANGE_ICONS[tool.change]} ${CHANGE_LABELS[tool.change]} | ${tool.wider} / ${tool.narrower} |`);
    }
    out.push('');
  } else {
    out.push('No tool is decided differently.', '');
  }
  for (const server of report.servers) {
    const tools = server.tools.filter((t) => t.change !== 'unchanged');
    if (server.changes.length === 0 && tools.length === 0) continue;
    out.push(`### ${server.server} (${server.status})`, '');
    if (server.changes.length > 0) {
      out.push(`<details><summary>${server.changes.length} structural change${server.changes.length === 1 ? '' : 's'}</summary>`, '');
      for (const ch of server.changes) out.push(`- ${code(ch.text)}`);
      out.push('', '</details>', '');
    }
    for (const tool of tools) {
      out.push(`<details><summary>${code(tool.tool)} — ${CHANGE_LABELS[tool.change]} (${tool.risk}): ${tool.examples.length} example${tool.examples.length === 1 ? '' : 's'}</summary>`, '');
      out.push('| | Call | Base | Head |', '|---|---|---|---|');
      for (const ex of tool.examples) {
        const preceded = ex.preceded_by ? ` ${formatPreceded(ex.preceded_by)}` : '';
        out.push(`| ${ex.direction === 'wider' ? '➕' : '➖'} | ${code(formatCall(ex.call))}${preceded} | ${code(formatDecision(ex.base))} | ${code(formatDecision(ex.head))} |`);
      }
      out.push('', '</details>', '');
    }
  }
  if (report.replay) {
    const r = report.replay;
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
  }
  return `${out.join('\n').trimEnd()}\n`;
}
