import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { sha256Hex, type Agent } from '@tollgate/policy';
import type { Logger } from 'pino';
import { DEFAULT_HTTP_CONNECTION_LIMITS, type HttpConnectionLimits, type TokenAgent } from '../config/gateway-config.js';
import { GatewayError, errorMessage } from '../gateway-error.js';
import { closeAfterAnswer, hasUnreadBody } from '../http/unread-body-closer.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { methodLabel } from './agent-notifications.js';
import { boundedServerOptions, ConnectionLimiter, trackRequest } from './connection-limiter.js';
import { parseAgentMessage, type MessageLimits } from './message-limits.js';
import { NOT_AN_AUTHORIZATION_SERVER, ProtectedResource } from './protected-resource.js';
import type { GatewaySession } from './gateway-session.js';
import { HttpSessionTransport } from './http-session-transport.js';
import { requestParamsProblem } from './request-params.js';

/** Options of {@link startHttpListener}. */
export interface HttpListenerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The MCP endpoint's path (default `/mcp`). */
  readonly path: string;
  /** The agents that may connect, each with the SHA-256 of its bearer token. */
  readonly agents: readonly TokenAgent[];
  /** Origins browsers may call from; any other `Origin` header is refused. */
  readonly allowedOrigins: readonly string[];
  readonly limits: MessageLimits;
  /** Sessions idle this long are closed (ms). */
  readonly sessionIdleTimeoutMs: number;
  /** The origin agents reach the listener at, when it is not `http://<Host header>` (a proxy, TLS); for RFC 9728 metadata. */
  readonly publicOrigin?: string;
  /** Bounds on connections and sessions (default {@link DEFAULT_HTTP_CONNECTION_LIMITS}). */
  readonly connections?: HttpConnectionLimits;
  /** Makes the session for a new, authenticated `initialize`. */
  readonly createSession: (agent: Agent, sessionId: string) => GatewaySession;
  readonly logger: Logger;
  readonly metrics?: GatewayMetrics;
}

/** A running Streamable HTTP endpoint for agents. */
export interface HttpListener {
  /** The MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`. */
  readonly url: string;
  readonly port: number;
  /** Open sessions. */
  sessionCount(): number;
  /** Open agent connections. */
  connectionCount(): number;
  /** Stops accepting connections and requests (answers 503); open responses finish. */
  stopAccepting(): void;
  /** Closes every session and the socket. */
  close(): Promise<void>;
}

interface HttpSession {
  readonly session: GatewaySession;
  readonly transport: HttpSessionTransport;
  readonly agentId: string;
  lastSeen: number;
}

/**
 * Serves agents over MCP Streamable HTTP (`node:http`): one gateway session per
 * `initialize`, keyed by `mcp-session-id`, answered as JSON or SSE streams
 * ({@link HttpSessionTransport}). Every request must carry
 * `Authorization: Bearer <token>` whose SHA-256 names a configured agent (else 401), and
 * a session only ever serves the agent that opened it. Bodies are bounded in size and
 * nesting before anything parses them further.
 *
 * Connections are bounded too ({@link HttpConnectionLimits}): request headers and whole
 * requests must arrive in time, keep-alive connections may only idle so long, and there are
 * at most so many connections (in all and per agent, see {@link ConnectionLimiter}) and
 * sessions per agent. A refusal sent before the request's body was read (401, 403, 404, 413,
 * 429, 503) closes the connection, so that a body that never ends cannot keep it. Responses
 * are never timed: a held call or an SSE stream stays open as long as it needs.
 *
 * @throws GatewayError `listen.failed` when the port cannot be bound.
 */
