import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { ArgumentRedactor, type ApprovalDeliveryStore, type ApprovalStore, type OpenLedgerServicesOptions } from '@tollgate/ledger';
import type { Agent, LimitStore } from '@tollgate/policy';
import { pino, type Logger } from 'pino';
import { startAdminServer, type AdminServer } from './admin/admin-server.js';
import { ApprovalDesk } from './approvals/approval-desk.js';
import { ApproverDirectory } from './approvals/approver-directory.js';
import { WebhookNotifier } from './approvals/notify/webhook-notifier.js';
import type { GatewayConfig, UpstreamConfig } from './config/gateway-config.js';
import { GATEWAY_SERVER_INFO, GatewaySession } from './downstream/gateway-session.js';
import { startHttpListener, type HttpListener } from './downstream/http-listener.js';
import { PassthroughRouter } from './downstream/passthrough-router.js';
import { LimitedStdioServerTransport } from './downstream/stdio-server-transport.js';
import { GatewayError, errorMessage } from './gateway-error.js';
import type { DecisionSink, JsonValue } from './ledger/decision-sink.js';
import { FeedSink } from './ledger/feed-sink.js';
import { TracedSink } from './ledger/traced-sink.js';
import { DecisionFeed } from './metrics/decision-feed.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { ToolCallPipeline } from './pipeline/tool-call-pipeline.js';
import { openPolicySource } from './policy/open-policy-source.js';
import { servedRevision, type PolicySource } from './policy/policy-source.js';
import { HttpUpstream } from './upstream/http-upstream.js';
import { StdioUpstream } from './upstream/stdio-upstream.js';
import { TracedUpstream, type UpstreamPeer } from './upstream/traced-upstream.js';
import type { Upstream } from './upstream/upstream.js';
import { startTelemetry, type NetworkTransport, type Telemetry } from './telemetry/telemetry.js';
import { UpstreamRegistry } from './upstream/upstream-registry.js';

/**
 * The stateful services a gateway records to and keeps shared state in: the ledger (its decision
 * sink), the limit counters and the approval requests. The gateway sees only these interfaces;
 * the composition root builds them (`openLedgerServices` of @tollgate/ledger, with
 * {@link ledgerServiceOptions}).
 */
export interface GatewayServices {
  readonly sink: DecisionSink;
  readonly limits: LimitStore;
  /** Without it, a call that needs approval is refused `approval.required` with nothing to approve. */
  readonly approvals?: ApprovalStore;
  /** Where webhook notifications of approvals are kept; needed when `approvals.notify` lists receivers. */
  readonly deliveries?: ApprovalDeliveryStore;
  /** Closes them; the gateway calls it last when it shuts down. */
  close?(): Promise<void>;
}

/** What {@link startGateway} needs besides its configuration. */
export interface GatewayDependencies {
  /**
   * The services, or how to open them: a function is called once the policies loaded, so that a
   * bad policy is reported before the ledger (which may be slow to open) is touched.
   */
  readonly services: GatewayServices | ((context: { readonly metrics: GatewayMetrics; readonly logger: Logger }) => Promise<GatewayServices>);
  /** Structured log (default: pino JSON on stderr at the configured level). */
  readonly logger?: Logger;
  /** Metrics registry (default: a new one). */
  readonly metrics?: GatewayMetrics;
  /** The stdio agent's streams (default: this process's stdin and stdout). */
  readonly stdin?: Readable;
  readonly stdout?: Writable;
}

/**
 * What `openLedgerServices` (of @tollgate/ledger) is given for a gateway with this
 * configuration: the ledger's database or directory, migration, batching, redaction, the
 * limit store, and the writer's metrics.
 */
