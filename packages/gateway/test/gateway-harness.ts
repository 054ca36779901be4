import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { sha256Hex } from '@tollgate/policy';
import { ROOT } from './fixtures.js';

/** The downstream transports every conformance test runs over. */
export const DOWNSTREAM_TRANSPORTS = ['stdio', 'http'] as const;
/** One of {@link DOWNSTREAM_TRANSPORTS}. */
export type DownstreamTransport = (typeof DOWNSTREAM_TRANSPORTS)[number];

/** The agent every harness gateway serves, and its bearer token. */
export const TEST_AGENT = { id: 'agent-7', labels: { team: 'desk' } };
export const TEST_TOKEN = 'test-token-agent-7';

const GATEWAY_MAIN = resolve(ROOT, 'packages/gateway/test/gateway-process.ts');

/** A gateway child process and an MCP client connected to it. */
export interface GatewayProcess {
  readonly client: Client;
  /** The gateway's HTTP endpoint (HTTP transport only). */
  readonly url: string | undefined;
  /** Every stderr line (the gateway's JSON log) so far. */
  readonly log: string[];
  /** The admin API's URL once the gateway logged it (when the config has an `admin` section). */
  adminUrl(): Promise<string>;
  /** A second client, as another session of the same agent (HTTP only). */
  connectAnother(token?: string): Promise<Client>;
  /** Stops the gateway gracefully (SIGTERM, or stdin closed for stdio) and waits for it to exit. */
  stop(): Promise<number | null>;
  readonly process: ChildProcess | undefined;
}

/** What the agent's MCP client declares and handles (e.g. elicitation), set up before it connects. */
export interface AgentClientOptions {
  readonly capabilities?: ClientCapabilities;
  /** Installs the client's own request handlers (e.g. for elicitation/create). */
  readonly setup?: (client: Client) => void;
}

function agentClient(options: AgentClientOptions): Client {
  const client = new Client({ name: 'conformance', version: '1' }, { capabilities: options.capabilities ?? {} });
  options.setup?.(client);
  return client;
}

/**
 * Starts `gateway-process.ts` with `config` (plus listen, agent and agents for the chosen
 * transport) and connects a client over that transport.
 */
export async function startGatewayProcess(transport: DownstreamTransport, config: Record<string, unknown>, agent: AgentClientOptions = {}): Promise<GatewayProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-gw-'));
  const full = {
    ...config,
    ...(transport === 'stdio'
      ? { listen: { stdio: true }, agent: TEST_AGENT }
      : { listen: { http: { host: '127.0.0.1', port: 0 } }, agents: [{ ...TEST_AGENT, token_sha256: sha256Hex(TEST_TOKEN) }] }),
    log: { level: 'info' },
  };
  const file = join(dir, 'gateway.json');
  await writeFile(file, JSON.stringify(full, null, 2));
  const log: string[] = [];
  const cleanup = () => rm(dir, { recursive: true, force: true });

  if (transport === 'stdio') {
    const t = new StdioClientTransport({ command: process.execPath, args: ['--import', 'tsx', GATEWAY_MAIN, file], cwd: ROOT, stderr: 'pipe' });
    const client = agentClient(agent);
    const lines = createInterface({ input: t.stderr as unknown as NodeJS.ReadableStream });
    lines.on('line', (line) => log.push(line));
    await client.connect(t);
    const pid = t.pid;
    return {
      client,
      url: undefined,
      log,
      adminUrl: () => loggedAdminUrl(log),
      process: undefined,
      connectAnother: () => Promise.reject(new Error('a stdio gateway serves one session')),
      async stop() {
        const exited = pid === null ? Promise.resolve(null) : waitForExit(pid);
        await client.close();
        const code = await exited;
        await cleanup();
        return code;
      },
    };
  }

  const child = spawn(process.execPath, ['--import', 'tsx', GATEWAY_MAIN, file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start:\n${log.join('\n')}`)), 60_000);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      log.push(line);
      const m = /"url":"([^"]+)".*serving agents over Streamable HTTP|serving agents over Streamable HTTP.*"url":"([^"]+)"/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve((m[1] ?? m[2])!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited with ${code}:\n${log.join('\n')}`));
    });
  });
  const connect = async (token = TEST_TOKEN): Promise<Client> => {
    const client = agentClient(agent);
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return client;
  };
  const client = await connect();
  return {
    client,
    url,
    log,
    adminUrl: () => loggedAdminUrl(log),
    process: child,
    connectAnother: connect,
    async stop() {
      await client.close().catch(() => undefined);
      child.kill('SIGTERM');
      const code = await exited;
      await cleanup();
      return code;
    },
  };
}

/** The admin URL from the gateway's "admin API listening" log line, waiting up to 10 s for it. */
async function loggedAdminUrl(log: readonly string[]): Promise<string> {
  for (let i = 0; i < 200; i++) {
    for (const line of log) {
      const m = /"url":"([^"]+)".*admin API listening|admin API listening.*"url":"([^"]+)"/.exec(line);
      if (m) return (m[1] ?? m[2])!;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the gateway logged no admin URL:\n${log.join('\n')}`);
}

async function waitForExit(pid: number): Promise<number | null> {
  for (let i = 0; i < 600; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return 0;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return null;
}
