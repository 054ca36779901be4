import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { ArgumentRedactor, openLedgerSink, type ApprovalStore } from '@tollgate/ledger';
import { MemoryLimitStore, type Agent, type LimitStore } from '@tollgate/policy';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { startAdminServer, type AdminServer } from './admin/admin-server.js';
import { ApprovalDesk } from './approvals/approval-desk.js';
import { ApproverDirectory } from './approvals/approver-directory.js';
import type { GatewayConfig } from './config/gateway-config.js';
import { GatewaySession } from './downstream/gateway-session.js';
import { startHttpListener, type HttpListener } from './downstream/http-listener.js';
import { PassthroughRouter } from './downstream/passthrough-router.js';
import { LimitedStdioServerTransport } from './downstream/stdio-server-transport.js';
import { GatewayError, errorMessage } from './gateway-error.js';
import type { DecisionSink } from './ledger/decision-sink.js';
import { PostgresLimitStore } from './limits/postgres-limit-store.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { ToolCallPipeline } from './pipeline/tool-call-pipeline.js';
import { DirectoryPolicySource } from './policy/directory-policy-source.js';
import { GitPolicySource } from './policy/git-policy-source.js';
import type { PolicySource } from './policy/policy-source.js';
import { HttpUpstream } from './upstream/http-upstream.js';
import { StdioUpstream } from './upstream/stdio-upstream.js';
import type { Upstream } from './upstream/upstream.js';
import { UpstreamRegistry } from './upstream/upstream-registry.js';

/** What {@link startGateway} builds from the configuration unless it is given one. */
export interface GatewayDependencies {
  /** Structured log (default: pino JSON on stderr at the configured level). */
  readonly logger?: Logger;
  /** The ledger (default: `openLedgerSink` on the configured database or embedded directory). */
  readonly sink?: DecisionSink;
  /** Where limit counters live (default: per `limits.store`). */
  readonly limits?: LimitStore;
  /** Where approval requests live, shared by replicas; without one a call that needs approval cannot be approved. */
  readonly approvals?: ApprovalStore;
  /** Metrics registry (default: a new one). */
  readonly metrics?: GatewayMetrics;
  /** The stdio agent's streams (default: this process's stdin and stdout). */
  readonly stdin?: Readable;
  readonly stdout?: Writable;
}