export function ledgerServiceOptions(config: GatewayConfig, metrics: GatewayMetrics, logger?: Logger): OpenLedgerServicesOptions {
  return {
    ...(config.ledger.databaseUrl ? { databaseUrl: config.ledger.databaseUrl } : { dataDir: config.ledger.dataDir }),
    migrate: config.ledger.migrate,
    maxBatchDelayMs: config.ledger.maxBatchDelayMs,
    redact: config.ledger.redact.map((r) => ({ ...r, pointers: [...r.pointers] })),
    label: `gateway pid ${process.pid}`,
    limits: config.limits.store,
    ...(logger ? { logger } : {}),
    observer: { batchCommitted: (batch) => metrics.ledgerBatch(batch.size, batch.durationMs / 1000) },
  };
}

/** A running gateway. */
export interface RunningGateway {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** The decisions recorded since start-up, live and bounded (the approvals console's live record). */
  readonly decisions: DecisionFeed;
  readonly registry: UpstreamRegistry;
  readonly pipeline: ToolCallPipeline;
  readonly policies: PolicySource;
  /** The HTTP endpoint for agents, when `listen.http` is set. */
  readonly http: HttpListener | undefined;
  /** The admin API, when `admin` is set. */
  readonly admin: AdminServer | undefined;
  /** Resolves once the gateway has shut down (after {@link shutdown}, or when the stdio agent left a stdio-only gateway). */
  readonly closed: Promise<void>;
  /** True from the moment shutdown starts. */
  readonly closing: boolean;
  /**
   * Graceful shutdown: stop accepting, let calls in flight finish (up to
   * `shutdown_timeout`), close sessions and upstreams, flush the ledger.
   */
  shutdown(reason?: string): Promise<void>;
}

/**
 * Starts the gateway of DESIGN §4 from a loaded configuration: loads the upstreams' policies,
 * opens its services (the ledger, limits, approvals), has the policy source record each policy
 * as `policy.activated`, connects the upstreams, and serves agents on stdio and/or Streamable HTTP.
 *
 * @throws GatewayError (`upstream.unavailable`, `policy.invalid`, `listen.failed`, …) or a
 *   `LedgerError` when something it needs is not there; whatever it had started is closed again.
 * @example
 * const config = await loadGatewayConfig('gateway.yaml');
 * const gateway = await startGateway(config, { services: ({ metrics, logger }) => openLedgerServices(ledgerServiceOptions(config, metrics, logger)) });
 * process.once('SIGTERM', () => void gateway.shutdown('SIGTERM'));
 * await gateway.closed;
 */
export async function startGateway(config: GatewayConfig, deps: GatewayDependencies): Promise<RunningGateway> {
  const logger = deps.logger ?? pino({ level: config.log.level, base: { service: 'tollgate-gateway' } }, pino.destination({ fd: 2, sync: false }));
  const metrics = deps.metrics ?? new GatewayMetrics();
  const cleanup: Array<() => Promise<unknown>> = [];
  const undo = async (): Promise<void> => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };
  // Read by the revision gauges (Prometheus and OpenTelemetry) once the policy source exists.
  let activeRevision = (): number | undefined => undefined;
  try {
    // Telemetry first, so that it sees everything; it is shut down last. Without a `telemetry`
    // section the SDK is never loaded.
    let telemetry: Telemetry | undefined;
    if (config.telemetry) {
      const started = await startTelemetry(config.telemetry, {
        logger,
        serviceVersion: GATEWAY_SERVER_INFO.version,
        policyRevision: () => activeRevision(),
        onexport: (signal, ok) => metrics.telemetryExport(signal, ok),
      });
      telemetry = started;
      cleanup.push(() => started.shutdown());
      metrics.mirrorTo(started.metrics);
      cleanup.push(async () => metrics.mirrorTo(undefined));
      // Origin and path only: a query string may hold a collector's key.
      const where = (url: string | undefined): string | null => (url === undefined ? null : `${new URL(url).origin}${new URL(url).pathname}`);
      logger.info({ traces: where(config.telemetry.traces?.url), metrics: where(config.telemetry.metrics?.url) }, 'telemetry on');
    }
    const upstreams: Upstream[] = config.upstreams.map((u) => {
      const upstream = u.kind === 'stdio' ? new StdioUpstream(u, logger) : new HttpUpstream(u, logger);
      return telemetry ? new TracedUpstream(upstream, telemetry, peerOf(u)) : upstream;
    });
    const registry = new UpstreamRegistry(upstreams, logger);
    // Policies first: a bad one is reported before anything slow (the ledger, the upstreams) starts.
    // A Git source verifies its persisted bundle here and reaches the repository once the ledger is open.
    const servers = config.upstreams.map((u) => u.name);
    const policies = await openPolicySource(config.policy, { servers, logger, metrics });
    activeRevision = () => servedRevision(policies);
    metrics.trackPolicyRevision(activeRevision);
    const services = typeof deps.services === 'function' ? await deps.services({ metrics, logger }) : deps.services;
    if (typeof deps.services === 'function' && services.close) cleanup.push(() => services.close!());
    const { limits } = services;
    const labelsOf = agentLabels(config);
    const redactor = new ArgumentRedactor(config.ledger.redact.map((r) => ({ ...r, pointers: [...r.pointers] })));
    const redact = (server: string, tool: string, args: JsonValue): JsonValue => (redactor.empty ? args : (redactor.redact(server, tool, args) as JsonValue));
    // Every decision the ledger commits is also shown, live, by the approvals console.
    const decisions = new DecisionFeed({ redact, labels: labelsOf });
    const fed: DecisionSink = new FeedSink(services.sink, decisions);
    const sink: DecisionSink = telemetry ? new TracedSink(fed, telemetry) : fed;
    // Closed before the ledger: a check under way still records what it came to.
    if (policies.close) cleanup.push(() => policies.close!());
    // Each source records what it serves (a Git source its restored bundle, or the first one it fetches), then follows its origin.
    await policies.start?.(sink);
    await registry.start();
    cleanup.push(() => registry.close());

    const directory = new ApproverDirectory(config.approvals.approvers, config.agents, config.admin?.tokenSha256);
    let desk: ApprovalDesk | undefined;
    // The console's public address is known once the admin port listens (it may be port 0).
    let adminUrl: string | undefined;
    let notifier: WebhookNotifier | undefined;
    if (services.approvals && config.approvals.notify.length > 0) {
      if (!services.deliveries) {
        throw new GatewayError('config.invalid', 'approvals.notify lists webhooks, but the gateway was given no store for their deliveries (the ledger\'s approval_deliveries, migration 0014)');
      }
      notifier = new WebhookNotifier({
        receivers: config.approvals.notify,
        delivery: config.approvals.delivery,
        store: services.deliveries,
        consoleUrl: () => config.approvals.consoleUrl ?? adminUrl,
        logger,
      });
      await notifier.start();
      cleanup.push(() => notifier!.close());
      logger.info({ receivers: config.approvals.notify.map((r) => r.id), replica: notifier.replica }, 'approval notifications on');
    }
    if (services.approvals) {
      desk = new ApprovalDesk({
        store: services.approvals,
        sink,
        directory,
        defaultTimeoutMs: config.approvals.timeoutMs,
        redact,
        logger,
        ...(notifier ? { notifier } : {}),
      });
      await desk.start();
      cleanup.push(() => desk!.close());
    }
    const pipeline = new ToolCallPipeline({
      registry,
      policies,
      sink,
      limits,
      logger,
      metrics,
      decisionTimeoutMs: config.requests.decisionTimeoutMs,
      ...(desk
        ? { approvals: { desk, mode: config.approvals.mode, holdMaxMs: config.approvals.holdMaxMs, progressIntervalMs: config.approvals.progressIntervalMs } }
        : {}),
      awaitOutcome: config.ledger.awaitOutcome,
    });
    const router = new PassthroughRouter(registry, logger);
    const createSession = (agent: Agent, sessionId: string, transport: NetworkTransport = 'tcp'): GatewaySession =>
      new GatewaySession({ registry, pipeline, router, agent, sessionId, logger, metrics, ...(telemetry ? { telemetry, transport } : {}) });

    let http: HttpListener | undefined;
    if (config.listen.http) {
      const h = config.listen.http;
      http = await startHttpListener({
        host: h.host,
        port: h.port,
        path: h.path,
        agents: config.agents,
        allowedOrigins: h.allowedOrigins,
        limits: config.requests,
        sessionIdleTimeoutMs: h.sessionIdleTimeoutMs,
        ...(h.publicOrigin ? { publicOrigin: h.publicOrigin } : {}),
        connections: h.connections,
        createSession,
        logger,
        metrics,
      });
      cleanup.push(() => http!.close());
      logger.info({ url: http.url }, 'serving agents over Streamable HTTP');
    }

    let closing = false;
    let admin: AdminServer | undefined;
    if (config.admin) {
      admin = await startAdminServer({
        ...config.admin,
        registry,
        policies,
        metrics,
        closing: () => closing,
        inFlight: () => pipeline.inFlight,
        ...(sink.health ? { ledgerHealth: () => sink.health!() } : {}),
        ...(desk ? { approvals: desk } : {}),
        directory,
        decisions,
        agentLabels: labelsOf,
        logger,
      });
      cleanup.push(() => admin!.close());
      adminUrl = admin.url;
      logger.info({ url: admin.url }, 'admin API listening');
    }

    let resolveClosed!: () => void;
    const closed = new Promise<void>((resolve) => {
      resolveClosed = resolve;
    });
    let shutdownPromise: Promise<void> | undefined;
    let stdioSession: GatewaySession | undefined;

    const shutdown = (reason = 'shutdown requested'): Promise<void> => {
      shutdownPromise ??= (async () => {
        closing = true;
        logger.info({ reason, inFlight: pipeline.inFlight }, 'gateway shutting down');
        http?.stopAccepting();
        const left = await pipeline.drain(config.shutdownTimeoutMs);
        if (left > 0) logger.warn({ calls: left }, 'calls still running at the shutdown deadline are cut off');
        await stdioSession?.close();
        await undo();
        logger.info('gateway stopped');
        logger.flush?.();
        resolveClosed();
      })();
      return shutdownPromise;
    };

    if (config.listen.stdio) {
      const agent = config.agent!;
      const session = createSession(agent, randomUUID(), 'pipe');
      const transport = new LimitedStdioServerTransport(config.requests, deps.stdin, deps.stdout);
      transport.onrefused = (refusal) => metrics.rejected(refusal.reason);
      session.onclose = () => {
        metrics.sessions('stdio', -1);
        logger.info({ agent: agent.id }, 'the stdio agent disconnected');
        // A stdio-only gateway has nobody left to serve.
        if (!config.listen.http) void shutdown('the stdio agent disconnected');
      };
      await session.connect(transport);
      metrics.sessions('stdio', 1);
      stdioSession = session;
      logger.info({ agent: agent.id }, 'serving one agent over stdio');
    }

    return {
      config,
      logger,
      metrics,
      decisions,
      registry,
      pipeline,
      policies,
      http,
      admin,
      closed,
      get closing() {
        return closing;
      },
      shutdown,
    };
  } catch (error) {
    await undo();
    if (error instanceof GatewayError) throw error;
    throw error instanceof Error ? error : new GatewayError('upstream.unavailable', errorMessage(error));
  }
}

/** How an upstream is reached, for the spans of the calls sent to it. */
function peerOf(upstream: UpstreamConfig): UpstreamPeer {
  if (upstream.kind === 'stdio') return { transport: 'pipe' };
  const url = new URL(upstream.url);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return { transport: 'tcp', address: url.hostname, port };
}

/** The configured labels of each agent (HTTP agents and the stdio agent), by id. */
function agentLabels(config: GatewayConfig): (agentId: string) => Readonly<Record<string, string>> | undefined {
  const labels = new Map<string, Readonly<Record<string, string>>>();
  for (const a of config.agents) labels.set(a.id, a.labels ?? {});
  if (config.agent) labels.set(config.agent.id, config.agent.labels ?? {});
  return (agentId) => labels.get(agentId);
}
