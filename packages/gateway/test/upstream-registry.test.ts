import { startDemoExchangeHttp, type DemoExchangeHttp } from '@tollgate/demo-exchange';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpUpstream } from '../src/upstream/http-upstream.js';
import { StdioUpstream } from '../src/upstream/stdio-upstream.js';
import { UpstreamRegistry } from '../src/upstream/upstream-registry.js';
import { GatewayError } from '../src/gateway-error.js';
import { demoExchangeStdio, everythingStdio, testLogger } from './fixtures.js';

describe('upstream registry', () => {
  let http: DemoExchangeHttp;
  beforeAll(async () => {
    http = await startDemoExchangeHttp({ port: 0 });
  });
  afterAll(async () => {
    await http.close();
  });

  it('lists one upstream\'s tools under their own names and routes by name', async () => {
    const logger = testLogger();
    const registry = new UpstreamRegistry([new HttpUpstream({ kind: 'http', name: 'ccxt', url: http.url, headers: {}, timeoutMs: 10_000 }, logger)], logger);
    await registry.start();
    try {
      expect(registry.prefixed).toBe(false);
      expect(registry.tools()).toHaveLength(19);
      const tool = registry.findTool('fetch_account_balance');
      expect(tool?.upstream.name).toBe('ccxt');
      expect(tool?.exposed).toBe(tool?.tool);
      expect(registry.resolveName('anything')).toEqual({ upstream: registry.upstreams[0], name: 'anything' });
      const result = await tool!.upstream.request({ method: 'tools/call', params: { name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } } });
      expect(JSON.stringify(result)).toContain('USDT');
    } finally {
      await registry.close();
    }
  });

  it('prefixes the tools of two upstreams (stdio and HTTP) and merges capabilities', async () => {
    const logger = testLogger();
    const registry = new UpstreamRegistry(
      [new StdioUpstream(everythingStdio('everything'), logger), new HttpUpstream({ kind: 'http', name: 'ccxt', url: http.url, headers: {}, timeoutMs: 10_000 }, logger)],
      logger,
    );
    await registry.start();
    try {
      expect(registry.prefixed).toBe(true);
      const names = registry.tools().map((t) => t.name);
      expect(names).toContain('everything__echo');
      expect(names).toContain('ccxt__cancel_order');
      const echo = registry.findTool('everything__echo')!;
      expect(echo.tool.name).toBe('echo');
      expect(echo.exposed.name).toBe('everything__echo');
      expect(echo.exposed.inputSchema).toBe(echo.tool.inputSchema);
      expect(registry.resolveName('ccxt__fetch_ohlcv')?.name).toBe('fetch_ohlcv');
      expect(registry.resolveName('nope__x')).toBeUndefined();
      expect(registry.resolveName('plain')).toBeUndefined();
      const caps = registry.capabilities();
      expect(caps.tools).toEqual({ listChanged: true });
      expect(caps.resources).toBeDefined();
      expect(caps.prompts).toBeDefined();
      expect(registry.supporting('prompts').map((u) => u.name)).toEqual(['everything']);
    } finally {
      await registry.close();
    }
  });

  it('refuses to start when an upstream cannot be reached, naming it', async () => {
    const logger = testLogger();
    const registry = new UpstreamRegistry([new HttpUpstream({ kind: 'http', name: 'gone', url: 'http://127.0.0.1:9/mcp', headers: {}, timeoutMs: 2000 }, logger)], logger);
    const error = await registry.start().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('upstream.unavailable');
    expect((error as GatewayError).message).toMatch(/cannot connect to upstream "gone" \(http:\/\/127\.0\.0\.1:9\/mcp\)/);
  });

  it('restarts a stdio server that died on the next request', async () => {
    const logger = testLogger();
    const upstream = new StdioUpstream(demoExchangeStdio('ccxt'), logger);
    const registry = new UpstreamRegistry([upstream], logger);
    await registry.start();
    try {
      const pid = upstream.pid!;
      expect(pid).toBeGreaterThan(0);
      const closed = new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (!upstream.connected) {
            clearInterval(timer);
            resolve();
          }
        }, 10);
      });
      process.kill(pid, 'SIGKILL');
      await closed;
      const result = await upstream.request({ method: 'tools/call', params: { name: 'fetch_ohlcv', arguments: { exchange_id: 'binance', symbol: 'BTC/USDT', timeframe: '1h', limit: 2 } } });
      expect(upstream.pid).not.toBe(pid);
      expect(result).toHaveProperty('content');
    } finally {
      await registry.close();
    }
  });
});
