import type { ApprovalBinding, ApprovalDeliveryRecord, ApprovalJson, ApprovalRecord, ApprovalStatus, ApprovalStore } from '@tollgate/ledger';
import type { ApprovalRequirement } from '@tollgate/policy';
import type { Logger } from 'pino';
import { errorMessage } from '../gateway-error.js';
import type { DecisionSink, JsonValue } from '../ledger/decision-sink.js';
import type { AdminIdentity, ApproverDirectory } from './approver-directory.js';
import type { ApprovalNotifier, ApprovalTransition } from './notify/approval-notifier.js';

/** Dependencies of an {@link ApprovalDesk}. */
export interface ApprovalDeskOptions {
  readonly store: ApprovalStore;
  /** Where transitions are recorded (before anyone is told of them). */
  readonly sink: DecisionSink;
  readonly directory: ApproverDirectory;
  /** How long a request stays open when its rule sets no timeout (ms). */
  readonly defaultTimeoutMs: number;
  /** The arguments as approvers may see them: redacted as in the ledger. */
  readonly redact: (server: string, tool: string, args: JsonValue) => JsonValue;
  readonly logger: Logger;
  /** Current time in epoch ms (default `Date.now`). */
  readonly clock?: () => number;
  /** How often requests nobody waits for are checked for expiry (ms, default 5000). */
  readonly sweepIntervalMs?: number;
  /**
   * The longest a held call sleeps without a notification before it reads its request again
   * (ms, default 10000): a safety net for a notification lost with a dropped connection, not
   * the way calls are woken.
   */
  readonly recheckMs?: number;
  /**
   * Told of every transition (opened, each vote, expired) once its ledger event is committed
   * and the request's new state stored (`approvals.notify`); it returns at once.
   */
  readonly notifier?: ApprovalNotifier;
}

/** A call that needs an approval: who asked, for what, under which rule. */
export interface ApprovalCall {
  readonly binding: ApprovalBinding;
  readonly callId: string;
  readonly sessionId: string | null;
  /** The full arguments (they are redacted for display here). */
  readonly args: JsonValue;
  readonly reason: string;
  readonly requirement: ApprovalRequirement;
}

/** How a wait for a decision ended: the request (decided or not), or why the wait stopped. */
export type ApprovalWait = ApprovalRecord | 'timeout' | 'cancelled' | 'closing';

/** What the admin API answers to a vote. */
export type VoteOutcome =
  | { readonly status: 200; readonly record: ApprovalRecord }
  | { readonly status: 403 | 404 | 409; readonly error: string; readonly record?: ApprovalRecord };

/** Statuses after which nothing more happens to a request. */
const DECIDED: ReadonlySet<ApprovalStatus> = new Set(['granted', 'denied', 'expired', 'consumed']);

/**
 * The gateway's side of human approval (DESIGN §5), over the shared {@link ApprovalStore}:
 * opens (or joins) the request of a held call and records `approval.requested` before anyone
 * can see it; records each approver's grant or denial and each expiry before the state changes
 * and anyone is woken; wakes the calls held on this replica when a request they wait for
 * changes on any replica (the store's LISTEN/NOTIFY); and says who may decide what.
 */
export class ApprovalDesk {
  readonly #store: ApprovalStore;
  readonly #sink: DecisionSink;
  readonly #directory: ApproverDirectory;
  readonly #defaultTimeoutMs: number;
  readonly #redact: ApprovalDeskOptions['redact'];
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #sweepIntervalMs: number;
  readonly #recheckMs: number;
  readonly #notifier: ApprovalNotifier | undefined;
  readonly #waiters = new Map<string, Set<(why: 'changed' | 'closing') => void>>();
  readonly #watchers = new Set<(id: string) => void>();
  #unsubscribe: (() => Promise<void>) | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #sweeping: Promise<unknown> | undefined;
  #closing = false;

