import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import type { StdioUpstreamConfig } from '../src/config/gateway-config.js';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** A logger that writes nothing (set TOLLGATE_TEST_LOG=debug to see the gateway's log). */
export function testLogger(): Logger {
  return pino({ level: process.env.TOLLGATE_TEST_LOG ?? 'silent' });
}

/** The demo exchange as a stdio child process, run from source with tsx. */
export function demoExchangeStdio(name = 'ccxt', extraArgs: readonly string[] = []): StdioUpstreamConfig {
  return {
    kind: 'stdio',
    name,
    command: process.execPath,
    args: ['--import', 'tsx', resolve(ROOT, 'packages/demo-exchange/src/main.ts'), '--stdio', ...extraArgs],
    env: {},
    cwd: ROOT,
    timeoutMs: 20_000,
  };
}

/** The path of @modelcontextprotocol/server-everything's executable. */
export function everythingEntry(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('@modelcontextprotocol/server-everything/package.json', { paths: [ROOT] });
  return resolve(dirname(manifest), 'dist/index.js');
}

/** @modelcontextprotocol/server-everything as a stdio child process. */
export function everythingStdio(name = 'everything'): StdioUpstreamConfig {
  return { kind: 'stdio', name, command: process.execPath, args: [everythingEntry(), 'stdio'], env: {}, cwd: ROOT, timeoutMs: 20_000 };
}
