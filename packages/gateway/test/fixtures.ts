import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { pino, type Logger } from 'pino';
import type { StdioUpstreamConfig } from '../src/config/gateway-config.js';
import { ClientUpstream } from '../src/upstream/client-upstream.js';

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

/** A recorded upstream message. */
export interface SentMessage {
  readonly method?: string;
  readonly params?: Record<string, unknown>;
}

/**
 * An upstream served in-process over the SDK's linked in-memory transports (for unit tests
 * of the pipeline); it records every message the gateway sends it.
 */
export class InMemoryUpstream extends ClientUpstream {
  readonly sent: SentMessage[] = [];
  readonly #server: () => Server;

  constructor(name: string, server: () => Server, logger: Logger) {
    super(name, 10_000, logger);
    this.#server = server;
  }

  /** The `tools/call` requests that reached the upstream. */
  toolCalls(): SentMessage[] {
    return this.sent.filter((m) => m.method === 'tools/call');
  }

  protected createTransport(): Transport {
    const [client, server] = InMemoryTransport.createLinkedPair();
    void this.#server().connect(server);
    const send = client.send.bind(client);
    client.send = async (message, options) => {
      this.sent.push(message as SentMessage);
      return send(message, options);
    };
    return client;
  }

  protected describe(): string {
    return `in-memory ${this.name}`;
  }
}
