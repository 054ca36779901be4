import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sha256Hex, type Agent } from '@tollgate/policy';
import type { Logger } from 'pino';
import type { TokenAgent } from '../config/gateway-config.js';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { parseAgentMessage, type MessageLimits } from './message-limits.js';
import type { GatewaySession } from './gateway-session.js';
import { HttpSessionTransport } from './http-session-transport.js';

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
 * @throws GatewayError `listen.failed` when the port cannot be bound.
 */
export async function startHttpListener(options: HttpListenerOptions): Promise<HttpListener> {
  const agents = new Map<string, Agent>(options.agents.map((a) => [a.token_sha256, { id: a.id, labels: a.labels ?? {} }]));
  const sessions = new Map<string, HttpSession>();
  const { logger, metrics, limits } = options;
  let accepting = true;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== options.path) return sendJson(res, 404, { error: `not found: the MCP endpoint is ${options.path}` });
    if (!accepting) {
      metrics?.rejected('closing');
      return sendRpcError(res, 503, -32000, 'the gateway is shutting down', { 'retry-after': '1', connection: 'close' });
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !options.allowedOrigins.includes(origin)) {
      return sendRpcError(res, 403, -32000, `Forbidden: origin ${origin} is not allowed`);
    }
    const agent = authenticate(req, agents);
    if (!agent) {
      metrics?.rejected('unauthorized');
      return sendRpcError(res, 401, -32001, 'Unauthorized: present a valid bearer token (Authorization: Bearer <token>)', { 'www-authenticate': 'Bearer realm="tollgate"' });
    }
    let body: unknown;
    if (req.method === 'POST') {
      const read = await readBody(req, limits.maxBytes);
      if (!read.ok) {
        metrics?.rejected('too_large');
        return sendRpcError(res, 413, -32600, `Invalid Request: the body is larger than the ${limits.maxBytes} bytes allowed`, { connection: 'close' });
      }
      const parsed = parseAgentMessage(read.text, read.bytes, limits, true);
      if (!parsed.ok) {
        metrics?.rejected(parsed.reason);
        return sendRpcError(res, 400, parsed.code, parsed.message, {}, parsed.id);
      }
      body = parsed.value;
    }
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (sessionId !== undefined) {
      const open = sessions.get(sessionId);
      // Another agent's session is answered like a session that does not exist.
      if (!open || open.agentId !== agent.id) return sendRpcError(res, 404, -32001, `Session not found: ${sessionId}`);
      open.lastSeen = Date.now();
      return open.transport.handle(req, res, body);
    }
    if (req.method === 'POST' && isInitialize(body)) return openSession(agent, req, res, body);
    return sendRpcError(res, 400, -32000, 'Bad Request: no valid mcp-session-id header; start a session with an initialize request');
  };

  const openSession = async (agent: Agent, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    const id = randomUUID();
    const session = options.createSession(agent, id);
    const transport = new HttpSessionTransport(id);
    session.onclose = () => {
      if (sessions.delete(id)) {
        metrics?.sessions('http', -1);
        logger.info({ session: id, agent: agent.id }, 'agent session closed');
      }
    };
    await session.connect(transport);
    transport.handle(req, res, body);
    // An initialize the transport refused opened no session: release its server.
    if (!transport.initialized) {
      await session.close();
      return;
    }
    sessions.set(id, { session, transport, agentId: agent.id, lastSeen: Date.now() });
    metrics?.sessions('http', 1);
    logger.info({ session: id, agent: agent.id }, 'agent session opened');
  };

  const http: HttpServer = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error({ err: errorMessage(error), url: req.url }, 'HTTP request failed');
      if (!res.headersSent) sendRpcError(res, 500, -32603, 'Internal error');
      else res.end();
    });
  });
  // Bounded header and request times, so slow or idle clients cannot hold sockets forever.
  http.headersTimeout = 20_000;
  http.requestTimeout = 0;
  http.keepAliveTimeout = 65_000;
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
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}${options.path}`,
    port: address.port,
    sessionCount: () => sessions.size,
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

async function readBody(req: IncomingMessage, max: number): Promise<{ ok: true; text: string; bytes: number } | { ok: false }> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    return { ok: false };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.resume();
      return { ok: false };
    }
    chunks.push(chunk);
  }
  return { ok: true, text: Buffer.concat(chunks).toString('utf8'), bytes: size };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function sendRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}, id: string | number | null = null): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id }, headers);
}
