import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage, type MessageExtraInfo, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import { acceptsNotification } from './agent-notifications.js';
import { InFlightRequestIds, inFlightRefusal } from './in-flight-request-ids.js';
import type { MessageRefusal } from './message-limits.js';

/** Most messages in one POSTed batch. */
const MAX_BATCH = 100;
/** An SSE comment every this often keeps idle streams (and proxies) from timing out. */
const KEEP_ALIVE_MS = 25_000;

interface PostStream {
  readonly res: ServerResponse;
  /** Request ids of this POST still waiting for their response. */
  readonly pending: Set<RequestId>;
  /** Responses collected while the answer can still be plain JSON. */
  readonly responses: JSONRPCMessage[];
  /** Whether the POST was a batch (a JSON answer is then an array). */
  readonly batch: boolean;
  /** Switched to an SSE stream (a notification or request about one of its requests came first). */
  sse: boolean;
  closed: boolean;
}

/**
 * The server side of MCP Streamable HTTP for one session, straight on `node:http`: each
 * POST's requests are answered with plain JSON when only their responses come back, or as an
 * SSE stream as soon as the server sends something about them first (progress, log messages,
 * requests); GET opens the session's stream for everything else; DELETE ends the session.
 * Sessions, identity and size and depth limits are the listener's job; messages arrive here
 * already parsed and checked.
 *
 * A POST is accepted or refused whole, before any of it reaches the session: refused when one
 * of its requests reuses the id of a request of the session still unanswered (409; the SDK
 * would run both and answer one), or when it carries only notifications and responses and one
 * of the notifications is not one the gateway takes (400, as Streamable HTTP asks of input the
 * server does not accept; see {@link acceptsNotification}).
 *
 * It exists because the gateway answers every agent call twice over HTTP's cost: this keeps
 * the per-call path to one JSON write, without adapting each request to web streams.
 */
export class HttpSessionTransport implements Transport {
  readonly sessionId: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  /** A POST refused because it reuses a request id still in flight (for metrics). */
  onrefused?: (refusal: MessageRefusal) => void;
  /** A notification refused (for metrics); `method` is the agent's, unbounded. */
  ondropped?: (method: string) => void;
  readonly #byRequest = new Map<RequestId, PostStream>();
  readonly #inFlight = new InFlightRequestIds();
  #standalone: ServerResponse | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  #initialized = false;
  #closed = false;

  constructor(sessionId: string) {
    this.sessionId = sessionId;
  }

  async start(): Promise<void> {
    this.#keepAlive = setInterval(() => this.#ping(), KEEP_ALIVE_MS);
    this.#keepAlive.unref();
  }

  /** True once `initialize` was received. */
  get initialized(): boolean {
    return this.#initialized;
  }

