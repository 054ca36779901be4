import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { sha256Hex } from '@tollgate/policy';
import type { Logger } from 'pino';
import type { ApprovalDesk } from '../approvals/approval-desk.js';
import type { AdminIdentity, ApproverDirectory } from '../approvals/approver-directory.js';
import { DEFAULT_ADMIN_CONNECTION_LIMITS, type AdminConnectionLimits } from '../config/gateway-config.js';
import { boundedServerOptions, ConnectionLimiter, trackRequest } from '../downstream/connection-limiter.js';
import { GatewayError, errorMessage } from '../gateway-error.js';
import { closeAfterAnswer, hasUnreadBody } from '../http/unread-body-closer.js';
import type { SinkHealth } from '../ledger/decision-sink.js';
import type { DecisionFeed } from '../metrics/decision-feed.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { PolicySource, PolicySourceStatus } from '../policy/policy-source.js';
import type { UpstreamRegistry } from '../upstream/upstream-registry.js';
import { handleApprovalsRequest } from './approvals-api.js';
import { ApprovalsConsole } from './approvals-console.js';
import { loadConsoleAssets } from './console-assets.js';

/** What the admin API reports on. */
export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** SHA-256 (hex) of the admin bearer token. */
  readonly tokenSha256: string;
  readonly registry: UpstreamRegistry;
  readonly policies: PolicySource;
  readonly metrics: GatewayMetrics;
  /** True once the gateway is shutting down (then `/readyz` answers 503). */
  readonly closing: () => boolean;
  /** Calls in flight, for `/readyz`. */
  readonly inFlight: () => number;
  /** Whether the ledger can record decisions (the sink's `health()`), for `/readyz`; absent: not asked. */
  readonly ledgerHealth?: () => Promise<SinkHealth>;
  /** How long `/readyz` waits for {@link ledgerHealth} before it counts the ledger as down (default 2000 ms). */
  readonly ledgerHealthTimeoutMs?: number;
  /** Approval requests and who may decide them; without it `/approvals` is not served. */
  readonly approvals?: ApprovalDesk;
  /** Bounds on the API's connections (default {@link DEFAULT_ADMIN_CONNECTION_LIMITS}). */
  readonly connections?: AdminConnectionLimits;
  /**
   * Who may sign in to the approvals console at `/console` (default: the approval desk's
   * directory); without either, the console is not served.
   */
  readonly directory?: ApproverDirectory;
  /** The recorded decisions, live, for the console's live record. */
  readonly decisions?: DecisionFeed;
  /** An agent's configured labels, which the console shows beside its id. */
  readonly agentLabels?: (agentId: string) => Readonly<Record<string, string>> | undefined;
  /** Where the console's built files are (default: this package's `dist/console`). */
  readonly consoleAssetsDir?: string;
  readonly logger: Logger;
}

/** The largest request body the admin API takes (`POST /approvals/{id}/approve|deny`), in bytes. */
export const ADMIN_MAX_BODY_BYTES = 16_384;

/** The body of `GET /policy` (what `tollgate gateway status` prints). */
export interface AdminPolicyReport {
  /** The active policy of each upstream. */
  readonly policies: ReadonlyArray<{
    readonly server: string;
    readonly revision: number | null;
    /** The compiled policy's digest (decisions carry it). */
    readonly digest: string;
    readonly source: string;
    readonly activated_at: string;
    readonly rules: number;
    /** Git source only. */
    readonly git_commit?: string | null;
    readonly signers?: readonly string[];
  }>;
  readonly source: AdminSourceReport;
}

/** Where the gateway's policies come from, as `GET /policy` reports it. */
export type AdminSourceReport =
  | { readonly kind: 'directory' }
  | {
      readonly kind: 'git';
      /** `<repo>@<ref>:<path>`. */
      readonly location: string;
      readonly bundle: {
        readonly revision: number;
        /** The commit the bundle was built from. */
        readonly git_commit: string | null;
        /** The repository commit it was read at. */
        readonly commit: string | null;
        /** Hex SHA-256 of the canonical manifest. */
        readonly digest: string;
        readonly signers: readonly string[];
        readonly created_at: string | null;
        readonly expires_at: string | null;
        readonly activated_at: string;
        readonly via: 'restored' | 'repository';
      } | null;
      readonly highest_revision: number | null;
      readonly last_check: { readonly at: string; readonly outcome: string; readonly commit: string | null; readonly error?: string } | null;
      readonly last_refusal: {
        readonly code: string;
        readonly message: string;
        readonly at: string;
        readonly revision: number | null;
        readonly digest: string | null;
        readonly commit: string | null;
      } | null;
    };