/** A running gateway. */
export interface RunningGateway {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
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
 * Starts the gateway of DESIGN §4 from a loaded configuration: opens the ledger, connects
 * the upstreams, loads their policies (recording each as `policy.activated`), and serves
 * agents on stdio and/or Streamable HTTP.
 *
 * @throws GatewayError (`upstream.unavailable`, `policy.invalid`, `listen.failed`, …) or a
 *   `LedgerError` when something it needs is not there; whatever it had started is closed again.
 * @example
 * const gateway = await startGateway(await loadGatewayConfig('gateway.yaml'));
 * process.once('SIGTERM', () => void gateway.shutdown('SIGTERM'));
 * await gateway.closed;
 */
export async function startGateway(config: GatewayConfig, deps: GatewayDependencies = {}): Promise<RunningGateway> {
  const logger = deps.logger ?? pino({ level: config.log.level, base: { service: 'tollgate-gateway' } }, pino.destination({ fd: 2, sync: false }));
  const metrics = deps.metrics ?? new GatewayMetrics();
  const cleanup: Array<() => Promise<unknown>> = [];
  const undo = async (): Promise<void> => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };
  try {
    let limits: LimitStore;
    if (deps.limits) limits = deps.limits;
    else if (config.limits.store === 'postgres') {
      const pool = new pg.Pool({
        connectionString: config.ledger.databaseUrl,
        max: 8,
        connectionTimeoutMillis: 5000,
        // A call waits for its limits: a stuck database must fail the call, not hang it. The
        // server cancels a slow statement; the client gives up on a server that went silent
        // (stopped, or a network that drops packets) — the decision deadline bounds the call itself.
        statement_timeout: 5000,
        query_timeout: 6000,
        application_name: 'tollgate-gateway-limits',
      });
      pool.on('error', (error) => logger.warn({ err: errorMessage(error) }, 'limit store connection lost'));
      const store = new PostgresLimitStore(pool, { logger });
      cleanup.push(async () => {
        store.close();
        await pool.end();
      });
      limits = store;
    } else limits = new MemoryLimitStore();

    const upstreams: Upstream[] = config.upstreams.map((u) => (u.kind === 'stdio' ? new StdioUpstream(u, logger) : new HttpUpstream(u, logger)));
    const registry = new UpstreamRegistry(upstreams, logger);
    // Policies first: a bad one is reported before anything slow (the ledger, the upstreams) starts.
    // A Git source verifies its persisted bundle here and reaches the repository once the ledger is open.
    const servers = config.upstreams.map((u) => u.name);
    const policies =
      config.policy.kind === 'git'
        ? await GitPolicySource.open({ config: config.policy, servers, limits, logger, metrics })
        : await DirectoryPolicySource.load({ dir: config.policy.dir, servers, limits });
    const sink =
      deps.sink ??
      (await openLedgerSink({
        ...(config.ledger.databaseUrl ? { databaseUrl: config.ledger.databaseUrl } : { dataDir: config.ledger.dataDir }),
        migrate: config.ledger.migrate,
        maxBatchDelayMs: config.ledger.maxBatchDelayMs,
        redact: config.ledger.redact.map((r) => ({ ...r, pointers: [...r.pointers] })),
        label: `gateway pid ${process.pid}`,
        observer: { batchCommitted: (batch) => metrics.ledgerBatch(batch.size, batch.durationMs / 1000) },
      }));
    if (!deps.sink) cleanup.push(() => sink.close());
    // After the ledger opened (and perhaps migrated): the counters' table must exist by now.
    if (limits instanceof PostgresLimitStore) await limits.check();
    if (policies instanceof GitPolicySource) {
      cleanup.push(() => policies.close());
      // Records the restored bundle (or fetches the first one), then follows the repository.
      await policies.start(sink);
    }
    await registry.start();
    cleanup.push(() => registry.close());
    if (policies instanceof DirectoryPolicySource) {
      for (const [server, active] of policies.active()) {
        await sink.append({
          type: 'policy.activated',
          server,
          policyRevision: active.policy.revision === null ? null : String(active.policy.revision),
          policyDigest: active.policy.digest,
          reason: `loaded from ${active.source}`,
        });
        logger.info({ server, digest: active.policy.digest, source: active.source }, 'policy activated');
      }
    }

    let desk: ApprovalDesk | undefined;
    if (deps.approvals) {
      const redactor = new ArgumentRedactor(config.ledger.redact.map((r) => ({ ...r, pointers: [...r.pointers] })));
      desk = new ApprovalDesk({
        store: deps.approvals,
        sink,
        directory: new ApproverDirectory(config.approvals.approvers, config.agents, config.admin?.tokenSha256),
        defaultTimeoutMs: config.approvals.timeoutMs,
        redact: (server, tool, args) => (redactor.empty ? args : redactor.redact(server, tool, args)),
        logger,
      });
      await desk.start();
      cleanup.push(() => desk!.close());
    }
    const pipeline = new ToolCallPipeline({
      registry,
      policies,
      sink,
      logger,
      metrics,
      decisionTimeoutMs: config.requests.decisionTimeoutMs,
      ...(desk
        ? { approvals: { desk, mode: config.approvals.mode, holdMaxMs: config.approvals.holdMaxMs, progressIntervalMs: config.approvals.progressIntervalMs } }
        : {}),
      awaitOutcome: config.ledger.awaitOutcome,
    });
    const router = new PassthroughRouter(registry, logger);
    const createSession = (agent: Agent, sessionId: string): GatewaySession => new GatewaySession({ registry, pipeline, router, agent, sessionId, logger, metrics });

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
        logger,
      });
      cleanup.push(() => admin!.close());
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
      const session = createSession(agent, randomUUID());
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
