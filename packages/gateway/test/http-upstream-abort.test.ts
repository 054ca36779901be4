import { getEventListeners } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { startDemoExchangeHttp, type DemoExchangeHttp } from '@tollgate/demo-exchange';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HttpUpstreamConfig } from '../src/config/gateway-config.js';
import { abortIsolatingFetch, type FetchLike } from '../src/upstream/abort-isolating-fetch.js';
import { HttpUpstream } from '../src/upstream/http-upstream.js';
import { testLogger } from './fixtures.js';

// The SDK's Streamable HTTP transport passes one connection-wide AbortSignal to every fetch;
// these tests hold the gateway's HttpUpstream to keeping that signal's abort listeners to the
// requests in flight, against real MCP servers on 127.0.0.1.

/** An HttpUpstream that records the signal the transport hands to each fetch. */
class ObservedHttpUpstream extends HttpUpstream {
  readonly signals = new Set<AbortSignal>();

  protected override transportFetch(): FetchLike {
    const inner = super.transportFetch();
    return (input, init) => {
      if (init?.signal) this.signals.add(init.signal);
      return inner(input, init);
    };
  }

  /** The connection's signal (the transport uses exactly one). */
  signal(): AbortSignal {
    expect(this.signals.size).toBe(1);
    return [...this.signals][0]!;
  }
}

const httpConfig = (url: string): HttpUpstreamConfig => ({ kind: 'http', name: 'ccxt', url, headers: {}, timeoutMs: 20_000 });

const CALLS = 2_000;

describe.each([
  { answers: 'SSE streams', jsonResponse: false },
  { answers: 'plain JSON', jsonResponse: true },
])('HttpUpstream to a server that answers POSTs with $answers', ({ jsonResponse }) => {
  let exchange: DemoExchangeHttp;
  let upstream: ObservedHttpUpstream;

  beforeAll(async () => {
    exchange = await startDemoExchangeHttp({ port: 0, jsonResponse });
  });

  afterAll(async () => {
    await upstream?.close();
    await exchange?.close();
  });

  it(`keeps the connection signal's abort listeners to the requests in flight over ${CALLS} calls`, async () => {
    upstream = new ObservedHttpUpstream(httpConfig(exchange.url), testLogger());
    await upstream.connect();
    for (let i = 0; i < CALLS; i++) {
      const result = (await upstream.request({ method: 'tools/call', params: { name: 'fetch_account_balance', arguments: { exchange_id: 'kraken' } } })) as { isError?: boolean };
      expect(result.isError).toBeFalsy();
    }
    // At most the long-lived GET event stream is still in flight.
    expect(getEventListeners(upstream.signal(), 'abort').length).toBeLessThanOrEqual(2);
  }, 120_000);
});

/**
 * A stateless MCP server whose `hold` tool reports progress and then answers only when
 * released; it records how each HTTP response ended.
 */
async function startHoldingServer(): Promise<{ url: string; started: Promise<void>; ended: Promise<{ finished: boolean }>; release: () => void; close: () => Promise<void> }> {
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let markEnded!: (end: { finished: boolean }) => void;
  const ended = new Promise<{ finished: boolean }>((resolve) => (markEnded = resolve));
  const http: HttpServer = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { method?: string };
      const server = new McpServer({ name: 'holding', version: '1' });
      server.registerTool('hold', { description: 'answers when released' }, async (extra) => {
        const token = extra._meta?.progressToken;
        if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: 1 } });
        markStarted();
        await released;
        return { content: [{ type: 'text', text: 'released' }] };
      });
      if (body.method === 'tools/call') res.on('close', () => markEnded({ finished: res.writableFinished }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    })();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    started,
    ended,
    release,
    close: () =>
      new Promise<void>((resolve) => {
        release();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

describe('HttpUpstream closing', () => {
  let server: Awaited<ReturnType<typeof startHoldingServer>> | undefined;

  afterEach(async () => {
    await server?.close();
  });

  it('aborts a streaming response in flight', async () => {
    server = await startHoldingServer();
    const upstream = new ObservedHttpUpstream(httpConfig(server.url), testLogger());
    await upstream.connect();
    let progressed!: () => void;
    const progress = new Promise<void>((resolve) => (progressed = resolve));
    const call = upstream.request({ method: 'tools/call', params: { name: 'hold', arguments: {} } }, { onprogress: () => progressed() });
    const outcome = call.then(
      () => 'answered',
      () => 'rejected',
    );
    // The answer's event stream is open and being read: the progress came through it.
    await Promise.all([server.started, progress]);
    await upstream.close();
    const ended = await Promise.race([server.ended, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 3_000))]);
    expect(ended).toEqual({ finished: false });
    expect(await outcome).toBe('rejected');
    expect(getEventListeners(upstream.signal(), 'abort')).toHaveLength(0);
  }, 20_000);
});

describe('abortIsolatingFetch', () => {
  let exchange: DemoExchangeHttp;

  beforeAll(async () => {
    exchange = await startDemoExchangeHttp({ port: 0 });
  });

  afterAll(async () => {
    await exchange?.close();
  });

  const initialize = (signal: AbortSignal): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    signal,
  });

  it('rejects a request whose signal was aborted before it started', async () => {
    const parent = new AbortController();
    parent.abort(new Error('transport closed'));
    await expect(abortIsolatingFetch(fetch)(exchange.url, initialize(parent.signal))).rejects.toThrow('transport closed');
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
  });

  it('holds one listener while an event stream is read and none once it has ended', async () => {
    const parent = new AbortController();
    const response = await abortIsolatingFetch(fetch)(exchange.url, initialize(parent.signal));
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('mcp-session-id')).toBeTruthy();
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(1);
    expect(await response.text()).toContain('"serverInfo"');
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
  });

  it('removes its listener when an event stream is cancelled', async () => {
    const parent = new AbortController();
    const response = await abortIsolatingFetch(fetch)(exchange.url, initialize(parent.signal));
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(1);
    await response.body?.cancel();
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
  });
});
