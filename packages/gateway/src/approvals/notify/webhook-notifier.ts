import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ApprovalDeliveryInput, ApprovalDeliveryNext, ApprovalDeliveryRecord, ApprovalDeliveryStore, ClaimedDelivery } from '@tollgate/ledger';
import type { Logger } from 'pino';
import type { NotificationDeliveryConfig, WebhookReceiverConfig } from '../../config/gateway-config.js';
import { errorMessage } from '../../gateway-error.js';
import type { ApprovalNotifier, ApprovalTransition } from './approval-notifier.js';
import { consoleLink, renderJsonNotification } from './json-notification.js';
import { retryDelayMs } from './retry-schedule.js';
import { renderSlackNotification } from './slack-notification.js';
import { WEBHOOK_HEADERS, signWebhook } from './webhook-signature.js';

/** Dependencies of a {@link WebhookNotifier}. */
export interface WebhookNotifierOptions {
  readonly receivers: readonly WebhookReceiverConfig[];
  readonly delivery: NotificationDeliveryConfig;
  /** Where deliveries and attempts are kept, shared by every replica. */
  readonly store: ApprovalDeliveryStore;
  /** The public base URL of the console (`approvals.console_url`, else the admin API's address), when there is one. */
  readonly consoleUrl: () => string | undefined;
  readonly logger: Logger;
  /** This replica's name in leases and attempt records (default: host, pid and a random suffix). */
  readonly replica?: string;
  /** Current time in epoch ms, for signatures and attempt times (default `Date.now`). */
  readonly clock?: () => number;
  /** Jitter of the retry waits, in [0, 1) (default `Math.random`). */
  readonly random?: () => number;
}

/** A notification taken note of and not yet stored: what the bounded queue holds. */
interface QueuedDelivery {
  readonly receiver: WebhookReceiverConfig;
  readonly input: ApprovalDeliveryInput;
}

const USER_AGENT = 'Tollgate-Webhook/1';
/** Dropped notifications being recorded at once; beyond that a drop is only logged. */
const DROP_RECORDS_IN_FLIGHT = 64;

/**
 * Delivers approval notifications to webhooks (`approvals.notify`, docs/approvals.md): signed
 * JSON (`X-Tollgate-Signature`) or Slack incoming-webhook messages, POSTed in the background.
 *
 * - Never in the way: {@link notify} only renders the body and queues it. A bounded queue
 *   (`delivery.queue`) holds what waits for one of `delivery.concurrency` slots; beyond it a
 *   notification is dropped, and recorded as dropped, rather than held in memory without end.
 *   Each attempt is bounded in time (`timeout`), redirects are not followed.
 * - Once across replicas: a notification is stored before it is sent (insert-or-skip on its
 *   request, event, approver and receiver), and only the replica whose insert made the row
 *   delivers it; every attempt is claimed under a lease in the database.
 * - Retried: a failed attempt (no answer, or not 2xx) is tried again after an exponential,
 *   jittered wait, up to `attempts` times; every attempt is recorded (time, duration, status or
 *   error, replica). A replica sweeps for due attempts nobody makes — those of a replica that
 *   stopped, or those it was told of before it stopped — every `delivery.sweep`.
 */
export class WebhookNotifier implements ApprovalNotifier {
  readonly #receivers: readonly WebhookReceiverConfig[];
  readonly #byId: ReadonlyMap<string, WebhookReceiverConfig>;
  readonly #delivery: NotificationDeliveryConfig;
  readonly #store: ApprovalDeliveryStore;
  readonly #consoleUrl: () => string | undefined;
  readonly #logger: Logger;
  readonly #replica: string;
  readonly #clock: () => number;
  readonly #random: () => number;
  /** The longest lease an attempt needs: every receiver's timeout, twice, and a second for the record. */
  readonly #leaseMs: number;
  readonly #queue: QueuedDelivery[] = [];
  readonly #running = new Set<Promise<void>>();
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  /** Slots in use: attempts (and deliveries being stored) under way, and those reserved by a sweep. */
  #busy = 0;
  #recordingDrops = 0;
  #sweepWanted = false;
  #sweeping: Promise<void> | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #started = false;
  #closing = false;

  constructor(options: WebhookNotifierOptions) {
    this.#receivers = options.receivers;
    this.#byId = new Map(options.receivers.map((r) => [r.id, r]));
    this.#delivery = options.delivery;
    this.#store = options.store;
    this.#consoleUrl = options.consoleUrl;
    this.#logger = options.logger.child({ component: 'approval-notify' });
    this.#replica = options.replica ?? `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
    this.#clock = options.clock ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#leaseMs = Math.max(...options.receivers.map((r) => r.timeoutMs), 0) * 2 + 1000;
  }

