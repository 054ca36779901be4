import type { TerminalStyle } from '../render/terminal-style.js';
import type { ExplainReport } from './recorded-call-explainer.js';
import { callerText, decisionLines, traceLines, verdictText } from './trace-pretty-renderer.js';

function provenance(report: ExplainReport): string {
  const s = report.policy.source;
  if (s.kind === 'working-tree') return `${report.policy.file} (the working tree's file has the recorded digest)`;
  if (s.kind === 'bundle') {
    const b = s.bundle!;
    const signed = b.signatures === 0 ? 'unsigned' : `${b.signatures} signature${b.signatures === 1 ? '' : 's'}`;
    return `${report.policy.file} (bundle revision ${b.revision}${b.git_commit ? `, built from ${b.git_commit.slice(0, 12)}` : ''}, ${signed})`;
  }
  return `${report.policy.file} (the version committed in ${s.commit!.slice(0, 12)})`;
}

/**
 * `tollgate explain` for people: the recorded decision, the policy it was found under, what
 * could not be replayed exactly, the trace of the re-derived decision, and whether the two agree.
 */
export function renderExplainPretty(report: ExplainReport, style: TerminalStyle): string {
  const r = report.recorded;
  const recordedVerdict = verdictText({ effect: r.effect as 'allow', rule: r.rule, code: r.code }, style);
  const lines: string[] = [
    `Call      ${report.call_id}: ${r.tool} on ${r.server}, ${callerText(report.call)}, at ${report.at}`,
    `Args      ${JSON.stringify(report.call.args ?? {})}`,
    `Recorded  ${recordedVerdict}${r.reason ? `: ${r.reason}` : ''}`,
    `Policy    ${provenance(report)}`,
    `          sha256 ${report.policy.digest}${report.policy.revision !== null ? `, revision ${report.policy.revision}` : ''}`,
    '',
    style.bold(report.replay.exact ? 'Replay: exact (everything that decided the call was recorded)' : 'Replay: not exact'),
    ...report.notes.map((n) => `  - ${n}`),
    '',
    ...traceLines(report.trace, report.decision, r.tool, style),
    '',
    `${style.bold(`Re-derived`)}: ${verdictText(report.decision, style)}`,
    ...decisionLines(report.decision, style),
    '',
  ];
  if (report.agreement.agrees) lines.push(style.green('The recorded decision and the re-derived one agree.'));
  else lines.push(style.yellow('The recorded decision and the re-derived one differ:'), ...report.agreement.differences.map((d) => `  - ${d}`));
  return `${lines.join('\n')}\n`;
}
