import type { Decision, Effect, ToolCall, TraceCondition, TraceRule } from '@tollgate/policy';
import { TRACE_STEPS } from '@tollgate/policy';
import type { TerminalStyle } from '../render/terminal-style.js';
import type { CounterSource, ReportedEvaluation, ReportedLimit, ReportedStep, TraceReport } from './trace-report.js';

const MAX_VALUE = 80;
const WINDOW_WORDS: Readonly<Record<number, string>> = { 1: 'second', 60: 'minute', 3600: 'hour', 86_400: 'day' };

/** A JSON value on one line, cut to a readable length. */
export function shownValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}… (${text.length} characters)` : text;
}

function effectText(effect: Effect, style: TerminalStyle): string {
  if (effect === 'allow') return style.green(effect);
  if (effect === 'deny') return style.red(effect);
  if (effect === 'approval_required') return style.yellow(effect);
  return style.dim(effect);
}

/** `deny by spot-market-max-amount (policy.denied)`. */
export function verdictText(d: { effect: Effect; rule: string | null; code: string | null }, style: TerminalStyle): string {
  return `${effectText(d.effect, style)}${d.rule !== null ? ` by ${d.rule}` : ''}${d.code !== null ? ` (${d.code})` : ''}`;
}

/** Who made the call: `trader-1 (team=desk), session s1`. */
export function callerText(call: ToolCall): string {
  const labels = Object.entries(call.agent?.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return `agent ${call.agent?.id ?? '(none)'}${labels.length > 0 ? ` (${labels.join(', ')})` : ''}, session ${call.session?.id ?? '(none)'}`;
}

/** The decision's fields, one a line: effect, rule, reason, code and what else it carries. */
export function decisionLines(d: Decision, style: TerminalStyle): string[] {
  const line = (label: string, text: string): string => `  ${label.padEnd(9)}${text}`;
  const lines = [line('rule', d.rule ?? '(none: a plain allow)'), line('reason', d.reason), line('code', d.code ?? '(none)')];
  if (d.retry_after !== undefined) lines.push(line('retry', `after ${d.retry_after}s`));
  if (d.approval) {
    const who = d.approval.approvers ? d.approval.approvers.join(', ') : 'any approver';
    const timeout = d.approval.timeout_ms !== null ? `, open for ${d.approval.timeout_ms / 1000}s` : '';
    lines.push(line('approvers', `${d.approval.min_approvals} of ${who}${timeout}`));
  }
  if (d.approval_id !== undefined) lines.push(line('approval', d.approval_id));
  for (const e of d.errors ?? []) lines.push(line('error', e));
  for (const l of d.limits ?? []) lines.push(line('limit', `${l.rule}: "${l.counter}" ${l.used} of ${l.max} (${per(l.window, l.scope)})`));
  if (d.shadow) lines.push(line('shadow', `${verdictText(d.shadow, style)}: ${d.shadow.reason}`));
  return lines;
}

function per(window: number, scope: string): string {
  return `per ${WINDOW_WORDS[window] ?? `${window}s`}${scope === 'global' ? '' : ` per ${scope}`}`;
}

function conditionLine(c: TraceCondition): string {
  const value = c.found ? `= ${shownValue(c.actual)}` : 'missing';
  const result = c.result === 'too_long' ? 'too long to match (fail closed)' : c.result;
  return `${c.text}   ${value}   ${result}${c.evaluated ? '' : ' (not evaluated)'}`;
}

function ruleLines(r: TraceRule, indent: string, style: TerminalStyle): string[] {
  const status = r.status === 'decided' ? style.bold('decided') : r.status === 'not_reached' ? style.dim('not reached') : r.status;
  const lines = [`${indent}${r.id}${r.id !== r.positional_id ? ` (${r.positional_id})` : ''}  ${status}`];
  if (r.conditions.length === 0) lines.push(`${indent}  (no conditions: always matches)`);
  for (const c of r.conditions) lines.push(`${indent}  ${conditionLine(c)}`);
  return lines;
}

function time(ms: number): string {
  return new Date(ms).toISOString();
}

function counterText(source: CounterSource): string {
  if (source.source === 'fresh') return 'fresh counter';
  if (source.source === 'ledger') return `from ${source.decisions} earlier decision${source.decisions === 1 ? '' : 's'} in the ledger`;
  return `unknown (${source.why}); assumed 0`;
}

function limitLine(l: ReportedLimit): string {
  const whose = l.scope === 'global' ? 'global' : `per ${l.scope} ${l.scope_id === '' ? '(none)' : l.scope_id}`;
  const window = `${WINDOW_WORDS[l.window] ?? `${l.window}s`} window from ${time(l.window_start)}`;
  const amount = l.amount_from ? `${l.amount ?? 'no amount'} from ${l.amount_from.path}${l.amount_from.found ? '' : ' (missing)'}` : String(l.amount);
  let count: string;
  if (l.outcome === 'admitted') count = `${l.used_before} + ${amount} = ${l.used_after} of ${l.max}: admitted`;
  else if (l.outcome === 'exceeded') count = `${l.used_before} + ${amount} > ${l.max}: exceeded`;
  else if (l.outcome === 'no_amount') count = `${l.amount_from ? (l.amount_from.found ? `${shownValue(l.amount_from.actual)} at ${l.amount_from.path} is not a non-negative number` : `nothing at ${l.amount_from.path}`) : 'no amount'}: denies (fail closed)`;
  else count = l.used_before !== null ? `at ${l.used_before} of ${l.max}: not checked` : 'not checked';
  const shadow = l.shadow_counter ? ', shadow counter' : '';
  const source = l.used_before !== null ? `; ${counterText(l.counter_source)}` : '';
  return `${l.rule}  "${l.counter}" ${whose}, ${window}${shadow}: ${count}${source}`;
}

function stepLines(s: ReportedStep, index: number, style: TerminalStyle): string[] {
  const padded = s.status.replace('_', ' ').padEnd(11);
  const status = s.status === 'decided' ? style.bold(padded) : s.status === 'passed' ? padded : style.dim(padded);
  const head = `  ${index + 1}. ${s.step.padEnd(10)}  ${status}  ${s.detail}`;
  const lines = [head];
  // Steps not reached or skipped list their rules in --json only.
  if (s.status !== 'decided' && s.status !== 'passed') return lines;
  for (const e of s.errors ?? []) lines.push(`       ${e}`);
  for (const r of s.rules ?? []) lines.push(...ruleLines(r, '       ', style));
  if (s.approval) {
    const found = s.approval.lookup === 'none' ? 'no approval for this call' : s.approval.lookup === 'not_looked_up' ? 'not looked up (shadow mode)' : `${s.approval.lookup} (${s.approval.id})`;
    lines.push(`       approval for ${s.approval.rule}: ${found}`);
  }
  for (const l of s.limits ?? []) lines.push(`       ${limitLine(l)}`);
  return lines;
}

/** An evaluation, one numbered line a step with its rules, conditions, approval and counters below. */
export function evaluationLines(e: ReportedEvaluation, style: TerminalStyle): string[] {
  return e.steps.flatMap((s) => stepLines(s, TRACE_STEPS.indexOf(s.step), style));
}

/** What the would-be evaluation is about, in words. */
function shadowHeading(mode: TraceReport['shadow_mode'], tool: string): string {
  return mode === 'policy'
    ? 'Shadow: the policy is in shadow mode; this is what it would have decided (recorded, not enforced)'
    : `Shadow: the rule of "${tool}" is in shadow mode; this is what it would have decided (recorded, not enforced)`;
}

/**
 * The trace as text: the enforced evaluation, then the would-be evaluation of what is in shadow
 * mode, each ending with its verdict.
 */
export function traceLines(trace: TraceReport, decision: Decision, tool: string, style: TerminalStyle): string[] {
  const lines = [style.bold('Evaluation'), ...evaluationLines(trace.enforced, style)];
  if (trace.shadow) {
    lines.push('', style.bold(shadowHeading(trace.shadow_mode, tool)), ...evaluationLines(trace.shadow, style));
    if (decision.shadow) lines.push(`  => ${verdictText(decision.shadow, style)}: ${decision.shadow.reason}`);
  } else if (trace.shadow_mode === 'tool') {
    lines.push('', style.dim(`The rule of "${tool}" is in shadow mode, but it was not evaluated: the call was decided before it (step ${trace.enforced.verdict.step}).`));
  }
  return lines;
}