  /** This replica's name in leases and attempt records. */
  get replica(): string {
    return this.#replica;
  }

  /** Notifications waiting for a slot (not yet stored). */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Checks the delivery tables, then starts sweeping for due attempts (at once: a replica that
   * starts picks up what a stopped one left).
   * @throws LedgerError `ledger.not_migrated` when migration 0014 has not run.
   */
  async start(): Promise<void> {
    await this.#store.check();
    this.#started = true;
    this.#sweepTimer = setInterval(() => this.#wantSweep(), this.#delivery.sweepMs);
    this.#sweepTimer.unref();
    this.#wantSweep();
  }

  notify(transition: ApprovalTransition): void {
    try {
      for (const receiver of this.#receivers) {
        if (!receiver.events.includes(transition.event)) continue;
        const id = randomUUID();
        const link = consoleLink(this.#consoleUrl(), transition.record.id);
        const job: QueuedDelivery = {
          receiver,
          input: {
            id,
            approvalId: transition.record.id,
            event: transition.event,
            approver: transition.vote?.approver ?? null,
            receiver: receiver.id,
            format: receiver.format,
            payload: receiver.format === 'slack' ? renderSlackNotification(transition, link) : renderJsonNotification(transition, id, link),
            maxAttempts: receiver.attempts,
          },
        };
        if (this.#closing || !this.#started) {
          // Stored for a replica that is running (or this one, once started) to deliver.
          this.#park(job);
        } else if (this.#queue.length >= this.#delivery.queue) {
          this.#drop(job, `this replica's notification queue was full (${this.#delivery.queue} waiting, ${this.#delivery.concurrency} in flight)`);
        } else {
          this.#queue.push(job);
        }
      }
      this.#pump();
    } catch (error) {
      // Telling approvers must never fail what was told.
      this.#logger.error({ err: errorMessage(error), approval: transition.record.id }, 'could not queue an approval notification');
    }
  }

  deliveries(approvalId: string): Promise<ApprovalDeliveryRecord[]> {
    return this.#store.list(approvalId);
  }

  /**
   * Stops: takes no new attempts, lets those under way finish (each within its timeout), and
   * stores what is still queued as due, for another replica (or the next start) to deliver.
   */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    for (const job of this.#queue.splice(0)) this.#park(job);
    while (this.#running.size > 0 || this.#sweeping) {
      await Promise.allSettled([...this.#running, this.#sweeping]);
    }
  }

  /** Starts queued deliveries while slots are free, then sweeps if a sweep is wanted. */
  #pump(): void {
    if (this.#closing) return;
    while (this.#busy < this.#delivery.concurrency && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#busy++;
      this.#track(this.#deliverNew(job));
    }
    if (this.#sweepWanted) this.#sweep();
  }

  #wantSweep(): void {
    this.#sweepWanted = true;
    this.#pump();
  }

  /** Claims due attempts for the free slots (reserved while the claim runs). */
  #sweep(): void {
    if (this.#sweeping || this.#closing || !this.#started) return;
    const free = this.#delivery.concurrency - this.#busy;
    if (free <= 0) return; // Wanted still: the next slot that frees sweeps.
    this.#sweepWanted = false;
    this.#busy += free;
    let reserved = free;
    this.#sweeping = (async () => {
      const claims = await this.#store.claimDue([...this.#byId.keys()], this.#replica, this.#leaseMs, free);
      for (const claim of claims) {
        const receiver = this.#byId.get(claim.receiver)!;
        reserved--;
        this.#track(this.#attempt(claim, receiver));
      }
      // A full batch may have left more behind.
      if (claims.length === free) this.#sweepWanted = true;
    })()
      .catch((error: unknown) => {
        this.#logger.warn({ err: errorMessage(error) }, 'could not look for due approval notifications');
      })
      .finally(() => {
        this.#busy -= reserved;
        this.#sweeping = undefined;
        this.#pump();
      });
  }

  /** Runs one slot's work; the slot frees (and the queue moves) when it settles. */
  #track(work: Promise<void>): void {
    const running: Promise<void> = work
      .catch((error: unknown) => {
        this.#logger.error({ err: errorMessage(error) }, 'an approval notification failed unexpectedly');
      })
      .finally(() => {
        this.#running.delete(running);
        this.#busy--;
        this.#pump();
      });
    this.#running.add(running);
  }

