import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createDemoExchangeServer } from './demo-exchange-server.js';
import type { DemoExchangeServerOptions } from './demo-exchange-server.js';
import { createDemoExchange } from './demo-exchange.js';
import type { DemoExchange } from './demo-exchange.js';
import { DemoExchangeError } from './exchange-error.js';

/** Where and how to serve the demo exchange over Streamable HTTP. */
export interface DemoExchangeHttpOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** TCP port; 0 picks a free one. Default 0. */
  readonly port?: number;
  /** The exchange to serve. Default: a fresh {@link createDemoExchange} with default options. */
  readonly exchange?: DemoExchange;
  /**
   * Without sessions: every POST gets its own server and transport and no
   * `mcp-session-id` is issued. Default false (one session per `initialize`).
   */
  readonly stateless?: boolean;
  /** Answer POSTs with plain JSON instead of an SSE stream. Default false. */
  readonly jsonResponse?: boolean;
  /** Name and version reported in `initialize`. */
  readonly server?: DemoExchangeServerOptions;
}

/** A running Streamable HTTP demo exchange. */
export interface DemoExchangeHttp {
  /** The MCP endpoint, e.g. `http://127.0.0.1:53211/mcp`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The exchange every session shares. */
  readonly exchange: DemoExchange;
  /** Number of open MCP sessions (always 0 when stateless). */
  sessionCount(): number;
  /** Closes every session and the listening socket. Safe to call twice. */
  close(): Promise<void>;
}

/** The path the MCP endpoint is served on. */
export const MCP_PATH = '/mcp';
const MAX_BODY_BYTES = 4 * 1024 * 1024;

interface Session {
  readonly transport: StreamableHTTPServerTransport;
  readonly server: Server;
}

/**
 * Serves the demo exchange over MCP Streamable HTTP on `http://host:port/mcp` (plain
 * `node:http`). With sessions (the default), each `initialize` opens a session with its
 * own server and transport, keyed by the `mcp-session-id` header; all sessions share one
 * exchange. GET opens the session's SSE stream and DELETE ends the session.
 *
 * @example
 * const http = await startDemoExchangeHttp({ port: 0 });
 * const transport = new StreamableHTTPClientTransport(new URL(http.url));
 * await http.close();
 */
export async function startDemoExchangeHttp(options: DemoExchangeHttpOptions = {}): Promise<DemoExchangeHttp> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new DemoExchangeError('server.usage', `port must be an integer from 0 to 65535, got ${port}`);
  const exchange = options.exchange ?? createDemoExchange();
  const sessions = new Map<string, Session>();
  const stateless = options.stateless ?? false;
  const enableJsonResponse = options.jsonResponse ?? false;

  const openSession = async (req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    const server = createDemoExchangeServer(exchange, options.server);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server });
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const serveStateless = async (req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    const server = createDemoExchangeServer(exchange, options.server);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse });
    res.on('close', () => {
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== MCP_PATH) return sendJson(res, 404, { error: `not found: the MCP endpoint is ${MCP_PATH}` });
    let body: unknown;
    if (req.method === 'POST') {
      const parsed = await readJson(req);
      if (!parsed.ok) return sendRpcError(res, parsed.status, parsed.code, parsed.message);
      body = parsed.value;
    }
    if (stateless) {
      if (req.method !== 'POST') return sendRpcError(res, 405, -32000, 'Method not allowed: this server is stateless; send POST requests only');
      return serveStateless(req, res, body);
    }
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (sessionId !== undefined) {
      const session = sessions.get(sessionId);
      if (!session) return sendRpcError(res, 404, -32001, `Session not found: ${sessionId}`);
      return session.transport.handleRequest(req, res, body);
    }
    if (req.method === 'POST' && isInitializeRequest(body)) return openSession(req, res, body);
    return sendRpcError(res, 400, -32000, 'Bad Request: no valid mcp-session-id header; start a session with an initialize request');
  };

  const http: HttpServer = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendRpcError(res, 500, -32603, `Internal error: ${error instanceof Error ? error.message : String(error)}`);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const address = http.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${urlHost}:${address.port}${MCP_PATH}`,
    host: address.address,
    port: address.port,
    exchange,
    sessionCount: () => sessions.size,
    close() {
      closing ??= (async () => {
        const open = [...sessions.values()];
        sessions.clear();
        await Promise.allSettled(open.map((s) => s.server.close()));
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          // Open SSE streams would otherwise hold the server open until they time out.
          http.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

type JsonBody = { ok: true; value: unknown } | { ok: false; status: number; code: number; message: string };

async function readJson(req: IncomingMessage): Promise<JsonBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return { ok: false, status: 413, code: -32000, message: `Request body larger than ${MAX_BODY_BYTES} bytes` };
    chunks.push(chunk);
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown };
  } catch (error) {
    return { ok: false, status: 400, code: -32700, message: `Parse error: ${(error as Error).message}` };
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}