  constructor(options: ApprovalDeskOptions) {
    this.#store = options.store;
    this.#sink = options.sink;
    this.#directory = options.directory;
    this.#defaultTimeoutMs = options.defaultTimeoutMs;
    this.#redact = options.redact;
    this.#logger = options.logger;
    this.#clock = options.clock ?? Date.now;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 5000;
    this.#recheckMs = options.recheckMs ?? 10_000;
    this.#notifier = options.notifier;
  }

  /** Who may decide approvals. */
  get directory(): ApproverDirectory {
    return this.#directory;
  }

  /**
   * Calls `listener` with a request's id whenever it may have changed, on any replica (opened,
   * recorded, voted on, decided, expired, used): what the console's live view follows. The
   * listener re-reads the request (an announcement may repeat, or come for an unchanged one).
   * Returns a function that stops the calls.
   */
  watch(listener: (id: string) => void): () => void {
    this.#watchers.add(listener);
    return () => {
      this.#watchers.delete(listener);
    };
  }

  /** Starts listening for changes and expiring requests that nobody waits for. */
  async start(): Promise<void> {
    this.#unsubscribe = await this.#store.subscribe((id) => {
      this.#wake(id, 'changed');
      this.#announce(id);
    });
    this.#sweep = setInterval(() => void this.expireDue(), this.#sweepIntervalMs);
    this.#sweep.unref();
  }

  /** Wakes every held call with `closing` (they answer at once) and stops listening. */
  async close(): Promise<void> {
    this.interruptWaits();
    if (this.#sweep) clearInterval(this.#sweep);
    await this.#sweeping?.catch(() => undefined);
    await this.#unsubscribe?.().catch(() => undefined);
    this.#unsubscribe = undefined;
  }

  /** Wakes every held call with `closing` and refuses new waits (the gateway is draining). */
  interruptWaits(): void {
    this.#closing = true;
    for (const id of [...this.#waiters.keys()]) this.#wake(id, 'closing');
  }

  /**
   * The current request of exactly this call, if any. A request found past its expiry is
   * expired first (and `approval.expired` recorded), so a stale grant is never handed out.
   */
  async current(binding: ApprovalBinding): Promise<ApprovalRecord | undefined> {
    const found = await this.#store.current(binding);
    if (found && (found.status === 'pending' || found.status === 'granted') && found.expiresAt.getTime() <= this.#clock()) {
      await this.expireDue();
      return this.#store.current(binding);
    }
    return found;
  }

  /**
   * Opens the request of a held call, or joins the identical one that is current. A new
   * request's `approval.requested` event is committed before the request may be decided or
   * listed as recorded.
   */
  async open(call: ApprovalCall): Promise<{ record: ApprovalRecord; created: boolean }> {
    const now = this.#clock();
    const { binding, requirement } = call;
    const opened = await this.#store.open({
      ...binding,
      sessionId: call.sessionId,
      callId: call.callId,
      args: this.#redact(binding.server, binding.tool, call.args) as ApprovalJson,
      reason: call.reason,
      approvers: requirement.approvers,
      minApprovals: requirement.min_approvals,
      requestedAt: new Date(now),
      expiresAt: new Date(now + (requirement.timeout_ms ?? this.#defaultTimeoutMs)),
    });
    if (!opened.created) return opened;
    const r = opened.record;
    await this.#sink.append({
      type: 'approval.requested',
      approvalId: r.id,
      callId: call.callId,
      agentId: binding.agentId,
      sessionId: call.sessionId,
      server: binding.server,
      tool: binding.tool,
      args: call.args,
      rule: binding.rule,
      reason: call.reason,
      policyRevision: binding.policyRevision,
      policyDigest: binding.policyDigest,
      expiresAt: r.expiresAt,
      detail: { approvers: requirement.approvers as JsonValue, min_approvals: requirement.min_approvals },
    });
    await this.#store.markRecorded(r.id);
    const record: ApprovalRecord = { ...r, recorded: true };
    this.#tell({ event: 'requested', record, vote: null, reason: null, at: r.requestedAt });
    return { record, created: true };
  }

  /** Uses the request's grant for `callId`: true for exactly one call across every replica. */
  consume(id: string, callId: string): Promise<boolean> {
    return this.#store.consume(id, callId, new Date(this.#clock()));
  }

  /** Gives back a grant used by a call that did not run after all. */
  release(id: string, callId: string): Promise<void> {
    return this.#store.release(id, callId);
  }

  /** A denied or expired request has been reported to a call: the next identical call asks anew. */
  retire(id: string): Promise<void> {
    return this.#store.retire(id, new Date(this.#clock()));
  }

  get(id: string): Promise<ApprovalRecord | undefined> {
    return this.#store.get(id);
  }

  /** Every webhook delivery of the request's events and its attempts; undefined without notifications. */
  async deliveries(id: string): Promise<ApprovalDeliveryRecord[] | undefined> {
    return this.#notifier?.deliveries(id);
  }

  /**
   * The requests, newest first — but a pending one only once its `approval.requested` event is
   * committed: nobody is shown a request before it is on the record (nor could decide it; a
   * vote on it would be refused as not recorded yet). So a page may hold fewer than `limit`.
   */
  async list(status?: ApprovalStatus, limit?: number): Promise<ApprovalRecord[]> {
    const records = await this.#store.list({ ...(status ? { status } : {}), ...(limit ? { limit } : {}) });
    return records.filter((r) => r.recorded || r.status !== 'pending');
  }

  /**
   * Waits until the request is decided (granted, denied, expired or used), until `until`
   * (epoch ms), until `signal` aborts, or until the gateway starts closing — whichever comes
   * first. Woken by the store's notifications; expires the request itself when its time is up.
   */
  async wait(id: string, until: number, signal?: AbortSignal): Promise<ApprovalWait> {
    for (;;) {
      if (this.#closing) return 'closing';
      if (signal?.aborted) return 'cancelled';
      // Registered before the read, so a change between the read and the sleep is not missed.
      let wake!: (why: 'changed' | 'closing') => void;
      const woken = new Promise<'changed' | 'closing' | 'timer' | 'aborted'>((resolve) => {
        wake = resolve;
      });
      const waiters = this.#waiters.get(id) ?? new Set();
      waiters.add(wake);
      this.#waiters.set(id, waiters);
      const onAbort = () => wake('changed');
      signal?.addEventListener('abort', onAbort, { once: true });
      let timer: NodeJS.Timeout | undefined;
      try {
        const record = await this.#store.get(id);
        if (!record) return 'cancelled';
        if (DECIDED.has(record.status)) return record;
        const now = this.#clock();
        const expiresAt = record.expiresAt.getTime();
        if (expiresAt <= now) {
          await this.expireDue();
          continue;
        }
        if (until <= now) return 'timeout';
        const sleep = Math.min(until, expiresAt, now + this.#recheckMs) - now;
        timer = setTimeout(() => wake('changed'), Math.max(1, sleep));
        const why = await woken;
        if (why === 'closing') return 'closing';
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        waiters.delete(wake);
        if (waiters.size === 0) this.#waiters.delete(id);
      }
    }
  }

  /**
   * Records one approver's vote through the admin API: 403 for someone the request's rule does
   * not allow (or the requesting agent, or an agent's token), 404 for an unknown request, 409
   * for one already decided, expired, not yet recorded, or voted on by the same approver.
   */
  async vote(id: string, who: AdminIdentity, decision: 'grant' | 'deny', reason: string | null): Promise<VoteOutcome> {
    const record = await this.#store.get(id);
    if (!record) return { status: 404, error: `no approval request ${id}` };
    const may = this.#directory.mayDecide(who, record);
    if (!may.allowed) return { status: 403, error: may.reason, record };
    if (record.status === 'pending' && record.expiresAt.getTime() <= this.#clock()) await this.expireDue();
    const result = await this.#store.decide(id, { approver: who.id, decision, reason, at: new Date(this.#clock()) }, new Date(this.#clock()), async (after) => {
      const grants = new Set(after.votes.filter((v) => v.decision === 'grant').map((v) => v.approver)).size;
      await this.#sink.append({
        type: decision === 'grant' ? 'approval.granted' : 'approval.denied',
        approvalId: after.id,
        callId: after.callId,
        agentId: after.agentId,
        sessionId: after.sessionId,
        server: after.server,
        tool: after.tool,
        argsSha256: after.argsSha256,
        approver: who.id,
        reason,
        detail: { grants, min_approvals: after.minApprovals, status: after.status },
      });
    });
    if (result.ok) {
      const cast = result.record.votes.find((v) => v.approver === who.id) ?? null;
      this.#tell({ event: decision === 'grant' ? 'granted' : 'denied', record: result.record, vote: cast, reason: null, at: cast?.at ?? new Date(this.#clock()) });
      return { status: 200, record: result.record };
    }
    switch (result.reason) {
      case 'not_found':
        return { status: 404, error: `no approval request ${id}` };
      case 'self_approval':
        return { status: 403, error: `"${who.id}" made this request and cannot approve its own call`, ...(result.record ? { record: result.record } : {}) };
      case 'duplicate_vote':
        return { status: 409, error: `"${who.id}" has already decided this request; it needs another approver`, ...(result.record ? { record: result.record } : {}) };
      case 'not_recorded':
        return { status: 409, error: 'this request is not on the record yet; try again in a moment', ...(result.record ? { record: result.record } : {}) };
      case 'expired':
        return { status: 409, error: 'this request has expired', ...(result.record ? { record: result.record } : {}) };
      default:
        return { status: 409, error: `this request is already ${result.record?.status ?? 'decided'}`, ...(result.record ? { record: result.record } : {}) };
    }
  }

  /** Expires every request past its time, recording `approval.expired` for each first. */
  expireDue(): Promise<unknown> {
    this.#sweeping ??= this.#store
      .expire(new Date(this.#clock()), async (r) => {
        const grants = new Set(r.votes.filter((v) => v.decision === 'grant').map((v) => v.approver)).size;
        await this.#sink.append({
          type: 'approval.expired',
          approvalId: r.id,
          callId: r.callId,
          agentId: r.agentId,
          sessionId: r.sessionId,
          server: r.server,
          tool: r.tool,
          argsSha256: r.argsSha256,
          approver: null,
          reason: expiryReason(r),
          detail: { grants, min_approvals: r.minApprovals },
        });
      })
      .then((expired) => {
        for (const r of expired) this.#tell({ event: 'expired', record: r, vote: null, reason: expiryReason(r), at: r.decidedAt ?? new Date(this.#clock()) });
      })
      .catch((error: unknown) => {
        this.#logger.warn({ err: errorMessage(error) }, 'could not expire approval requests');
      })
      .finally(() => {
        this.#sweeping = undefined;
      });
    return this.#sweeping;
  }

  /** Tells the notifier of a committed transition; a notifier's failure never reaches the caller. */
  #tell(transition: ApprovalTransition): void {
    try {
      this.#notifier?.notify(transition);
    } catch (error) {
      this.#logger.error({ err: errorMessage(error), approval: transition.record.id }, 'could not notify an approval transition');
    }
  }

  #announce(id: string): void {
    for (const listener of [...this.#watchers]) {
      try {
        listener(id);
      } catch (error) {
        // One watcher's failure must not keep held calls or other watchers from hearing.
        this.#logger.warn({ err: errorMessage(error), approvalId: id }, 'an approval watcher failed');
      }
    }
  }

  #wake(id: string, why: 'changed' | 'closing'): void {
    const waiters = this.#waiters.get(id);
    if (!waiters) return;
    for (const wake of [...waiters]) wake(why);
  }
}

/**
 * Why a request expired, as `approval.expired` records it. The record is the one the store
 * expires (its status already `expired`), so a grant that went unused shows in its votes.
 */
function expiryReason(r: ApprovalRecord): string {
  const grants = new Set(r.votes.filter((v) => v.decision === 'grant').map((v) => v.approver)).size;
  return r.status === 'granted' || grants >= r.minApprovals ? 'granted but not used before it expired' : `not decided in time (${grants} of ${r.minApprovals} grants)`;
}