/** A running admin API. */
export interface AdminServer {
  /** e.g. `http://127.0.0.1:8081`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The gateway's admin HTTP API, on its own port (DESIGN §4):
 * - `GET /healthz` — 200 while the process runs (no token: for liveness probes);
 * - `GET /readyz` — 200 when every upstream is connected, the ledger can record decisions
 *   and the gateway is not shutting down, else 503 with the reasons (no token: for load
 *   balancers). It answers within the ledger probe's limit even when the database stalls;
 * - `GET /policy` — the active policy of each upstream (revision, digest, source, time) and,
 *   for a Git source, the active bundle (revision, commit, signers, digest), the last check
 *   and the last refusal;
 * - `GET /metrics` — Prometheus text (decisions by effect and tool, decision and upstream
 *   latency, ledger batch size and commit time, …).
 * - `/approvals…` — approval requests, for approver and admin tokens ({@link handleApprovalsRequest});
 * - `/console` — the approvals console, a web page for approvers ({@link ApprovalsConsole}).
 * `/policy` and `/metrics` need `Authorization: Bearer <admin token>` (401 otherwise).
 *
 * Its connections are bounded like the agents' ({@link AdminConnectionLimits}): headers and
 * whole requests must arrive in time, keep-alive connections may idle only so long, and there
 * are at most so many (a new one closes the longest-idle one, or is closed when all are busy).
 * Only `POST /approvals/{id}/approve|deny` reads a body, of at most
 * {@link ADMIN_MAX_BODY_BYTES} (a larger declared one gets 413 unread); any answer to a request
 * whose body was not read whole closes the connection, so that a body that never ends cannot
 * hold it.
 *
 * @throws GatewayError `listen.failed` when the port cannot be bound.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { registry, policies, metrics, logger } = options;

  const ledgerHealthTimeoutMs = options.ledgerHealthTimeoutMs ?? 2000;
  const ledgerReason = async (): Promise<string | undefined> => {
    if (!options.ledgerHealth) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const health = await Promise.race([
        options.ledgerHealth(),
        new Promise<SinkHealth>((resolve) => {
          timer = setTimeout(() => resolve({ ok: false, reason: `it did not answer the readiness probe within ${ledgerHealthTimeoutMs} ms` }), ledgerHealthTimeoutMs);
        }),
      ]);
      return health.ok ? undefined : `the ledger cannot record decisions: ${health.reason ?? 'no reason given'}`;
    } catch (error) {
      return `the ledger cannot record decisions: ${errorMessage(error)}`;
    } finally {
      clearTimeout(timer);
    }
  };

  const ready = async (): Promise<{ ready: boolean; reasons: string[] }> => {
    const reasons: string[] = [];
    if (options.closing()) reasons.push('the gateway is shutting down');
    for (const u of registry.upstreams) if (!u.connected) reasons.push(`upstream "${u.name}" is not connected`);
    // Fail closed: a gateway whose ledger is down refuses every call, so it is not ready.
    const ledger = await ledgerReason();
    if (ledger) reasons.push(ledger);
    return { ready: reasons.length === 0, reasons };
  };

  const directory = options.directory ?? options.approvals?.directory;
  let approvalsConsole: ApprovalsConsole | undefined;
  if (directory) {
    const assets = await loadConsoleAssets(options.consoleAssetsDir);
    if (!assets.ok) logger.warn({ problem: assets.problem }, 'the approvals console cannot be served');
    approvalsConsole = new ApprovalsConsole({
      directory,
      ...(options.approvals ? { desk: options.approvals } : {}),
      ...(options.decisions ? { decisions: options.decisions } : {}),
      ...(options.agentLabels ? { labels: options.agentLabels } : {}),
      assets,
      logger,
    });
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    // The console's sign-in and votes and the approvals API's votes read a body; nothing else does.
    const readsBody = req.method === 'POST' && (/^\/approvals\/[^/]+\/(?:approve|deny)$/.test(path) || (approvalsConsole !== undefined && ApprovalsConsole.serves(path)));
    // A body that is still arriving would keep the connection (Node reads it to the end).
    if (!readsBody && hasUnreadBody(req)) res.setHeader('connection', 'close');
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > ADMIN_MAX_BODY_BYTES) {
      res.setHeader('connection', 'close');
      return send(res, 413, { error: `the body is larger than the ${ADMIN_MAX_BODY_BYTES} bytes the admin API takes` });
    }
    if (approvalsConsole && ApprovalsConsole.serves(path)) return approvalsConsole.handle(req, res);
    if (options.approvals && (path === '/approvals' || path.startsWith('/approvals/'))) {
      return handleApprovalsRequest(req, res, options.approvals, identify(req, options.approvals));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'only GET is supported' }, { allow: 'GET, HEAD' });
    switch (path) {
      case '/healthz':
        return send(res, 200, { status: 'ok' });
      case '/readyz': {
        const r = await ready();
        return send(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', reasons: r.reasons, in_flight: options.inFlight() });
      }
      case '/policy':
      case '/metrics':
        break;
      default:
        return send(res, 404, { error: `not found: ${path}; try /healthz, /readyz, /policy, /metrics${options.approvals ? ', /approvals' : ''}${approvalsConsole ? ' or /console' : ''}` });
    }
    if (!authorized(req, options.tokenSha256)) {
      return send(res, 401, { error: 'present the admin bearer token (Authorization: Bearer <token>)' }, { 'www-authenticate': 'Bearer realm="tollgate-admin"' });
    }
    if (path === '/metrics') {
      const { contentType, body } = await metrics.render();
      res.writeHead(200, { 'content-type': contentType }).end(body);
      return;
    }
    const status = policies.status?.();
    const bundle = status?.kind === 'git' ? status.bundle : null;
    const active: AdminPolicyReport['policies'] = [...policies.active()].map(([server, a]) => ({
      server,
      revision: a.policy.revision,
      digest: a.policy.digest,
      source: a.source,
      activated_at: new Date(a.activatedAt).toISOString(),
      rules: a.policy.rules.length,
      ...(bundle ? { git_commit: bundle.gitCommit, signers: bundle.signers } : {}),
    }));
    const report: AdminPolicyReport = { policies: active, source: status ? sourceBody(status) : { kind: 'directory' } };
    return send(res, 200, report);
  };

  const bounds = options.connections ?? DEFAULT_ADMIN_CONNECTION_LIMITS;
  const connections = new ConnectionLimiter({ maxConnections: bounds.maxConnections, maxConnectionsPerAgent: bounds.maxConnections });
  const http: HttpServer = createServer(
    boundedServerOptions(bounds),
    (req, res) => {
      trackRequest(connections, req, res);
      closeAfterAnswer(req, res);
      handle(req, res).catch((error: unknown) => {
        logger.error({ err: errorMessage(error), url: req.url }, 'admin request failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
        else res.end();
      });
    },
  );
  http.on('connection', (socket: Socket) => {
    connections.admit(socket);
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error): void => {
      approvalsConsole?.close();
      reject(new GatewayError('listen.failed', `cannot listen for the admin API on ${options.host}:${options.port}: ${error.message}`, { cause: error }));
    };
    http.once('error', fail);
    http.listen(options.port, options.host, () => {
      http.off('error', fail);
      resolve();
    });
  });
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        approvalsConsole?.close();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

/** The admin API's snake_case rendering of a source's status. */
function sourceBody(status: PolicySourceStatus): AdminSourceReport {
  if (status.kind === 'directory') return { kind: 'directory' };
  const iso = (ms: number): string => new Date(ms).toISOString();
  const { bundle, lastCheck, lastRefusal } = status;
  return {
    kind: status.kind,
    location: status.location,
    bundle: bundle
      ? {
          revision: bundle.revision,
          git_commit: bundle.gitCommit,
          commit: bundle.commit,
          digest: bundle.digest,
          signers: [...bundle.signers],
          created_at: bundle.createdAt,
          expires_at: bundle.expiresAt,
          activated_at: iso(bundle.activatedAt),
          via: bundle.via,
        }
      : null,
    highest_revision: status.highestRevision,
    last_check: lastCheck ? { at: iso(lastCheck.at), outcome: lastCheck.outcome, commit: lastCheck.commit, ...(lastCheck.error !== undefined ? { error: lastCheck.error } : {}) } : null,
    last_refusal: lastRefusal
      ? { code: lastRefusal.code, message: lastRefusal.message, at: iso(lastRefusal.at), revision: lastRefusal.revision, digest: lastRefusal.digest, commit: lastRefusal.commit }
      : null,
  };
}

/** Who the request's bearer token belongs to (approver, admin, agent), if anyone. */
function identify(req: IncomingMessage, desk: ApprovalDesk): AdminIdentity | undefined {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m ? desk.directory.identify(m[1]!) : undefined;
}

function authorized(req: IncomingMessage, tokenSha256: string): boolean {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m !== null && sha256Hex(m[1]!) === tokenSha256;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}
