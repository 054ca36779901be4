import type { DecisionEvent, JsonValue } from '../ledger/decision-sink.js';

/** The effects a decision can have, in the order the console shows them. */
export const FEED_EFFECTS = ['allow', 'deny', 'approval_required', 'hidden'] as const;

/** One of {@link FEED_EFFECTS}. */
export type FeedEffect = (typeof FEED_EFFECTS)[number];

/** One recorded decision as the console's live record shows it (snake_case, as on the wire). */
export interface FeedDecision {
  /** Increases by one with every decision this gateway process records. */
  readonly seq: number;
  /** When it was recorded (ISO 8601). */
  readonly at: string;
  readonly call_id: string;
  readonly server: string;
  readonly tool: string;
  readonly agent: string;
  /** The agent's configured labels (the ledger does not store them). */
  readonly labels: Readonly<Record<string, string>>;
  readonly session: string | null;
  readonly effect: FeedEffect;
  readonly rule: string | null;
  readonly reason: string;
  /** The refusal's code (`policy.denied`, `rate_limited`, `invalid_arguments`, …), when it has one. */
  readonly code: string | null;
  readonly policy_revision: string | null;
  readonly approval_id: string | null;
  /** The arguments, redacted as in the ledger, as compact JSON cut to {@link ARGUMENTS_PREVIEW_CHARS} characters. */
  readonly arguments: string;
}

/** How many decisions were recorded in one minute, by effect. */
export interface FeedMinute {
  /** The minute's start (ISO 8601). */
  readonly minute: string;
  readonly allow: number;
  readonly deny: number;
  readonly approval_required: number;
  readonly hidden: number;
}

/** Options of a {@link DecisionFeed}. */
export interface DecisionFeedOptions {
  /** How many recent decisions it keeps (default 500). */
  readonly capacity?: number;
  /** The arguments as approvers may see them: redacted as in the ledger (default: as given). */
  readonly redact?: (server: string, tool: string, args: JsonValue) => JsonValue;
  /** An agent's labels, from the configuration. */
  readonly labels?: (agentId: string) => Readonly<Record<string, string>> | undefined;
  /** Current time in epoch ms (default `Date.now`). */
  readonly clock?: () => number;
}

/** The longest arguments preview a {@link FeedDecision} carries. */
export const ARGUMENTS_PREVIEW_CHARS = 2000;
/** The minutes {@link DecisionFeed.perMinute} covers: the last hour. */
export const FEED_MINUTES = 60;
const MINUTE_MS = 60_000;

/**
 * The gateway's recent decisions, in process, for the approvals console's live record: the
 * decisions the ledger committed, as they are committed ({@link record}), to whoever
 * subscribed. Bounded: it keeps the last `capacity` decisions and per-minute counts by effect
 * for the last hour, whatever the traffic. It is a view, not the record — the ledger is.
 *
 * @example
 * const feed = new DecisionFeed({ capacity: 500 });
 * const stop = feed.subscribe((d) => console.log(d.effect, d.tool));
 */
export class DecisionFeed {
  readonly #capacity: number;
  readonly #redact: NonNullable<DecisionFeedOptions['redact']>;
  readonly #labels: NonNullable<DecisionFeedOptions['labels']>;
  readonly #clock: () => number;
  /** A ring of the last decisions; `#next` is where the next one goes. */
  readonly #ring: Array<FeedDecision | undefined>;
  #next = 0;
  #seq = 0;
  /** Counts by minute (epoch minute -> counts), at most {@link FEED_MINUTES} of them. */
  readonly #minutes = new Map<number, Record<FeedEffect, number>>();
  readonly #listeners = new Set<(decision: FeedDecision) => void>();

  constructor(options: DecisionFeedOptions = {}) {
    const capacity = options.capacity ?? 500;
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a decision feed's capacity must be a positive integer (got ${capacity})`);
    this.#capacity = capacity;
    this.#ring = new Array<FeedDecision | undefined>(capacity);
    this.#redact = options.redact ?? ((_server, _tool, args) => args);
    this.#labels = options.labels ?? (() => undefined);
    this.#clock = options.clock ?? Date.now;
  }

  /** Adds a decision the ledger has just committed and tells every subscriber. */
  record(event: DecisionEvent): FeedDecision {
    const now = this.#clock();
    const effect = event.effect;
    const decision: FeedDecision = {
      seq: ++this.#seq,
      at: new Date(now).toISOString(),
      call_id: event.callId,
      server: event.server,
      tool: event.tool,
      agent: event.agentId,
      labels: this.#labels(event.agentId) ?? {},
      session: event.sessionId ?? null,
      effect,
      rule: event.rule,
      reason: event.reason,
      code: typeof event.detail?.code === 'string' ? event.detail.code : null,
      policy_revision: event.policyRevision,
      approval_id: event.approvalId ?? null,
      arguments: preview(this.#redact(event.server, event.tool, event.args)),
    };
    this.#ring[this.#next] = decision;
    this.#next = (this.#next + 1) % this.#capacity;
    const minute = Math.floor(now / MINUTE_MS);
    let counts = this.#minutes.get(minute);
    if (!counts) {
      counts = { allow: 0, deny: 0, approval_required: 0, hidden: 0 };
      this.#minutes.set(minute, counts);
      for (const m of this.#minutes.keys()) if (m <= minute - FEED_MINUTES) this.#minutes.delete(m);
    }
    counts[effect] += 1;
    for (const listener of [...this.#listeners]) {
      try {
        listener(decision);
      } catch {
        // A subscriber's failure (a broken console stream) must not reach the call being decided.
      }
    }
    return decision;
  }

  /** The decisions kept, oldest first. */
  recent(): FeedDecision[] {
    const out: FeedDecision[] = [];
    for (let i = 0; i < this.#capacity; i++) {
      const d = this.#ring[(this.#next + i) % this.#capacity];
      if (d) out.push(d);
    }
    return out;
  }

  /** Decisions per minute by effect over the last hour, oldest minute first, the current one last. */
  perMinute(): FeedMinute[] {
    const current = Math.floor(this.#clock() / MINUTE_MS);
    const out: FeedMinute[] = [];
    for (let m = current - FEED_MINUTES + 1; m <= current; m++) {
      const c = this.#minutes.get(m);
      out.push({ minute: new Date(m * MINUTE_MS).toISOString(), allow: c?.allow ?? 0, deny: c?.deny ?? 0, approval_required: c?.approval_required ?? 0, hidden: c?.hidden ?? 0 });
    }
    return out;
  }

  /** Calls `listener` with every decision recorded from now on; returns a function that stops it. */
  subscribe(listener: (decision: FeedDecision) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}

function preview(args: JsonValue): string {
  let text: string;
  try {
    text = JSON.stringify(args) ?? 'null';
  } catch {
    text = '"(arguments not representable as JSON)"';
  }
  return text.length > ARGUMENTS_PREVIEW_CHARS ? `${text.slice(0, ARGUMENTS_PREVIEW_CHARS - 1)}…` : text;
}
