import type { ActualDecision, ExpectedDecision, TestCaseResult } from '@tollgate/policy';

/** One labelled line of a failure description: `call  cancel_order {"id":"42"}`. */
export interface FailureLine {
  readonly label: string;
  readonly text: string;
}

function expectedText(e: ExpectedDecision): string {
  const parts: string[] = [e.effect];
  if (e.rule !== undefined) parts.push(`rule ${JSON.stringify(e.rule)}`);
  if (e.reason_contains !== undefined) parts.push(`reason containing ${JSON.stringify(e.reason_contains)}`);
  const s = e.shadow;
  if (s !== undefined) {
    const shadow: string[] = [s.effect];
    if (s.rule !== undefined) shadow.push(`rule ${JSON.stringify(s.rule)}`);
    if (s.reason_contains !== undefined) shadow.push(`reason containing ${JSON.stringify(s.reason_contains)}`);
    parts.push(`shadow (${shadow.join(', ')})`);
  }
  return parts.join(', ');
}

function actualText(a: ActualDecision): string {
  const parts: string[] = [a.effect, `rule ${JSON.stringify(a.rule)}`, `reason ${JSON.stringify(a.reason)}`];
  if (a.retry_after !== undefined) parts.push(`retry after ${a.retry_after}s`);
  if (a.shadow !== undefined) parts.push(`shadow (${a.shadow.effect}, rule ${JSON.stringify(a.shadow.rule)}, reason ${JSON.stringify(a.shadow.reason)})`);
  return parts.join(', ');
}

/**
 * Describes why a case failed, for people: where the case is (file:line:col), which step
 * and repetition, the call (tool and arguments, agent, session, time), the expected and the
 * actual decision (effect, rule, reason), and each mismatch. Empty for a passing case.
 */
export function describeFailure(c: TestCaseResult): FailureLine[] {
  const f = c.failure;
  if (!f) return [];
  const lines: FailureLine[] = [{ label: 'at', text: `${c.file}:${c.line}:${c.column}` }];
  if (f.step > 0 || f.repetition > 1) lines.push({ label: 'step', text: `${f.step + 1}, repetition ${f.repetition}` });
  lines.push({ label: 'call', text: `${f.call.tool} ${JSON.stringify(f.call.args ?? {})}` });
  const agent = f.call.agent;
  if (agent) {
    const labels = agent.labels && Object.keys(agent.labels).length > 0 ? ` ${JSON.stringify(agent.labels)}` : '';
    lines.push({ label: 'agent', text: `${agent.id}${labels}` });
  }
  if (f.call.session) lines.push({ label: 'session', text: f.call.session.id });
  lines.push({ label: 'time', text: f.at });
  lines.push({ label: 'expected', text: expectedText(f.expected) });
  lines.push({ label: 'actual', text: actualText(f.actual) });
  for (const m of f.mismatches) lines.push({ label: 'mismatch', text: m });
  return lines;
}

/** {@link describeFailure} as aligned plain-text lines, each prefixed with `indent`. */
export function failureText(c: TestCaseResult, indent = ''): string {
  return describeFailure(c)
    .map((l) => `${indent}${l.label.padEnd(9)}${l.text}`)
    .join('\n');
}
