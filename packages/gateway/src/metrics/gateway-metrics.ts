import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AgentMethodLabel } from '../downstream/agent-notifications.js';
import type { TelemetryMetrics } from '../telemetry/telemetry.js';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/**
 * The gateway's Prometheus metrics, in a registry of their own (served by the admin API's
 * `/metrics`): decisions by effect and tool, decision and upstream latency, ledger batch
 * size and commit time, sessions and calls in flight, plus the process's default metrics.
 */
export class GatewayMetrics {
  /** The registry to render with `metrics()`. */
  readonly registry = new Registry();
  readonly #decisions: Counter<'server' | 'tool' | 'effect' | 'code'>;
  readonly #decisionSeconds: Histogram<'effect'>;
  readonly #upstreamSeconds: Histogram<'server' | 'status'>;
  readonly #ledgerAppendSeconds: Histogram<'result'>;
  readonly #ledgerBatchSize: Histogram<string>;
  readonly #ledgerCommitSeconds: Histogram<string>;
  readonly #inFlight: Gauge<string>;
  readonly #sessions: Gauge<'transport'>;
  readonly #rejected: Counter<'reason'>;
  readonly #policyReloads: Counter<'outcome'>;
  readonly #policyRevision: Gauge<string>;
  readonly #droppedNotifications: Counter<'method'>;
  readonly #httpConnections: Gauge<string>;
  readonly #httpConnectionsClosed: Counter<'reason'>;
  readonly #telemetryExports: Counter<'signal' | 'result'>;
  /** Where decisions, upstream times and ledger commits are also recorded, when telemetry is on ({@link mirrorTo}). */
  #mirror: TelemetryMetrics | undefined;
  /** Reads the revision being served, when the gateway told where to read it ({@link trackPolicyRevision}). */
  #activeRevision: (() => number | null | undefined) | undefined;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.#decisions = new Counter({ name: 'tollgate_decisions_total', help: 'Tool call decisions, by upstream, tool, effect and code.', labelNames: ['server', 'tool', 'effect', 'code'], registers });
    this.#decisionSeconds = new Histogram({
      name: 'tollgate_decision_duration_seconds',
      help: 'Time from receiving a tools/call to its decision being recorded (validation, policy, limits, ledger).',
      labelNames: ['effect'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#upstreamSeconds = new Histogram({ name: 'tollgate_upstream_duration_seconds', help: 'Time the upstream took to answer a forwarded tools/call.', labelNames: ['server', 'status'], buckets: LATENCY_BUCKETS, registers });
    this.#ledgerAppendSeconds = new Histogram({ name: 'tollgate_ledger_append_duration_seconds', help: 'Time from appending a ledger event to its commit, as a call waits for it.', labelNames: ['result'], buckets: LATENCY_BUCKETS, registers });
    this.#ledgerBatchSize = new Histogram({ name: 'tollgate_ledger_batch_size', help: 'Events per ledger commit (group commit).', buckets: BATCH_BUCKETS, registers });
    this.#ledgerCommitSeconds = new Histogram({ name: 'tollgate_ledger_commit_duration_seconds', help: 'Time one ledger batch took to commit.', buckets: LATENCY_BUCKETS, registers });
    this.#inFlight = new Gauge({ name: 'tollgate_calls_in_flight', help: 'Tool calls being decided or forwarded right now.', registers });
    this.#sessions = new Gauge({ name: 'tollgate_sessions', help: 'Open agent sessions, by transport.', labelNames: ['transport'], registers });
    this.#rejected = new Counter({ name: 'tollgate_rejected_messages_total', help: 'Agent messages refused before reaching the pipeline (too large, too deep, malformed, a repeated request id, invalid params, too many sessions, unauthenticated, shutting down).', labelNames: ['reason'], registers });
    this.#policyReloads = new Counter({ name: 'tollgate_policy_reloads_total', help: 'Checks of the Git policy source that found a new bundle, by outcome: activated, refused, error (unreadable repository, or not recordable).', labelNames: ['outcome'], registers });
    const metrics = this;
    this.#policyRevision = new Gauge({
      name: 'tollgate_policy_revision',
      help: 'The revision of the active policy bundle (activated from the repository, or restored from state_dir at start-up).',
      registers,
      collect() {
        // Read at every scrape from the policy source itself, so it can never disagree with what is served.
        const revision = metrics.#activeRevision?.();
        if (typeof revision === 'number') this.set(revision);
      },
    });
    this.#droppedNotifications = new Counter({
      name: 'tollgate_dropped_notifications_total',
      help: 'Agent notifications the gateway did not pass on (a request method sent without an id, a vendor or unsupported notification), by method (an MCP client method, or "other").',
      labelNames: ['method'],
      registers,
    });
    this.#httpConnections = new Gauge({ name: 'tollgate_http_connections', help: 'Open agent connections to the Streamable HTTP listener.', registers });
    this.#httpConnectionsClosed = new Counter({
      name: 'tollgate_http_connections_closed_total',
      help: 'Agent connections the gateway closed to stay within its bounds: max_connections (a new one, every connection busy), evicted (an idle one, to make room), max_connections_per_agent (a request over the agent\'s cap).',
      labelNames: ['reason'],
      registers,
    });
    this.#telemetryExports = new Counter({
      name: 'tollgate_telemetry_exports_total',
      help: 'OpenTelemetry exports to the collector (telemetry section), by signal (traces, metrics) and result (ok, error: refused, unreachable or timed out; the data is dropped).',
      labelNames: ['signal', 'result'],
      registers,
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'tollgate_' });
  }

  /**
   * Records decisions, upstream times and ledger commits in `telemetry` too, as they are counted
   * here (the gateway does this when its configuration has a `telemetry` section); `undefined`
   * stops it.
   */
  mirrorTo(telemetry: TelemetryMetrics | undefined): void {
    this.#mirror = telemetry;
  }

  /** Counts one decision and how long it took. */
  decision(server: string, tool: string, effect: string, code: string | null, seconds: number): void {
    this.#decisions.inc({ server, tool, effect, code: code ?? '' });
    this.#decisionSeconds.observe({ effect }, seconds);
    this.#mirror?.decision(server, tool, effect, code, seconds);
  }

  /** Records one forwarded call's upstream time. */
  upstream(server: string, status: string, seconds: number): void {
    this.#upstreamSeconds.observe({ server, status }, seconds);
    this.#mirror?.upstream(server, status, seconds);
  }

  /** Records how long one ledger append took to become durable (or fail). */
  ledgerAppend(seconds: number, ok: boolean): void {
    this.#ledgerAppendSeconds.observe({ result: ok ? 'ok' : 'error' }, seconds);
  }

  /** Records one ledger batch commit: its size and duration. */
  ledgerBatch(events: number, seconds: number): void {
    this.#ledgerBatchSize.observe(events);
    this.#ledgerCommitSeconds.observe(seconds);
    this.#mirror?.ledgerBatch(events, seconds);
  }

  /** Counts one OpenTelemetry export by signal and whether the collector took it. */
  telemetryExport(signal: 'traces' | 'metrics', ok: boolean): void {
    this.#telemetryExports.inc({ signal, result: ok ? 'ok' : 'error' });
  }

  /** Adjusts the number of calls in flight. */
  callsInFlight(delta: number): void {
    this.#inFlight.inc(delta);
  }

  /** Adjusts the number of open sessions of a transport. */
  sessions(transport: 'stdio' | 'http', delta: number): void {
    this.#sessions.inc({ transport }, delta);
  }

  /** Counts one message refused at the edge. */
  rejected(reason: 'too_large' | 'too_deep' | 'malformed' | 'duplicate_id' | 'invalid_params' | 'too_many_sessions' | 'unauthorized' | 'closing'): void {
    this.#rejected.inc({ reason });
  }

  /** Counts one agent notification that was not passed on. */
  droppedNotification(method: AgentMethodLabel): void {
    this.#droppedNotifications.inc({ method });
  }

  /** Adjusts the number of open agent HTTP connections. */
  httpConnections(delta: number): void {
    this.#httpConnections.inc(delta);
  }

  /** Counts one agent HTTP connection closed to stay within the listener's bounds. */
  httpConnectionClosed(reason: 'max_connections' | 'evicted' | 'max_connections_per_agent'): void {
    this.#httpConnectionsClosed.inc({ reason });
  }

  /**
   * Where `tollgate_policy_revision` reads the revision being served, at every scrape: a bundle
   * restored from `state_dir` at start-up counts as much as one activated from the repository.
   * Until it is called, the gauge follows {@link policyReload}'s activations.
   */
  trackPolicyRevision(read: () => number | null | undefined): void {
    this.#activeRevision = read;
  }

  /** Counts one policy reload by outcome; an activation also sets the active revision. */
  policyReload(outcome: 'activated' | 'refused' | 'error', revision?: number): void {
    this.#policyReloads.inc({ outcome });
    if (revision !== undefined) this.#policyRevision.set(revision);
  }

  /** The Prometheus text exposition of every metric. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