  async #deliverNew(job: QueuedDelivery): Promise<void> {
    let claim: ClaimedDelivery | undefined;
    try {
      claim = await this.#store.create(job.input, { owner: this.#replica, leaseMs: this.#leaseMs });
    } catch (error) {
      // Not stored, so not sent: sending what is not on record would be a delivery nobody can see or retry.
      this.#logger.error({ err: errorMessage(error), approval: job.input.approvalId, event: job.input.event, receiver: job.receiver.id }, 'could not store an approval notification; it is not sent');
      return;
    }
    if (!claim) {
      this.#logger.debug({ approval: job.input.approvalId, event: job.input.event, receiver: job.receiver.id }, 'approval notification already taken by another replica');
      return;
    }
    await this.#attempt(claim, job.receiver);
  }

  /** Makes one attempt, records it, and schedules what follows. */
  async #attempt(claim: ClaimedDelivery, receiver: WebhookReceiverConfig): Promise<void> {
    const startedAt = new Date(this.#clock());
    const started = performance.now();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      [WEBHOOK_HEADERS.event]: `approval.${claim.event}`,
      [WEBHOOK_HEADERS.delivery]: claim.id,
      [WEBHOOK_HEADERS.attempt]: String(claim.attempt),
    };
    if (receiver.secret !== undefined) headers[WEBHOOK_HEADERS.signature] = signWebhook(receiver.secret, claim.payload, Math.floor(this.#clock() / 1000));
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(receiver.url, {
        method: 'POST',
        headers,
        body: claim.payload,
        // A redirect would send the notification somewhere nobody configured.
        redirect: 'manual',
        signal: AbortSignal.timeout(receiver.timeoutMs),
      });
      statusCode = response.status;
      // The answer's body is not needed: let the connection go.
      await response.body?.cancel().catch(() => undefined);
      if (statusCode < 200 || statusCode > 299) error = statusCode >= 300 && statusCode < 400 ? `HTTP ${statusCode}: redirects are not followed` : `HTTP ${statusCode}`;
    } catch (failure) {
      error = describeFailure(failure, receiver.timeoutMs);
    }
    const durationMs = performance.now() - started;
    const next: ApprovalDeliveryNext =
      error === null ? { kind: 'delivered' } : claim.attempt >= claim.maxAttempts ? { kind: 'failed' } : { kind: 'retry', delayMs: retryDelayMs(claim.attempt, receiver, this.#random) };
    const log = { approval: claim.approvalId, event: claim.event, receiver: receiver.id, delivery: claim.id, attempt: claim.attempt, status: statusCode, ms: Math.round(durationMs) };
    if (next.kind === 'delivered') this.#logger.info(log, 'approval notification delivered');
    else if (next.kind === 'failed') this.#logger.warn({ ...log, error }, `approval notification failed after ${claim.attempt} attempts`);
    else this.#logger.info({ ...log, error, retryInMs: next.delayMs }, 'approval notification attempt failed; it will be retried');
    try {
      await this.#store.finish(claim, this.#replica, { startedAt, durationMs, statusCode, error }, next);
    } catch (failure) {
      // The lease runs out and a replica's sweep tries again; the receiver deduplicates by X-Tollgate-Delivery.
      this.#logger.error({ ...log, err: errorMessage(failure) }, 'could not record an approval notification attempt');
      return;
    }
    if (next.kind === 'retry' && !this.#closing) {
      const timer = setTimeout(() => {
        this.#retryTimers.delete(timer);
        this.#wantSweep();
      }, next.delayMs);
      timer.unref();
      this.#retryTimers.add(timer);
    }
  }

  /** Records a notification that will not be sent, with why; recording itself is bounded too. */
  #drop(job: QueuedDelivery, note: string): void {
    const log = { approval: job.input.approvalId, event: job.input.event, receiver: job.receiver.id, delivery: job.input.id };
    this.#logger.warn(log, `approval notification dropped: ${note}`);
    // A burst past the queue must not become a burst of writes without end either.
    if (this.#recordingDrops >= DROP_RECORDS_IN_FLIGHT) return;
    this.#recordingDrops++;
    this.#store
      .drop(job.input, note)
      .catch((error: unknown) => this.#logger.error({ ...log, err: errorMessage(error) }, 'could not record a dropped approval notification'))
      .finally(() => this.#recordingDrops--);
  }

  /** Stores a notification as due without attempting it here (this replica is not delivering). */
  #park(job: QueuedDelivery): void {
    const stored = this.#store
      .create(job.input)
      .then(() => undefined)
      .catch((error: unknown) => {
        this.#logger.error({ err: errorMessage(error), approval: job.input.approvalId, event: job.input.event, receiver: job.receiver.id }, 'could not store an approval notification; it is not sent');
      })
      .finally(() => this.#running.delete(stored));
    this.#running.add(stored);
  }
}

/** Why a request got no answer, in a line: a timeout, a refused connection, a bad address. */
function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error ? (error as Error & { cause?: unknown }).cause : undefined;
  const detail = cause instanceof Error ? `${cause.message}` : undefined;
  return `request failed: ${detail ?? errorMessage(error)}`;
}
