import type { TerminalStyle } from '../render/terminal-style.js';
import type { EvalReport } from './call-evaluator.js';
import { callerText, decisionLines, traceLines, verdictText } from './trace-pretty-renderer.js';

/**
 * `tollgate eval` for people: the decision (effect, rule, reason, code and what else it
 * carries); with `--explain`, first the call, the policy and every step of the evaluation.
 */
export function renderEvalPretty(report: EvalReport, style: TerminalStyle): string {
  const d = report.decision;
  const lines: string[] = [];
  if (report.trace) {
    const p = report.policy;
    lines.push(
      `Call      ${report.call.tool} on ${report.server}, ${callerText(report.call)}, at ${report.at}`,
      `Args      ${JSON.stringify(report.call.args ?? {})}`,
      `Policy    ${p.file} (sha256 ${p.digest.slice(0, 12)}…${p.revision !== null ? `, revision ${p.revision}` : ''})${p.catalog ? `; arguments checked against ${p.catalog}` : '; no catalog, so arguments are not checked'}`,
      `Counters  fresh, in memory: an ad-hoc call is the first of its limit windows`,
      ...(report.approval ? [`Approval  decided as though its approval was ${report.approval}`] : []),
      '',
      ...traceLines(report.trace, d, report.call.tool, style),
      '',
    );
  }
  lines.push(`${style.bold(`${report.call.tool} on ${report.server}`)}: ${verdictText(d, style)}`, ...decisionLines(d, style));
  return `${lines.join('\n')}\n`;
}
