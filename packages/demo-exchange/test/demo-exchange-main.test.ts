import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { DemoExchangeError, parseDemoExchangeArguments } from '../src/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Run {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return { child, stdout: () => out, stderr: () => err, exit: () => exited };
}

async function waitFor(run: Run, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(run.stderr());
    if (match) return match;
    if (run.child.exitCode !== null) throw new Error(`process exited early: ${run.stderr()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; stderr: ${run.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('parseDemoExchangeArguments', () => {
  it('defaults to stdio with seed 1', () => {
    expect(parseDemoExchangeArguments([])).toEqual({ mode: 'stdio', host: '127.0.0.1', port: 9000, stateless: false, jsonResponse: false, seed: 1, help: false });
  });

  it('reads HTTP options in both flag styles', () => {
    expect(parseDemoExchangeArguments(['--http', '--port=0', '--host', '0.0.0.0', '--stateless', '--json-response', '--seed', '42'])).toEqual({
      mode: 'http',
      host: '0.0.0.0',
      port: 0,
      stateless: true,
      jsonResponse: true,
      seed: 42,
      help: false,
    });
  });

  it('names the bad argument', () => {
    const cases: [string[], RegExp][] = [
      [['--port', '70000', '--http'], /--port must be an integer from 0 to 65535, got "70000"/],
      [['--http', '--port'], /--port needs a value/],
      [['--verbose'], /unknown argument "--verbose"/],
      [['--port', '8080'], /need --http/],
      [['--stdio', '--http'], /exclude each other/],
      [['--seed', 'abc'], /--seed must be an integer/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseDemoExchangeArguments(argv), argv.join(' ')).toThrow(DemoExchangeError);
      expect(() => parseDemoExchangeArguments(argv), argv.join(' ')).toThrow(message);
    }
  });
});

describe('the executable', () => {
  it('serves Streamable HTTP on an ephemeral port and exits cleanly on SIGTERM', async () => {
    const proc = run(['--http', '--port', '0', '--seed', '3']);
    try {
      const [, url] = await waitFor(proc, /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/);
      const client = new Client({ name: 'main-test', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(url ?? '')));
      expect((await client.listTools()).tools).toHaveLength(19);
      const result = await client.callTool({ name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } });
      expect(result.isError).toBeFalsy();
      await client.close();
      proc.child.kill('SIGTERM');
      expect(await proc.exit()).toEqual({ code: 0, signal: null });
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  it('serves stdio, exits 0 on SIGINT, and exits 0 when stdin closes', async () => {
    const interrupted = run(['--stdio']);
    const closed = run([]);
    try {
      await waitFor(interrupted, /serving MCP over stdio/);
      await waitFor(closed, /serving MCP over stdio/);
      interrupted.child.kill('SIGINT');
      closed.child.stdin?.end();
      expect(await interrupted.exit()).toEqual({ code: 0, signal: null });
      expect(await closed.exit()).toEqual({ code: 0, signal: null });
      expect(interrupted.stdout()).toBe('');
    } finally {
      interrupted.child.kill('SIGKILL');
      closed.child.kill('SIGKILL');
    }
  });

  it('exits 2 with the usage on bad arguments, and prints help', async () => {
    const bad = run(['--port', 'x', '--http']);
    const help = run(['--help']);
    expect(await bad.exit()).toEqual({ code: 2, signal: null });
    expect(bad.stderr()).toMatch(/demo-exchange: UsageError: --port must be an integer/);
    expect(bad.stderr()).toMatch(/Usage: tollgate-demo-exchange/);
    expect(await help.exit()).toEqual({ code: 0, signal: null });
    expect(help.stdout()).toMatch(/--stateless/);
  });
});