export async function startHttpListener(options: HttpListenerOptions): Promise<HttpListener> {
  const agents = new Map<string, Agent>(options.agents.map((a) => [a.token_sha256, { id: a.id, labels: a.labels ?? {} }]));
  const sessions = new Map<string, HttpSession>();
  /** Open and opening sessions, by agent. */
  const sessionsByAgent = new Map<string, number>();
  const { logger, metrics, limits } = options;
  const bounds = options.connections ?? DEFAULT_HTTP_CONNECTION_LIMITS;
  const connections = new ConnectionLimiter(bounds, (reason) => metrics?.httpConnectionClosed(reason));
  let accepting = true;

  // Known once the listener is bound (its address is the fallback origin of the metadata).
  let resource!: ProtectedResource;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (resource.metadataPaths.includes(path)) return serveMetadata(req, res, resource);
    if (resource.isAuthorizationServerPath(path)) return refuse(req, res, 404, { error: 'not_found', error_description: NOT_AN_AUTHORIZATION_SERVER });
    if (path !== options.path) return refuse(req, res, 404, { error: `not found: the MCP endpoint is ${options.path}` });
    if (!accepting) {
      metrics?.rejected('closing');
      return refuseRpc(req, res, 503, -32000, 'the gateway is shutting down', { 'retry-after': '1', connection: 'close' });
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !options.allowedOrigins.includes(origin)) {
      return refuseRpc(req, res, 403, -32000, `Forbidden: origin ${origin} is not allowed`);
    }
    const agent = authenticate(req, agents);
    if (!agent) {
      metrics?.rejected('unauthorized');
      return refuseRpc(
        req,
        res,
        401,
        -32001,
        'Unauthorized: present a valid bearer token (Authorization: Bearer <token>); tokens come from the gateway\'s operator — the gateway is no OAuth authorization server',
        { 'www-authenticate': resource.challenge(req) },
      );
    }
    if (!connections.claim(req.socket, agent.id)) {
      metrics?.httpConnectionClosed('max_connections_per_agent');
      return refuseRpc(
        req,
        res,
        429,
        -32000,
        `Too many connections: agent "${agent.id}" already holds ${bounds.maxConnectionsPerAgent}, all busy (listen.http.max_connections_per_agent); reuse a connection (HTTP keep-alive) or wait for one to finish`,
        { 'retry-after': '1', connection: 'close' },
      );
    }
    let body: unknown;
    if (req.method === 'POST') {
      const read = await readBody(req, limits.maxBytes);
      // The agent went away (or did not send its body in time, listen.http.request_timeout): nobody to answer.
      if (read.aborted) return;
      if (!read.ok) {
        metrics?.rejected('too_large');
        return refuseRpc(req, res, 413, -32600, `Invalid Request: the body is larger than the ${limits.maxBytes} bytes allowed`, { connection: 'close' });
      }
      const parsed = parseAgentMessage(read.text, read.bytes, limits, true);
      if (!parsed.ok) {
        metrics?.rejected(parsed.reason);
        return refuseRpc(req, res, 400, parsed.code, parsed.message, {}, parsed.id);
      }
      body = parsed.value;
    }
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (sessionId !== undefined) {
      const open = sessions.get(sessionId);
      // Another agent's session is answered like a session that does not exist.
      if (!open || open.agentId !== agent.id) return refuseRpc(req, res, 404, -32001, `Session not found: ${sessionId}`);
      open.lastSeen = Date.now();
      return open.transport.handle(req, res, body);
    }
    if (req.method === 'POST' && isInitialize(body)) return openSession(agent, req, res, body);
    return refuseRpc(req, res, 400, -32000, 'Bad Request: no valid mcp-session-id header; start a session with an initialize request');
  };

  const openSession = async (agent: Agent, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    const batch = Array.isArray(body);
    const init = ((batch ? body : [body]) as Array<{ id?: string | number; method?: unknown; params?: unknown }>).find((m) => m.method === 'initialize')!;
    // Malformed params open no session: the agent gets -32602 saying what is wrong, as for any request.
    const problem = requestParamsProblem({ method: 'initialize', params: init.params });
    if (problem !== undefined) {
      metrics?.rejected('invalid_params');
      const error = { jsonrpc: '2.0', id: init.id ?? null, error: { code: -32602, message: problem } };
      return sendJson(res, 200, batch ? [error] : error);
    }
    const open = sessionsByAgent.get(agent.id) ?? 0;
    if (open >= bounds.maxSessionsPerAgent) {
      metrics?.rejected('too_many_sessions');
      return refuseRpc(
        req,
        res,
        429,
        -32000,
        `Too many sessions: agent "${agent.id}" already has ${bounds.maxSessionsPerAgent} open (listen.http.max_sessions_per_agent); end one (HTTP DELETE with its mcp-session-id) or wait until one has been idle for listen.http.session_idle_timeout`,
        {},
        init.id ?? null,
      );
    }
    // Counted from now, so that concurrent initializes cannot overshoot the bound.
    sessionsByAgent.set(agent.id, open + 1);
    let counted = true;
    const release = (): void => {
      if (!counted) return;
      counted = false;
      const n = (sessionsByAgent.get(agent.id) ?? 1) - 1;
      if (n > 0) sessionsByAgent.set(agent.id, n);
      else sessionsByAgent.delete(agent.id);
    };
    const id = randomUUID();
    const session = options.createSession(agent, id);
    const transport = new HttpSessionTransport(id);
    transport.onrefused = (refusal) => metrics?.rejected(refusal.reason);
    transport.ondropped = (method) => metrics?.droppedNotification(methodLabel(method));
    session.onclose = () => {
      release();
      if (sessions.delete(id)) {
        metrics?.sessions('http', -1);
        logger.info({ session: id, agent: agent.id }, 'agent session closed');
      }
    };
    try {
      await session.connect(transport);
    } catch (error) {
      release();
      throw error;
    }
    transport.handle(req, res, body);
    // An initialize the transport refused opened no session: release its server.
    if (!transport.initialized) {
      release();
      await session.close();
      return;
    }
    sessions.set(id, { session, transport, agentId: agent.id, lastSeen: Date.now() });
    metrics?.sessions('http', 1);
    logger.info({ session: id, agent: agent.id }, 'agent session opened');
  };

  const http: HttpServer = createServer(
    boundedServerOptions(bounds),
    (req, res) => {
      trackRequest(connections, req, res);
      handle(req, res).catch((error: unknown) => {
        logger.error({ err: errorMessage(error), url: req.url }, 'HTTP request failed');
        if (!res.headersSent) refuseRpc(req, res, 500, -32603, 'Internal error');
        else res.end();
      });
    },
  );
  http.on('connection', (socket: Socket) => {
    if (!connections.admit(socket)) return;
    metrics?.httpConnections(1);
    socket.once('close', () => metrics?.httpConnections(-1));
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error): void => reject(new GatewayError('listen.failed', `cannot listen on ${options.host}:${options.port}: ${error.message}`, { cause: error }));
    http.once('error', fail);
    http.listen(options.port, options.host, () => {
      http.off('error', fail);
      resolve();
    });
  });
  http.on('error', (error) => logger.error({ err: errorMessage(error) }, 'HTTP listener error'));

  const sweep = setInterval(() => {
    const cutoff = Date.now() - options.sessionIdleTimeoutMs;
    for (const [id, s] of sessions) {
      if (s.lastSeen < cutoff) {
        logger.info({ session: id, agent: s.agentId }, 'closing an idle agent session');
        void s.session.close();
      }
    }
  }, Math.min(60_000, Math.max(1000, options.sessionIdleTimeoutMs / 4)));
  sweep.unref();

  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  resource = new ProtectedResource(options.path, options.publicOrigin, `${host}:${address.port}`);
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}${options.path}`,
    port: address.port,
    sessionCount: () => sessions.size,
    connectionCount: () => connections.size,
    stopAccepting() {
      accepting = false;
      http.close();
      http.closeIdleConnections();
    },
    close() {
      closing ??= (async () => {
        accepting = false;
        clearInterval(sweep);
        const open = [...sessions.values()];
        await Promise.allSettled(open.map((s) => s.session.close()));
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

function authenticate(req: IncomingMessage, agents: ReadonlyMap<string, Agent>): Agent | undefined {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  if (!m) return undefined;
  return agents.get(sha256Hex(m[1]!));
}

function isInitialize(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) => m !== null && typeof m === 'object' && (m as { method?: unknown }).method === 'initialize');
}

type BodyRead = { ok: true; aborted?: undefined; text: string; bytes: number } | { ok: false; aborted: boolean };

/**
 * Reads a POST body of at most `max` bytes. Past `max` it stops keeping the bytes (the refusal
 * then closes the connection); `aborted` when the request ended before its body did (the agent
 * went away, or `request_timeout` closed the connection).
 */
function readBody(req: IncomingMessage, max: number): Promise<BodyRead> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.resolve({ ok: false, aborted: false });
  return new Promise<BodyRead>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: BodyRead): void => {
      req.off('data', ondata).off('end', onend).off('close', onclose).off('error', onclose);
      resolve(result);
    };
    const ondata = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) done({ ok: false, aborted: false });
      else chunks.push(chunk);
    };
    const onend = (): void => done({ ok: true, text: Buffer.concat(chunks).toString('utf8'), bytes: size });
    const onclose = (): void => done({ ok: false, aborted: true });
    req.on('data', ondata).on('end', onend).on('close', onclose).on('error', onclose);
  });
}

/**
 * Serves the RFC 9728 metadata: to anyone (it is public, and a client reads it before it has a
 * token), from any origin (browser-based clients read it too).
 */
function serveMetadata(req: IncomingMessage, res: ServerResponse, resource: ProtectedResource): void {
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, HEAD, OPTIONS', 'access-control-allow-headers': 'mcp-protocol-version' };
  if (req.method === 'OPTIONS') {
    const unread = hasUnreadBody(req);
    res.writeHead(204, { ...cors, ...(unread ? { connection: 'close' } : {}) }).end();
    if (unread) closeAfterAnswer(req, res);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(req, res, 405, { error: 'the protected resource metadata is read with GET' }, { allow: 'GET, HEAD, OPTIONS' });
  answer(req, res, 200, resource.metadata(req), { ...cors, 'cache-control': 'no-store' });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/**
 * Answers a request the listener refuses. When its body has not been read (whole), the answer
 * says `Connection: close` and the connection is ended once it is written — or destroyed if the
 * client does not take it — so that a body that never ends cannot hold the connection.
 */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  answer(req, res, status, body, headers);
}

/** Answers with JSON; when the request's body has not been read (whole), closes the connection after (see {@link refuse}). */
function answer(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const unread = hasUnreadBody(req);
  sendJson(res, status, body, unread ? { ...headers, connection: 'close' } : headers);
  if (unread) closeAfterAnswer(req, res);
}

function refuseRpc(req: IncomingMessage, res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}, id: string | number | null = null): void {
  refuse(req, res, status, { jsonrpc: '2.0', error: { code, message }, id }, headers);
}
