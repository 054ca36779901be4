import type { Implementation, Tool } from '@modelcontextprotocol/sdk/types.js';
import { pino } from 'pino';
import type { UpstreamConfig } from '../config/gateway-config.js';
import { GatewayError, errorMessage } from '../gateway-error.js';
import { HttpUpstream } from './http-upstream.js';
import { StdioUpstream } from './stdio-upstream.js';
import { UpstreamRegistry } from './upstream-registry.js';

/** One server's `tools/list`, as {@link snapshotToolList} read it. */
export interface ToolListSnapshot {
  /** Every tool the server listed (all pages), in the server's order, each once. */
  readonly tools: readonly Tool[];
  /** The name and version the server gave in `initialize`. */
  readonly serverInfo: Implementation | undefined;
}

// The last lines a failing stdio server wrote to stderr are quoted in the error.
const STDERR_LINES_KEPT = 8;
// A server that dies writes its last words just before the pipe closes; give them a moment to arrive.
const STDERR_GRACE_MS = 100;

/**
 * Connects to one MCP server the way the gateway does (a {@link StdioUpstream} or
 * {@link HttpUpstream}, with the gateway's client identity and no client capabilities),
 * reads its whole `tools/list`, and disconnects (a stdio server is stopped). This is what
 * `tollgate catalog pull` and `tollgate init --from-server` snapshot.
 *
 * @throws GatewayError `upstream.unavailable` when the server cannot be started or reached
 *   or exits; for a stdio server the message ends with the last lines of its stderr.
 * @example
 * const { tools } = await snapshotToolList({ kind: 'stdio', name: 'ccxt', command: 'node', args: ['main.js'], env: {}, cwd: process.cwd(), timeoutMs: 30_000 });
 */
export async function snapshotToolList(config: UpstreamConfig): Promise<ToolListSnapshot> {
  const stderr: string[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write(line: string): void {
        try {
          const entry = JSON.parse(line) as { stderr?: unknown };
          if (typeof entry.stderr === 'string') {
            stderr.push(entry.stderr);
            if (stderr.length > STDERR_LINES_KEPT) stderr.shift();
          }
        } catch {
          // Not a log entry of ours; nothing to keep.
        }
      },
    },
  );
  const upstream = config.kind === 'stdio' ? new StdioUpstream(config, logger) : new HttpUpstream(config, logger);
  const registry = new UpstreamRegistry([upstream], logger);
  try {
    await registry.start();
    return { tools: registry.tools().map((t) => t.tool), serverInfo: upstream.info?.serverInfo };
  } catch (error) {
    if (config.kind === 'stdio') await new Promise((resolve) => setTimeout(resolve, STDERR_GRACE_MS));
    const said = stderr.filter((l) => l.trim().length > 0);
    const message = `${errorMessage(error)}${said.length > 0 ? `\nthe server's stderr ended with:\n  ${said.join('\n  ')}` : ''}`;
    throw new GatewayError(error instanceof GatewayError ? error.code : 'upstream.unavailable', message, { cause: error });
  } finally {
    await registry.close();
  }
}
