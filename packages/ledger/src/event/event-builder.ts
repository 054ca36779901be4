import { canonicalJson, sha256Hex } from '@tollgate/policy';
import { LedgerError } from '../ledger-error.js';
import type { ArgumentRedactor } from './argument-redactor.js';
import type { HashedEventFields } from './event-hash.js';
import { newEventId } from './event-id.js';
import {
  DECISION_EFFECTS,
  LEDGER_EVENT_TYPES,
  OUTCOME_STATUSES,
  type JsonObject,
  type JsonValue,
  type LedgerEventInput,
} from './ledger-event.js';

/** An event ready to be chained. */
export interface PreparedEvent {
  /**
   * Every column of the row; the strand, sequence and hash chain are placeholders (empty,
   * 0) until the writer chains the event, which it does in place.
   */
  fields: HashedEventFields & { prev_hash: string; hash: string };
  /** The RFC 8785 JSON of the stored `args`, or null: hashed and stored as is. */
  argsJson: string | null;
  /** The RFC 8785 JSON of the stored `detail`, or null. */
  detailJson: string | null;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Validates an event input and turns it into the row the ledger stores: a new event id, the
 * time, redacted arguments and the digest of the full arguments.
 *
 * @throws LedgerError `ledger.invalid_event` naming the event type and the field that is wrong.
 */
export function prepareEvent(input: LedgerEventInput, now: Date, redactor: ArgumentRedactor): PreparedEvent {
  if (input === null || typeof input !== 'object') {
    throw new LedgerError('ledger.invalid_event', `ledger event: expected an object, got ${describe(input)}`);
  }
  const type = (input as { type?: unknown }).type;
  if (typeof type !== 'string' || !(LEDGER_EVENT_TYPES as readonly string[]).includes(type)) {
    throw new LedgerError(
      'ledger.invalid_event',
      `ledger event: "type" must be one of ${LEDGER_EVENT_TYPES.join(', ')} (got ${describe(type)})`,
    );
  }
  const v = new Fields(input as unknown as Record<string, unknown>, type);
  const at = v.time('at') ?? now;
  const row: PreparedEvent['fields'] = {
    event_id: newEventId(at.getTime()),
    occurred_at: isoTime(at),
    strand_id: '',
    seq: 0,
    prev_hash: '',
    hash: '',
    event_type: input.type,
    call_id: null,
    agent_id: null,
    session_id: null,
    server: null,
    tool: null,
    args: null,
    args_sha256: null,
    effect: null,
    rule: null,
    reason: null,
    policy_revision: null,
    policy_digest: null,
    approval_id: null,
    approver: null,
    outcome_status: null,
    duration_ms: null,
    result_sha256: null,
    detail: v.detail(),
    shadow_effect: null,
    shadow_rule: null,
  };

  let argsJson: string | null = null;
  switch (input.type) {
    case 'decision':
    case 'approval.requested': {
      v.callIdentity(row);
      const args = v.args();
      row.args_sha256 = sha256Hex(args.canonical);
      row.args = sanitize(redactor.empty ? args.value : redactor.redact(row.server, row.tool, args.value));
      // Most arguments are stored as given: reuse their canonical JSON for the hash.
      argsJson = row.args === args.value ? args.canonical : canonicalJson(row.args);
      row.rule = v.nullableString('rule');
      row.reason = v.text('reason');
      row.policy_revision = v.nullableString('policyRevision');
      if (input.type === 'decision') {
        row.effect = v.oneOf('effect', DECISION_EFFECTS);
        row.policy_digest = v.nullableId('policyDigest');
        if (row.policy_digest === null && row.effect === 'allow') {
          throw v.invalid('policyDigest', 'must name the policy that allowed the call (only a refusal made without a policy in force has none)', input.policyDigest);
        }
        row.approval_id = v.optionalId('approvalId');
        row.shadow_effect = v.optionalOneOf('shadowEffect', DECISION_EFFECTS);
        row.shadow_rule = v.optionalText('shadowRule');
        if (row.shadow_effect === null && row.shadow_rule !== null) {
          throw v.invalid('shadowRule', 'needs a shadowEffect: a shadow rule is recorded only with the effect it would have had', input.shadowRule);
        }
      } else {
        row.policy_digest = v.id('policyDigest');
        row.approval_id = v.id('approvalId');
        const expiresAt = v.time('expiresAt');
        if (expiresAt === undefined) throw v.invalid('expiresAt', 'must be a Date', undefined);
        row.detail = { ...(row.detail ?? {}), expires_at: expiresAt.toISOString() };
      }
      break;
    }
    case 'outcome': {
      v.callIdentity(row);
      row.outcome_status = v.oneOf('status', OUTCOME_STATUSES);
      row.duration_ms = v.duration('durationMs');
      row.result_sha256 = v.optionalDigest('resultSha256');
      row.reason = v.optionalText('reason');
      break;
    }
    case 'approval.granted':
    case 'approval.denied':
    case 'approval.expired': {
      row.approval_id = v.id('approvalId');
      row.call_id = v.optionalId('callId');
      row.agent_id = v.id('agentId');
      row.session_id = v.optionalId('sessionId');
      row.server = v.id('server');
      row.tool = v.id('tool');
      row.args_sha256 = v.digest('argsSha256');
      if (input.type === 'approval.expired') {
        if (input.approver !== null && input.approver !== undefined) {
          throw v.invalid('approver', 'must be null for an expired approval', input.approver);
        }
      } else {
        row.approver = v.id('approver');
      }
      row.reason = v.optionalText('reason');
      break;
    }
    case 'policy.activated':
    case 'policy.rejected': {
      row.server = v.optionalId('server');
      row.policy_revision = v.nullableString('policyRevision');
      row.policy_digest = v.nullableId('policyDigest');
      row.reason = v.optionalText('reason');
      break;
    }
  }
  return { fields: row, argsJson, detailJson: row.detail === null ? null : canonicalJson(row.detail) };
}

let lastTime = Number.NaN;
let lastIso = '';

/** `toISOString()`, remembered for the last millisecond: events come many to a millisecond. */
function isoTime(at: Date): string {
  const ms = at.getTime();
  if (ms !== lastTime) {
    lastTime = ms;
    lastIso = at.toISOString();
  }
  return lastIso;
}

/** Reads and checks the fields of one event input, naming the event and field in errors. */
class Fields {
  constructor(
    private readonly input: Record<string, unknown>,
    private readonly type: string,
  ) {}

