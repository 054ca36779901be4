import type { HashedEventFields } from '../event/event-hash.js';
import type { PipelinedStatement } from '../database/ledger-connection.js';

/** A chained event row as the writer inserts it. */
export type ChainedEventRow = HashedEventFields & { prev_hash: string; hash: string };

/** A chained row with the canonical JSON of its `args` and `detail`, which are stored as is. */
export interface ChainedEvent {
  row: ChainedEventRow;
  argsJson: string | null;
  detailJson: string | null;
}

/** The strand row written with a strand's first batch. */
export interface StrandRegistration {
  strandId: string;
  startedAt: string;
  host: string;
  pid: number;
  label: string | null;
}

// One array parameter per column; the strand id is one scalar for the whole batch.
const SELECT_ROWS = `SELECT u.event_id, u.occurred_at, $3::uuid, u.seq, u.prev_hash, u.hash, u.event_type,
       u.call_id, u.agent_id, u.session_id, u.server, u.tool, u.args, u.args_sha256, u.effect, u.rule,
       u.reason, u.policy_revision, u.policy_digest, u.approval_id, u.approver, u.outcome_status,
       u.duration_ms, u.result_sha256, u.detail, u.shadow_effect, u.shadow_rule
FROM unnest($1::uuid[], $2::timestamptz[], $4::bigint[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::jsonb[], $14::text[],
            $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[],
            $22::text[], $23::float8[], $24::text[], $25::jsonb[], $26::text[], $27::text[])
  AS u(event_id, occurred_at, seq, prev_hash, hash, event_type, call_id, agent_id, session_id, server,
       tool, args, args_sha256, effect, rule, reason, policy_revision, policy_digest, approval_id,
       approver, outcome_status, duration_ms, result_sha256, detail, shadow_effect, shadow_rule)`;

const INSERT_EVENTS = `INSERT INTO ledger_events (event_id, occurred_at, strand_id, seq, prev_hash, hash, event_type,
  call_id, agent_id, session_id, server, tool, args, args_sha256, effect, rule, reason, policy_revision,
  policy_digest, approval_id, approver, outcome_status, duration_ms, result_sha256, detail, shadow_effect, shadow_rule)
${SELECT_ROWS}`;

/** Inserts one batch: a single multi-row statement, so it commits whole or not at all. */
export const INSERT_BATCH_SQL = INSERT_EVENTS;

/** The same, registering the strand in the same statement (its first batch). */
export const INSERT_FIRST_BATCH_SQL = `WITH strand AS (
  INSERT INTO ledger_strands (strand_id, started_at, host, pid, label)
  VALUES ($3::uuid, $28::timestamptz, $29::text, $30::integer, $31::text)
  ON CONFLICT (strand_id) DO NOTHING
)
${INSERT_EVENTS}`;

/** COPY of a batch (PostgreSQL): PostgreSQL's bulk path, one statement, whole or nothing. */
export const COPY_EVENTS_SQL = `COPY ledger_events (event_id, occurred_at, strand_id, seq, prev_hash, hash, event_type, call_id,
  agent_id, session_id, server, tool, args, args_sha256, effect, rule, reason, policy_revision, policy_digest,
  approval_id, approver, outcome_status, duration_ms, result_sha256, detail, shadow_effect, shadow_rule) FROM STDIN`;

/** Registers a strand; with COPY it runs in the same transaction as the strand's first batch. */
export const REGISTER_STRAND_SQL = `INSERT INTO ledger_strands (strand_id, started_at, host, pid, label)
VALUES ($1::uuid, $2::timestamptz, $3::text, $4::integer, $5::text)
ON CONFLICT (strand_id) DO NOTHING`;

/** The parameters of {@link REGISTER_STRAND_SQL}. */
export function registrationParameters(registration: StrandRegistration): unknown[] {
  return [registration.strandId, registration.startedAt, registration.host, registration.pid, registration.label];
}

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_SPECIAL_ALL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One value in COPY's text format: `\N` for null, backslash escapes for `\`, newline, CR and tab. */
function copyValue(value: string | number | null): string {
  if (value === null) return '\\N';
  if (typeof value === 'number') return String(value);
  return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c]!) : value;
}

