import {
  LEDGER_EVENT_COLUMNS,
  csvHeader,
  eventToCsvLine,
  type CheckpointResult,
  type LedgerEventRow,
  type MigrationReport,
  type VerifyReport,
} from '@tollgate/ledger';

/** Output formats of `tollgate ledger query`. */
export const QUERY_FORMATS = ['table', 'json', 'csv'] as const;

/** One of {@link QUERY_FORMATS}. */
export type QueryFormat = (typeof QUERY_FORMATS)[number];

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What `tollgate ledger migrate` prints. */
export function renderMigrationReport(report: MigrationReport): string {
  const lines: string[] = [];
  if (report.applied.length === 0) {
    lines.push(`The ledger at ${report.location} is up to date (${plural(report.alreadyApplied.length, 'migration')} applied).`);
  } else {
    lines.push(`Applied ${plural(report.applied.length, 'migration')} to ${report.location}:`);
    for (const name of report.applied) lines.push(`  ${name}`);
    if (report.alreadyApplied.length > 0) lines.push(`(${plural(report.alreadyApplied.length, 'migration')} already applied)`);
  }
  lines.push(
    report.roles.length > 0
      ? `Roles granted: ${report.roles.join(', ')}.`
      : 'Roles tollgate_writer and tollgate_auditor do not exist and this user may not create them; ask a DBA to create them and migrate again.',
  );
  return `${lines.join('\n')}\n`;
}

/** What `tollgate ledger verify` prints: the verdict, the first bad event, then details. */
export function renderVerifyReport(report: VerifyReport, strict: boolean): string {
  const lines: string[] = [];
  const what = `${plural(report.events, 'event')} in ${plural(report.strands.length, 'strand')} and ${plural(report.checkpoints.length, 'checkpoint')}`;
  if (report.ok) {
    lines.push(`OK: verified ${what} of ${report.location} in ${report.duration_ms} ms.`);
  } else {
    lines.push(`FAILED: ${plural(report.problem_count, 'problem')} in ${what} of ${report.location}.`);
    const first = report.first_problem;
    if (first) {
      lines.push('');
      lines.push('First bad event:');
      if (first.strand_id) lines.push(`  strand   ${first.strand_id}`);
      if (first.seq !== null) lines.push(`  seq      ${first.seq}`);
      if (first.event_id) lines.push(`  event    ${first.event_id}`);
      if (first.checkpoint_id) lines.push(`  checkpoint ${first.checkpoint_id}`);
      if (first.approval_id) lines.push(`  approval ${first.approval_id}`);
      lines.push(`  problem  ${first.kind} (${first.cause})`);
      lines.push(`  ${first.message}`);
    }
    const rest = report.problems.filter((p) => p !== first);
    if (rest.length > 0) {
      lines.push('');
      lines.push('Other problems:');
      for (const p of rest) lines.push(`  [${p.kind}] ${p.message}`);
      const hidden = report.problem_count - report.problems.length;
      if (hidden > 0) lines.push(`  … and ${hidden} more`);
    }
  }
  for (const c of report.checkpoints) {
    const trust = c.trusted === null ? '' : c.trusted ? ', trusted key' : ', UNTRUSTED key';
    lines.push(`Checkpoint ${c.checkpoint_id} (${c.source}, ${c.created_at}, ${plural(c.strands, 'strand')}${trust}): ${c.ok ? 'ok' : 'BAD'}`);
  }
  const a = report.approvals;
  if (a.requests + a.votes + a.expiries + a.uses > 0) {
    const verdict = a.problems === 0 ? 'all sound' : `${plural(a.problems, 'problem')} (above)`;
    lines.push(
      `Approvals: ${plural(a.requests, 'request')}, ${plural(a.votes, 'vote')}, ${a.expiries} ${a.expiries === 1 ? 'expiry' : 'expiries'}, ` +
        `${plural(a.uses, 'call')} run on an approval: ${verdict}.`,
    );
  }
  const missing = report.missing_outcomes;
  if (missing.count > 0) {
    lines.push('');
    lines.push(`${plural(missing.count, 'allowed call')} without an outcome${strict ? ' (a failure with --strict)' : ''}:`);
    for (const m of missing.sample) {
      lines.push(`  ${m.call_id}  ${m.decided_at}  ${m.agent_id ?? '-'}  ${m.server ?? '-'}/${m.tool ?? '-'}  (strand ${m.strand_id} seq ${m.seq})`);
    }
    if (missing.count > missing.sample.length) lines.push(`  … and ${missing.count - missing.sample.length} more`);
  }
  if (report.verification_id) lines.push(`Recorded as verification ${report.verification_id}.`);
  return `${lines.join('\n')}\n`;
}