  /** Serves one HTTP request of this session (`body` is the parsed POST body). */
  handle(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    if (this.#closed) return reply(res, 404, -32001, 'Session not found');
    switch (req.method) {
      case 'POST':
        return this.#post(req, res, body);
      case 'GET':
        return this.#get(req, res);
      case 'DELETE':
        void this.close();
        res.writeHead(200).end();
        return;
      default:
        res.setHeader('allow', 'GET, POST, DELETE');
        return reply(res, 405, -32000, 'Method not allowed');
    }
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    this.#inFlight.sent(message);
    if (this.#closed) return;
    const m = message as { id?: RequestId; method?: string; result?: unknown; error?: unknown };
    const isResponse = m.method === undefined && m.id !== undefined && (m.result !== undefined || m.error !== undefined);
    if (isResponse) {
      const stream = this.#byRequest.get(m.id!);
      if (!stream) return;
      this.#byRequest.delete(m.id!);
      stream.pending.delete(m.id!);
      if (stream.sse) writeEvent(stream.res, message);
      else stream.responses.push(message);
      if (stream.pending.size === 0) this.#finish(stream);
      return;
    }
    const related = options?.relatedRequestId;
    const stream = related !== undefined ? this.#byRequest.get(related) : undefined;
    if (stream && !stream.closed) {
      if (!stream.sse) {
        stream.sse = true;
        stream.res.writeHead(200, this.#sseHeaders());
        for (const earlier of stream.responses.splice(0)) writeEvent(stream.res, earlier);
      }
      writeEvent(stream.res, message);
      return;
    }
    // Not about a request that is still open: the session's own stream, when the agent opened one.
    if (this.#standalone) writeEvent(this.#standalone, message);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    for (const stream of new Set(this.#byRequest.values())) {
      if (!stream.closed) {
        stream.closed = true;
        stream.res.end();
      }
    }
    this.#byRequest.clear();
    this.#inFlight.clear();
    this.#standalone?.end();
    this.#standalone = undefined;
    this.onclose?.();
  }

  #post(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const accept = req.headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      return reply(res, 406, -32000, 'Not Acceptable: Client must accept both application/json and text/event-stream');
    }
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return reply(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
    }
    const batch = Array.isArray(body);
    const messages = (batch ? body : [body]) as JSONRPCMessage[];
    if (messages.length === 0 || messages.length > MAX_BATCH) return reply(res, 400, -32600, `Invalid Request: a batch holds 1 to ${MAX_BATCH} messages`);
    const initialize = messages.some((m) => (m as { method?: unknown }).method === 'initialize');
    if (initialize) {
      if (this.#initialized) return reply(res, 400, -32600, 'Invalid Request: Server already initialized');
      if (messages.length > 1) return reply(res, 400, -32600, 'Invalid Request: Only one initialization request is allowed');
      this.#initialized = true;
    } else {
      if (!this.#initialized) return reply(res, 400, -32000, 'Bad Request: Server not initialized');
      const version = req.headers['mcp-protocol-version'];
      if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
        return reply(res, 400, -32000, `Bad Request: Unsupported protocol version ${version} (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`);
      }
    }
    const extra: MessageExtraInfo = { requestInfo: { headers: req.headers } };
    const requests = messages.filter((m) => (m as { method?: unknown }).method !== undefined && (m as { id?: unknown }).id !== undefined) as Array<{ id: RequestId }>;
    if (requests.length === 0) {
      const refused = messages.map((m) => (m as { method?: unknown }).method).filter((method): method is string => typeof method === 'string' && !acceptsNotification(method));
      if (refused.length > 0) {
        for (const method of refused) this.ondropped?.(method);
        const shown = refused[0]!.length > 100 ? `${refused[0]!.slice(0, 100)}…` : refused[0]!;
        return reply(
          res,
          400,
          -32600,
          `Invalid Request: the gateway does not take the notification ${JSON.stringify(shown)}, so nothing of this POST was passed on; a request (such as tools/call) needs an id, and of notifications only those MCP defines for clients are accepted`,
        );
      }
      res.writeHead(202).end();
      for (const m of messages) this.#deliver(m, extra);
      return;
    }
    const busy = this.#inFlight.conflict(messages);
    if (busy !== undefined) {
      const refusal = inFlightRefusal(busy);
      this.onrefused?.(refusal);
      return reply(res, 409, refusal.code, refusal.message);
    }
    this.#inFlight.admit(messages);
    const stream: PostStream = { res, pending: new Set(requests.map((r) => r.id)), responses: [], batch, sse: false, closed: false };
    for (const r of requests) this.#byRequest.set(r.id, stream);
    res.on('close', () => {
      // The agent went away: later answers to these requests have nowhere to go.
      if (stream.closed) return;
      stream.closed = true;
      for (const id of stream.pending) this.#byRequest.delete(id);
    });
    for (const m of messages) this.#deliver(m, extra);
  }

  #deliver(message: JSONRPCMessage, extra: MessageExtraInfo): void {
    const cancelled = this.#inFlight.received(message);
    // The SDK never answers a cancelled request: its POST has nothing more to wait for.
    if (cancelled !== undefined) this.#settle(cancelled);
    this.onmessage?.(message, extra);
  }

  #settle(id: RequestId): void {
    const stream = this.#byRequest.get(id);
    if (!stream) return;
    this.#byRequest.delete(id);
    stream.pending.delete(id);
    if (stream.pending.size === 0) this.#finish(stream);
  }

  #get(req: IncomingMessage, res: ServerResponse): void {
    if (!(req.headers.accept ?? '').includes('text/event-stream')) return reply(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
    if (!this.#initialized) return reply(res, 400, -32000, 'Bad Request: Server not initialized');
    if (this.#standalone) return reply(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
    res.writeHead(200, this.#sseHeaders());
    res.flushHeaders();
    this.#standalone = res;
    res.on('close', () => {
      if (this.#standalone === res) this.#standalone = undefined;
    });
  }

  #finish(stream: PostStream): void {
    if (stream.closed) return;
    stream.closed = true;
    if (stream.sse) {
      stream.res.end();
      return;
    }
    if (stream.responses.length === 0) {
      // Every request of the POST was cancelled: nothing to answer.
      stream.res.writeHead(202, { 'mcp-session-id': this.sessionId }).end();
      return;
    }
    const payload = JSON.stringify(stream.batch ? stream.responses : stream.responses[0]);
    stream.res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': this.sessionId }).end(payload);
  }

  #sseHeaders(): Record<string, string> {
    return { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no', 'mcp-session-id': this.sessionId };
  }

  #ping(): void {
    this.#standalone?.write(': keep-alive\n\n');
    for (const stream of new Set(this.#byRequest.values())) if (stream.sse && !stream.closed) stream.res.write(': keep-alive\n\n');
  }
}

function writeEvent(res: ServerResponse, message: JSONRPCMessage): void {
  res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}

function reply(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}