/** The rows of {@link COPY_EVENTS_SQL}: one line per event, tab-separated, in column order. */
export function batchCopyData(events: readonly ChainedEvent[]): string {
  let data = '';
  for (const { row: r, argsJson, detailJson } of events) {
    data +=
      copyValue(r.event_id) + '\t' +
      copyValue(r.occurred_at) + '\t' +
      copyValue(r.strand_id) + '\t' +
      copyValue(r.seq) + '\t' +
      copyValue(r.prev_hash) + '\t' +
      copyValue(r.hash) + '\t' +
      copyValue(r.event_type) + '\t' +
      copyValue(r.call_id) + '\t' +
      copyValue(r.agent_id) + '\t' +
      copyValue(r.session_id) + '\t' +
      copyValue(r.server) + '\t' +
      copyValue(r.tool) + '\t' +
      copyValue(r.args === null ? null : (argsJson ?? JSON.stringify(r.args))) + '\t' +
      copyValue(r.args_sha256) + '\t' +
      copyValue(r.effect) + '\t' +
      copyValue(r.rule) + '\t' +
      copyValue(r.reason) + '\t' +
      copyValue(r.policy_revision) + '\t' +
      copyValue(r.policy_digest) + '\t' +
      copyValue(r.approval_id) + '\t' +
      copyValue(r.approver) + '\t' +
      copyValue(r.outcome_status) + '\t' +
      copyValue(r.duration_ms) + '\t' +
      copyValue(r.result_sha256) + '\t' +
      copyValue(r.detail === null ? null : (detailJson ?? JSON.stringify(r.detail))) + '\t' +
      copyValue(r.shadow_effect ?? null) + '\t' +
      copyValue(r.shadow_rule ?? null) + '\n';
  }
  return data;
}

/** Reads a strand's committed head, to resynchronise after a failed batch. */
export const STRAND_HEAD_SQL = `SELECT EXISTS (SELECT 1 FROM ledger_strands WHERE strand_id = $1::uuid) AS registered,
       h.seq, h.hash
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
  SELECT seq, hash FROM ledger_events WHERE strand_id = $1::uuid ORDER BY seq DESC LIMIT 1
) AS h ON true`;

/** The parameters of {@link INSERT_BATCH_SQL} (and, with a registration, {@link INSERT_FIRST_BATCH_SQL}). */
export function batchParameters(strandId: string, events: readonly ChainedEvent[], registration?: StrandRegistration): unknown[] {
  const n = events.length;
  const cols: unknown[][] = Array.from({ length: 26 }, () => new Array<unknown>(n));
  for (let i = 0; i < n; i++) {
    const { row: r, argsJson, detailJson } = events[i]!;
    cols[0]![i] = r.event_id;
    cols[1]![i] = r.occurred_at;
    cols[2]![i] = r.seq;
    cols[3]![i] = r.prev_hash;
    cols[4]![i] = r.hash;
    cols[5]![i] = r.event_type;
    cols[6]![i] = r.call_id;
    cols[7]![i] = r.agent_id;
    cols[8]![i] = r.session_id;
    cols[9]![i] = r.server;
    cols[10]![i] = r.tool;
    cols[11]![i] = r.args === null ? null : (argsJson ?? JSON.stringify(r.args));
    cols[12]![i] = r.args_sha256;
    cols[13]![i] = r.effect;
    cols[14]![i] = r.rule;
    cols[15]![i] = r.reason;
    cols[16]![i] = r.policy_revision;
    cols[17]![i] = r.policy_digest;
    cols[18]![i] = r.approval_id;
    cols[19]![i] = r.approver;
    cols[20]![i] = r.outcome_status;
    cols[21]![i] = r.duration_ms;
    cols[22]![i] = r.result_sha256;
    cols[23]![i] = r.detail === null ? null : (detailJson ?? JSON.stringify(r.detail));
    cols[24]![i] = r.shadow_effect ?? null;
    cols[25]![i] = r.shadow_rule ?? null;
  }
  const [eventId, occurredAt, ...rest] = cols;
  const values: unknown[] = [eventId, occurredAt, strandId, ...rest];
  if (registration) {
    values.push(registration.startedAt, registration.host, registration.pid, registration.label);
  }
  return values;
}