const TABLE_COLUMNS: Array<{ title: string; value: (e: LedgerEventRow) => string; max: number }> = [
  { title: 'TIME', value: (e) => e.occurred_at, max: 24 },
  { title: 'TYPE', value: (e) => e.event_type, max: 18 },
  { title: 'AGENT', value: (e) => e.agent_id ?? '', max: 20 },
  { title: 'SESSION', value: (e) => e.session_id ?? '', max: 16 },
  { title: 'TOOL', value: (e) => (e.tool ? `${e.server ?? ''}/${e.tool}` : (e.server ?? '')), max: 40 },
  { title: 'EFFECT', value: (e) => e.effect ?? e.outcome_status ?? '', max: 17 },
  { title: 'RULE', value: (e) => e.rule ?? '', max: 40 },
  // Shown only when some event has a shadow decision (empty columns are left out).
  { title: 'SHADOW', value: (e) => (e.shadow_effect ? `${e.shadow_effect}${e.shadow_rule ? ` ${e.shadow_rule}` : ''}` : ''), max: 40 },
  { title: 'REV', value: (e) => e.policy_revision ?? '', max: 8 },
  { title: 'APPROVAL', value: (e) => [e.approval_id, e.approver].filter(Boolean).join(' by '), max: 30 },
  { title: 'CALL', value: (e) => e.call_id ?? '', max: 36 },
  { title: 'REASON', value: (e) => e.reason ?? '', max: 60 },
];

// Terminal control characters in agent-supplied text must not reach the terminal.
const printable = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Events as an aligned text table (long values are clipped; use csv or json for everything). */
export function renderEventsTable(events: readonly LedgerEventRow[]): string {
  const cells = events.map((e) => TABLE_COLUMNS.map((c) => clip(printable(c.value(e)), c.max)));
  const used = TABLE_COLUMNS.map((c, i) => ({ ...c, index: i })).filter((c) => cells.some((row) => row[c.index] !== ''));
  const widths = used.map((c) => Math.max(c.title.length, ...cells.map((row) => row[c.index]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(used.map((c) => c.title)), ...cells.map((row) => line(used.map((c) => row[c.index]!)))].join('\n')}\n`;
}

/** Events in the requested format; `table` also says when the limit cut the list. */
export function renderEvents(events: readonly LedgerEventRow[], format: QueryFormat, truncated: boolean, limit: number): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(events, null, 2)}\n`;
    case 'csv':
      return `${[csvHeader(), ...events.map(eventToCsvLine)].join('\n')}\n`;
    case 'table': {
      if (events.length === 0) return 'No events match.\n';
      const table = renderEventsTable(events);
      const note = truncated ? `(first ${limit} events shown; raise --limit, narrow the filter, or use \`tollgate ledger export\`)\n` : `(${plural(events.length, 'event')})\n`;
      return table + note;
    }
  }
}

/** What `tollgate ledger checkpoint` prints. */
export function renderCheckpoint(result: CheckpointResult): string {
  const { checkpoint } = result;
  const lines = [
    `Signed checkpoint ${checkpoint.checkpoint_id} of ${plural(checkpoint.heads.length, 'strand')} (${plural(result.events, 'event')}) with key ${checkpoint.key_id}.`,
    `Stored in the ledger${result.file ? ` and written to ${result.file}` : ''}.`,
  ];
  if (!result.file) lines.push('Keep a copy outside the database too (--out <file>), e.g. committed to the policy repository.');
  return `${lines.join('\n')}\n`;
}

/** The columns of exports and CSV output, for help text. */
export const EVENT_COLUMNS_TEXT = LEDGER_EVENT_COLUMNS.join(', ');
