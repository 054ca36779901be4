import { createInterface } from 'node:readline';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from 'pino';
import type { StdioUpstreamConfig } from '../config/gateway-config.js';
import { ClientUpstream } from './client-upstream.js';

/**
 * An upstream MCP server the gateway starts as a child process and talks to over stdio.
 * The child gets a safe default environment (PATH, HOME, …) plus the configured `env`;
 * its stderr goes to the gateway's log, one line per entry.
 *
 * @example
 * const upstream = new StdioUpstream({ kind: 'stdio', name: 'ccxt', command: 'node', args: ['dist/main.js'], env: {}, cwd, timeoutMs: 60_000 }, logger);
 * await upstream.connect();
 */
export class StdioUpstream extends ClientUpstream {
  readonly config: StdioUpstreamConfig;
  #pid: number | null = null;

  constructor(config: StdioUpstreamConfig, logger: Logger) {
    super(config.name, config.timeoutMs, logger);
    this.config = config;
  }

  /** The process id of the running server, when there is one. */
  get pid(): number | null {
    return this.connected ? this.#pid : null;
  }

  protected createTransport(): Transport {
    const transport = new StdioClientTransport({
      command: this.config.command,
      args: [...this.config.args],
      // The SDK adds a safe default environment (PATH, HOME, …) under these.
      env: { ...this.config.env },
      cwd: this.config.cwd,
      stderr: 'pipe',
    });
    const start = transport.start.bind(transport);
    transport.start = async () => {
      await start();
      this.#pid = transport.pid;
      const stderr = transport.stderr;
      if (stderr) {
        createInterface({ input: stderr as unknown as NodeJS.ReadableStream }).on('line', (line) => {
          this.logger.info({ upstream: this.name, stderr: line }, 'upstream stderr');
        });
      }
    };
    return transport;
  }

  protected describe(): string {
    return [this.config.command, ...this.config.args].join(' ');
  }
}