/** One event as a single-row INSERT (the common batch of one): scalar parameters, no unnest. */
export const INSERT_ONE_SQL = `INSERT INTO ledger_events (event_id, occurred_at, strand_id, seq, prev_hash, hash, event_type,
  call_id, agent_id, session_id, server, tool, args, args_sha256, effect, rule, reason, policy_revision,
  policy_digest, approval_id, approver, outcome_status, duration_ms, result_sha256, detail, shadow_effect, shadow_rule)
VALUES ($1::uuid, $2::timestamptz, $3::uuid, $4::bigint, $5::text, $6::text, $7::text, $8::text, $9::text, $10::text,
  $11::text, $12::text, $13::jsonb, $14::text, $15::text, $16::text, $17::text, $18::text, $19::text, $20::text,
  $21::text, $22::text, $23::float8, $24::text, $25::jsonb, $26::text, $27::text)`;

/** A parameter in PostgreSQL's text form. */
function text(value: string | number | null | undefined): string | null {
  return value === null || value === undefined ? null : typeof value === 'number' ? String(value) : value;
}

const ARRAY_SPECIAL = /["\\]/g;

/** A one-dimensional array literal (`{"a",NULL,"b"}`): every element quoted, so any text fits. */
function arrayLiteral(values: readonly (string | number | null | undefined)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else out += '"' + (typeof v === 'number' ? String(v) : v.replace(ARRAY_SPECIAL, '\\$&')) + '"';
  }
  return out + '}';
}

/** The column values of one chained event, in {@link INSERT_ONE_SQL}'s order (without the strand id). */
function rowValues(e: ChainedEvent): Array<string | number | null> {
  const { row: r, argsJson, detailJson } = e;
  return [
    r.event_id,
    r.occurred_at,
    r.seq,
    r.prev_hash,
    r.hash,
    r.event_type,
    r.call_id,
    r.agent_id,
    r.session_id,
    r.server,
    r.tool,
    r.args === null ? null : (argsJson ?? JSON.stringify(r.args)),
    r.args_sha256,
    r.effect,
    r.rule,
    r.reason,
    r.policy_revision,
    r.policy_digest,
    r.approval_id,
    r.approver,
    r.outcome_status,
    r.duration_ms,
    r.result_sha256,
    r.detail === null ? null : (detailJson ?? JSON.stringify(r.detail)),
    r.shadow_effect ?? null,
    r.shadow_rule ?? null,
  ];
}

/**
 * The statements that write one batch in a pipeline (PostgreSQL): the strand's registration
 * when it is its first batch, then one INSERT — a single-row one for a batch of one, else
 * `INSERT … SELECT FROM unnest(…)`. Sent in one round trip they commit together or not at all.
 */
export function insertStatements(strandId: string, events: readonly ChainedEvent[], registration?: StrandRegistration): PipelinedStatement[] {
  const statements: PipelinedStatement[] = [];
  if (registration) {
    statements.push({
      name: 'tollgate_register_strand',
      text: REGISTER_STRAND_SQL,
      values: [registration.strandId, registration.startedAt, registration.host, String(registration.pid), registration.label],
    });
  }
  if (events.length === 1) {
    const v = rowValues(events[0]!);
    const values = new Array<string | null>(27);
    values[0] = text(v[0]);
    values[1] = text(v[1]);
    values[2] = strandId;
    for (let i = 2; i < v.length; i++) values[i + 1] = text(v[i]);
    statements.push({ name: 'tollgate_insert_event', text: INSERT_ONE_SQL, values });
    return statements;
  }
  const cols: Array<Array<string | number | null>> = Array.from({ length: 26 }, () => new Array(events.length));
  for (let j = 0; j < events.length; j++) {
    const v = rowValues(events[j]!);
    for (let i = 0; i < 26; i++) cols[i]![j] = v[i]!;
  }
  const values: Array<string | null> = [arrayLiteral(cols[0]!), arrayLiteral(cols[1]!), strandId];
  for (let i = 2; i < 26; i++) values.push(arrayLiteral(cols[i]!));
  statements.push({ name: 'tollgate_insert_events', text: INSERT_BATCH_SQL, values });
  return statements;
}
