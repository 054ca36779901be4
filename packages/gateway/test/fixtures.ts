import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
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

/** A recording upstream (test/recording-upstream.ts) and a policy directory that allows all of it. */
export interface RecordingUpstream {
  /** The upstream's entry in a gateway configuration's `upstreams`. */
  readonly config: { command: string; args: string[]; cwd: string };
  /** A policy directory with an allow-all policy for the upstream's name. */
  readonly policyDir: string;
  /** Every message the upstream has received so far, in order. */
  messages(): Promise<Array<{ method?: string; id?: string | number; params?: Record<string, unknown> }>>;
  /** The `tools/call` requests it received (with an id). */
  toolCalls(): Promise<Array<{ id: string | number; params: { name: string; arguments?: Record<string, unknown> } }>>;
  /** Removes its files. */
  cleanup(): Promise<void>;
}

/**
 * Makes a recording upstream named `name`: a real MCP server on stdio that writes down every
 * message it gets, so a test can show what did (and did not) reach the upstream.
 */
export async function recordingUpstream(name = 'rec'): Promise<RecordingUpstream> {
  const dir = await mkdtemp(resolve(tmpdir(), 'tollgate-rec-'));
  const record = resolve(dir, 'received.jsonl');
  await writeFile(record, '');
  const policyDir = resolve(dir, 'policies');
  await mkdir(resolve(policyDir, name), { recursive: true });
  await writeFile(resolve(policyDir, name, 'policy.json'), JSON.stringify({ version: '1', default: 'allow' }));
  const messages = async () =>
    (await readFile(record, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { method?: string; id?: string | number; params?: Record<string, unknown> });
  return {
    config: { command: process.execPath, args: ['--import', 'tsx', resolve(ROOT, 'packages/gateway/test/recording-upstream.ts'), record], cwd: ROOT },
    policyDir,
    messages,
    toolCalls: async () => (await messages()).filter((m) => m.method === 'tools/call' && m.id !== undefined) as never,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
