import type { SelectQueryBuilder } from 'kysely';
import type { LedgerDatabase } from '../database/ledger-schema.js';
import { DECISION_EFFECTS, LEDGER_EVENT_TYPES, type DecisionEffect, type LedgerEventType } from '../event/ledger-event.js';
import { LedgerError } from '../ledger-error.js';

/**
 * Which events an audit query or export selects. Every list matches any of its values;
 * different fields must all match. The time range is `from` inclusive, `to` exclusive.
 */
export interface LedgerFilter {
  from?: Date;
  to?: Date;
  types?: readonly LedgerEventType[];
  agents?: readonly string[];
  servers?: readonly string[];
  tools?: readonly string[];
  effects?: readonly DecisionEffect[];
  rules?: readonly string[];
  policyRevisions?: readonly string[];
  approvers?: readonly string[];
  callIds?: readonly string[];
  sessions?: readonly string[];
  approvalIds?: readonly string[];
  /** Would-be effects of decisions with something in shadow mode (`shadow_effect`). */
  shadowEffects?: readonly DecisionEffect[];
  /** Rules that would have decided in shadow mode (`shadow_rule`). */
  shadowRules?: readonly string[];
  /** true: only decisions with something in shadow mode; false: only those without. */
  shadow?: boolean;
  /** true: only decisions whose would-be effect differs from the enforced one (what a rollout would change). */
  shadowDiffers?: boolean;
}

/** Checks a filter, naming the field that is wrong. */
export function checkFilter(filter: LedgerFilter): void {
  for (const key of ['from', 'to'] as const) {
    const value = filter[key];
    if (value !== undefined && (!(value instanceof Date) || !Number.isFinite(value.getTime()))) {
      throw new LedgerError('ledger.invalid_query', `"${key}" must be a valid time`);
    }
  }
  if (filter.from && filter.to && filter.from.getTime() >= filter.to.getTime()) {
    throw new LedgerError(
      'ledger.invalid_query',
      `the time range is empty: "from" (${filter.from.toISOString()}) must be before "to" (${filter.to.toISOString()})`,
    );
  }
  for (const type of filter.types ?? []) {
    if (!(LEDGER_EVENT_TYPES as readonly string[]).includes(type)) {
      throw new LedgerError('ledger.invalid_query', `unknown event type "${type}"; expected one of ${LEDGER_EVENT_TYPES.join(', ')}`);
    }
  }
  for (const [what, effects] of [['effect', filter.effects], ['shadow effect', filter.shadowEffects]] as const) {
    for (const effect of effects ?? []) {
      if (!(DECISION_EFFECTS as readonly string[]).includes(effect)) {
        throw new LedgerError('ledger.invalid_query', `unknown ${what} "${effect}"; expected one of ${DECISION_EFFECTS.join(', ')}`);
      }
    }
  }
}

type EventsQuery<O> = SelectQueryBuilder<LedgerDatabase, 'ledger_events', O>;

/** Adds a filter's conditions to a query over `ledger_events`. */
export function applyFilter<O>(query: EventsQuery<O>, filter: LedgerFilter): EventsQuery<O> {
  let q = query;
  if (filter.from) q = q.where('occurred_at', '>=', filter.from.toISOString() as never);
  if (filter.to) q = q.where('occurred_at', '<', filter.to.toISOString() as never);
  const lists: Array<[keyof LedgerDatabase['ledger_events'], readonly string[] | undefined]> = [
    ['event_type', filter.types],
    ['agent_id', filter.agents],
    ['server', filter.servers],
    ['tool', filter.tools],
    ['effect', filter.effects],
    ['rule', filter.rules],
    ['policy_revision', filter.policyRevisions],
    ['approver', filter.approvers],
    ['call_id', filter.callIds],
    ['session_id', filter.sessions],
    ['approval_id', filter.approvalIds],
    ['shadow_effect', filter.shadowEffects],
    ['shadow_rule', filter.shadowRules],
  ];
  for (const [column, values] of lists) {
    if (values && values.length > 0) q = q.where(column, 'in', values as never);
  }
  if (filter.shadow !== undefined) q = q.where('shadow_effect', filter.shadow ? 'is not' : 'is', null);
  if (filter.shadowDiffers) q = q.where('shadow_effect', 'is not', null).where(({ eb, ref }) => eb(ref('shadow_effect'), 'is distinct from', ref('effect')));
  return q;
}

const DURATION = /^(\d+)(s|m|h|d|w)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * Parses a time bound: an ISO 8601 date or time (`2026-11-24`, `2026-11-24T10:00:00Z`), `now`,
 * or a duration before now (`90s`, `15m`, `24h`, `7d`, `2w`).
 *
 * @example parseLedgerTime('24h', new Date('2026-11-24T12:00:00Z')) // 2026-11-23T12:00:00.000Z
 * @throws LedgerError `ledger.invalid_query` naming `what` and the accepted forms.
 */
export function parseLedgerTime(text: string, now: Date, what?: string): Date {
  const value = text.trim();
  if (value === 'now') return new Date(now.getTime());
  const duration = DURATION.exec(value);
  if (duration) return new Date(now.getTime() - Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS]);
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    // A date or a time without a zone is UTC, so a range means the same wherever it is run.
    const iso = /^\d{4}-\d{2}-\d{2}$/.test(value)
      ? `${value}T00:00:00Z`
      : /(Z|[+-]\d{2}:?\d{2})$/.test(value)
        ? value.replace(' ', 'T')
        : `${value.replace(' ', 'T')}Z`;
    const parsed = new Date(iso);
    if (Number.isFinite(parsed.getTime())) return parsed;
  }
  throw new LedgerError(
    'ledger.invalid_query',
    `${what ? `${what} ` : ''}${JSON.stringify(text)} is not a time: use ISO 8601 (2026-11-24 or 2026-11-24T10:00:00Z), "now", or a duration before now (15m, 24h, 7d)`,
  );
}