  private get where(): string {
    return `${this.type} event`;
  }

  invalid(field: string, expectation: string, got: unknown): LedgerError {
    return new LedgerError('ledger.invalid_event', `${this.where}: "${field}" ${expectation} (got ${describe(got)})`);
  }

  callIdentity(row: PreparedEvent['fields']): void {
    row.call_id = this.id('callId');
    row.agent_id = this.id('agentId');
    row.session_id = this.optionalId('sessionId');
    row.server = this.id('server');
    row.tool = this.id('tool');
  }

  /** A non-empty identifier PostgreSQL can store exactly (no NUL, no unpaired surrogate). */
  id(field: string): string {
    const value = this.input[field];
    if (typeof value !== 'string' || value === '' || UNSTORABLE_TEST.test(value)) {
      throw this.invalid(field, 'must be a non-empty string without NUL or unpaired surrogate characters', value);
    }
    return value;
  }

  optionalId(field: string): string | null {
    const value = this.input[field];
    return value === undefined || value === null ? null : this.id(field);
  }

  nullableId(field: string): string | null {
    if (this.input[field] === undefined) throw this.invalid(field, 'must be a string or null', undefined);
    return this.optionalId(field);
  }

  nullableString(field: string): string | null {
    const value = this.input[field];
    if (value === null) return null;
    if (typeof value !== 'string') throw this.invalid(field, 'must be a string or null', value);
    return clean(value);
  }

  text(field: string): string {
    const value = this.input[field];
    if (typeof value !== 'string') throw this.invalid(field, 'must be a string', value);
    return clean(value);
  }

  optionalText(field: string): string | null {
    const value = this.input[field];
    return value === undefined || value === null ? null : this.text(field);
  }

  oneOf<T extends string>(field: string, allowed: readonly T[]): T {
    const value = this.input[field];
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      throw this.invalid(field, `must be one of ${allowed.join(', ')}`, value);
    }
    return value as T;
  }

  optionalOneOf<T extends string>(field: string, allowed: readonly T[]): T | null {
    const value = this.input[field];
    return value === undefined || value === null ? null : this.oneOf(field, allowed);
  }

