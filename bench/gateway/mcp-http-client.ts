/**
 * Lean MCP Streamable HTTP clients for the benchmark: one session, JSON-RPC POSTs whose answer
 * may come as JSON or as one SSE event. `McpHttpSession` is `node:http` with keep-alive (the
 * lightest client Node has); `FetchMcpSession` is the `fetch` most agents' SDKs use (undici,
 * keep-alive by default). Every target is driven by the same client in a run, so what differs
 * between them is the server side only.
 */
import { Agent, request } from 'node:http';

/** What the benchmark needs of a session. */
export interface McpSession {
  open(): Promise<void>;
  callTool(name: string, args: Record<string, unknown>): Promise<{ isError?: boolean; content?: unknown[] }>;
  close(): Promise<void>;
}

type Posted = { status: number; body: string; contentType: string };

/** A session's JSON-RPC over Streamable HTTP; a subclass POSTs (and DELETEs) with its own HTTP client. */
abstract class StreamableHttpSession implements McpSession {
  protected readonly headers: Record<string, string>;
  protected session: string | undefined;
  #nextId = 1;

  constructor(headers: Record<string, string>) {
    this.headers = headers;
  }

  /** Initializes the session (and sends `notifications/initialized`). */
  async open(): Promise<void> {
    await this.#rpc({ jsonrpc: '2.0', id: this.#nextId++, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'tollgate-bench', version: '1' } } });
    await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  /** Calls a tool; resolves with the result, rejects on a JSON-RPC error. */
  async callTool(name: string, args: Record<string, unknown>): Promise<{ isError?: boolean; content?: unknown[] }> {
    return (await this.#rpc({ jsonrpc: '2.0', id: this.#nextId++, method: 'tools/call', params: { name, arguments: args } })) as { isError?: boolean };
  }

  /** Ends the session. */
  abstract close(): Promise<void>;

  /** POSTs one message with the session's headers, and keeps the session id the server gives. */
  protected abstract post(message: Record<string, unknown>): Promise<Posted>;

  /** The headers of a POST: the caller's, the content types, and the session once there is one. */
  protected postHeaders(): Record<string, string> {
    const headers: Record<string, string> = { ...this.headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    if (this.session) {
      headers['mcp-session-id'] = this.session;
      headers['mcp-protocol-version'] = '2025-06-18';
    }
    return headers;
  }

  async #rpc(message: Record<string, unknown>): Promise<unknown> {
    const { status, body, contentType } = await this.post(message);
    if (status !== 200) throw new Error(`HTTP ${status}: ${body.slice(0, 300)}`);
    return replyOf(body, contentType);
  }
}

/** One MCP session over Streamable HTTP, on `node:http`. */
export class McpHttpSession extends StreamableHttpSession {
  readonly #url: URL;
  readonly #agent: Agent;

  constructor(url: string, headers: Record<string, string> = {}) {
    super(headers);
    this.#url = new URL(url);
    this.#agent = new Agent({ keepAlive: true, maxSockets: 4 });
  }

  async close(): Promise<void> {
    if (this.session) {
      await new Promise<void>((resolve) => {
        const req = request(this.#url, { method: 'DELETE', agent: this.#agent, headers: { ...this.headers, 'mcp-session-id': this.session! } }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', () => resolve());
        req.end();
      });
    }
    this.#agent.destroy();
  }

  protected post(message: Record<string, unknown>): Promise<Posted> {
    const payload = JSON.stringify(message);
    return new Promise((resolve, reject) => {
      const headers = { ...this.postHeaders(), 'content-length': String(Buffer.byteLength(payload)) };
      const req = request(this.#url, { method: 'POST', agent: this.#agent, headers }, (res) => {
        const session = res.headers['mcp-session-id'];
        if (typeof session === 'string') this.session = session;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: String(res.headers['content-type'] ?? '') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }
}

/** One MCP session over Streamable HTTP, on `fetch`. */
export class FetchMcpSession extends StreamableHttpSession {
  readonly #url: string;

  constructor(url: string, headers: Record<string, string> = {}) {
    super(headers);
    this.#url = url;
  }

  async close(): Promise<void> {
    if (this.session) await fetch(this.#url, { method: 'DELETE', headers: { ...this.headers, 'mcp-session-id': this.session } }).then((r) => r.arrayBuffer(), () => undefined);
  }

  protected async post(message: Record<string, unknown>): Promise<Posted> {
    const res = await fetch(this.#url, { method: 'POST', headers: this.postHeaders(), body: JSON.stringify(message) });
    const session = res.headers.get('mcp-session-id');
    if (session) this.session = session;
    return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') ?? '' };
  }
}

/** The result of a JSON-RPC answer (JSON, or the last event of an SSE stream); rejects on a JSON-RPC error. */
function replyOf(body: string, contentType: string): unknown {
  const json = contentType.includes('text/event-stream') ? lastSseData(body) : body;
  let reply: { result?: unknown; error?: { code: number; message: string } };
  try {
    reply = JSON.parse(json) as typeof reply;
  } catch {
    throw new Error(`not a JSON-RPC answer (${contentType || 'no content type'}, ${body.length} bytes): ${body.slice(0, 300)}`);
  }
  if (reply.error) throw new Error(`JSON-RPC ${reply.error.code}: ${reply.error.message}`);
  return reply.result;
}

function lastSseData(body: string): string {
  let data = '';
  for (const line of body.split('\n')) if (line.startsWith('data:')) data = line.slice(5).trim();
  if (data === '') throw new Error(`no SSE data event in: ${body.slice(0, 200)}`);
  return data;
}
