/**
 * A lean MCP Streamable HTTP client for the benchmark: `node:http` with keep-alive, one
 * session, JSON-RPC POSTs whose answer may come as JSON or as one SSE event. Every target
 * (the server directly, mcp-proxy, Tollgate) is driven by the same client, so what differs
 * between them is the server side only.
 */
import { Agent, request } from 'node:http';

/** One MCP session over Streamable HTTP. */
export class McpHttpSession {
  readonly #url: URL;
  readonly #agent: Agent;
  readonly #headers: Record<string, string>;
  #session: string | undefined;
  #nextId = 1;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.#url = new URL(url);
    this.#agent = new Agent({ keepAlive: true, maxSockets: 4 });
    this.#headers = headers;
  }

  /** Initializes the session (and sends `notifications/initialized`). */
  async open(): Promise<void> {
    await this.#rpc({ jsonrpc: '2.0', id: this.#nextId++, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'tollgate-bench', version: '1' } } });
    await this.#post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  /** Calls a tool; resolves with the result, rejects on a JSON-RPC error. */
  async callTool(name: string, args: Record<string, unknown>): Promise<{ isError?: boolean; content?: unknown[] }> {
    return (await this.#rpc({ jsonrpc: '2.0', id: this.#nextId++, method: 'tools/call', params: { name, arguments: args } })) as { isError?: boolean };
  }

  /** Ends the session. */
  async close(): Promise<void> {
    if (this.#session) {
      await new Promise<void>((resolve) => {
        const req = request(this.#url, { method: 'DELETE', agent: this.#agent, headers: { ...this.#headers, 'mcp-session-id': this.#session! } }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', () => resolve());
        req.end();
      });
    }
    this.#agent.destroy();
  }

  async #rpc(message: Record<string, unknown>): Promise<unknown> {
    const { status, body, contentType } = await this.#post(message);
    if (status !== 200) throw new Error(`HTTP ${status}: ${body.slice(0, 300)}`);
    const json = contentType.includes('text/event-stream') ? lastSseData(body) : body;
    const reply = JSON.parse(json) as { result?: unknown; error?: { code: number; message: string } };
    if (reply.error) throw new Error(`JSON-RPC ${reply.error.code}: ${reply.error.message}`);
    return reply.result;
  }

  #post(message: Record<string, unknown>): Promise<{ status: number; body: string; contentType: string }> {
    const payload = JSON.stringify(message);
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {
        ...this.#headers,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'content-length': String(Buffer.byteLength(payload)),
      };
      if (this.#session) {
        headers['mcp-session-id'] = this.#session;
        headers['mcp-protocol-version'] = '2025-06-18';
      }
      const req = request(this.#url, { method: 'POST', agent: this.#agent, headers }, (res) => {
        const session = res.headers['mcp-session-id'];
        if (typeof session === 'string') this.#session = session;
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

function lastSseData(body: string): string {
  let data = '';
  for (const line of body.split('\n')) if (line.startsWith('data:')) data = line.slice(5).trim();
  if (data === '') throw new Error(`no SSE data event in: ${body.slice(0, 200)}`);
  return data;
}