  digest(field: string): string {
    const value = this.input[field];
    if (typeof value !== 'string' || !HEX64.test(value)) {
      throw this.invalid(field, 'must be a hex SHA-256 digest (64 lowercase hex characters)', value);
    }
    return value;
  }

  optionalDigest(field: string): string | null {
    const value = this.input[field];
    return value === undefined || value === null ? null : this.digest(field);
  }

  duration(field: string): number {
    const value = this.input[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw this.invalid(field, 'must be a finite number of milliseconds >= 0', value);
    }
    // -0 would print as 0 in the canonical form but is a distinct double; store plain 0.
    return value === 0 ? 0 : value;
  }

  time(field: string): Date | undefined {
    const value = this.input[field];
    if (value === undefined) return undefined;
    if (!(value instanceof Date) || !Number.isFinite(value.getTime())) {
      throw this.invalid(field, 'must be a valid Date', value);
    }
    const year = value.getUTCFullYear();
    if (year < 1970 || year > 9999) throw this.invalid(field, 'must be a Date between the years 1970 and 9999', value);
    return value;
  }

  args(): { value: JsonValue; canonical: string } {
    const value = this.input.args;
    if (value === undefined) throw this.invalid('args', "must be the call's arguments (a JSON value)", value);
    this.json('args', value);
    return { value: value as JsonValue, canonical: canonicalJson(value) };
  }

  detail(): JsonObject | null {
    const value = this.input.detail;
    if (value === undefined || value === null) return null;
    if (typeof value !== 'object' || Array.isArray(value)) throw this.invalid('detail', 'must be a JSON object or null', value);
    this.json('detail', value);
    return sanitize(value as JsonObject) as JsonObject;
  }

  /** Checks that a value is plain JSON (what an MCP client can send), naming the first place that is not. */
  json(field: string, value: unknown): void {
    const problem = findNonJson(value, field);
    if (problem) throw new LedgerError('ledger.invalid_event', `${this.where}: ${problem}`);
  }
}

function findNonJson(value: unknown, path: string): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path} is ${value}, which JSON cannot represent`;
    case 'object': {
      if (value === null) return undefined;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (value[i] === undefined) return `${path}[${i}] is undefined, which JSON cannot represent`;
          const problem = findNonJson(value[i], `${path}[${i}]`);
          if (problem) return problem;
        }
        return undefined;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        return `${path} is a ${(value as object).constructor?.name ?? 'non-plain object'}, not a plain JSON object`;
      }
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined) continue;
        const problem = findNonJson(item, `${path}.${key}`);
        if (problem) return problem;
      }
      return undefined;
    }
    default:
      return `${path} is a ${typeof value}, which JSON cannot represent`;
  }
}

// NUL and unpaired UTF-16 surrogates cannot be stored in PostgreSQL text or jsonb.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const UNSTORABLE_TEST = new RegExp(UNSTORABLE.source);

/**
 * Stored text replaces what PostgreSQL cannot hold (NUL, unpaired surrogates) with U+FFFD, so
 * one odd argument cannot fail a whole batch. Digests are always of the original.
 */
function clean(text: string): string {
  return UNSTORABLE_TEST.test(text) ? text.replace(UNSTORABLE, '\uFFFD') : text;
}

function sanitize(value: JsonValue): JsonValue {
  if (typeof value === 'string') return clean(value);
  if (Array.isArray(value)) {
    let copy: JsonValue[] | undefined;
    value.forEach((item, i) => {
      const next = sanitize(item);
      if (next !== item) (copy ??= value.slice())[i] = next;
    });
    return copy ?? value;
  }
  if (value !== null && typeof value === 'object') {
    let copy: { [key: string]: JsonValue } | undefined;
    for (const key of Object.keys(value)) {
      const item = value[key];
      // canonical JSON drops undefined members; drop them here too so the stored copy matches.
      if (item === undefined) {
        copy ??= { ...value };
        delete copy[key];
        continue;
      }
      const cleanKey = clean(key);
      const next = sanitize(item);
      if (next !== item || cleanKey !== key) {
        copy ??= { ...value };
        if (cleanKey !== key) delete copy[key];
        copy[cleanKey] = next;
      }
    }
    return copy ?? value;
  }
  return value;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value instanceof Date) return `Date(${Number.isFinite(value.getTime()) ? value.toISOString() : 'invalid'})`;
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
