import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { startDemoExchangeHttp } from './demo-exchange-http.js';
import { createDemoExchangeServer } from './demo-exchange-server.js';
import { createDemoExchange } from './demo-exchange.js';
import { DemoExchangeError } from './exchange-error.js';

/** What the `tollgate-demo-exchange` executable was asked to do. */
export interface DemoExchangeCommand {
  /** Transport to serve on. */
  readonly mode: 'stdio' | 'http';
  /** HTTP interface. */
  readonly host: string;
  /** HTTP port (0 = any free port). */
  readonly port: number;
  /** HTTP without sessions. */
  readonly stateless: boolean;
  /** HTTP answers POSTs with JSON instead of SSE. */
  readonly jsonResponse: boolean;
  /** Seed of the exchange's generated data. */
  readonly seed: number;
  /** Print the usage and exit. */
  readonly help: boolean;
}

/** Usage text of the executable. */
export const DEMO_EXCHANGE_USAGE = `Usage: tollgate-demo-exchange [--stdio | --http [--port N] [--host H] [--stateless] [--json-response]] [--seed N]

An MCP server with the CCXT MCP server's 19 tools over an in-memory exchange.

  --stdio           serve MCP on stdin/stdout (default)
  --http            serve MCP Streamable HTTP on http://HOST:PORT/mcp
  --port N          HTTP port, 0 for any free port (default 9000)
  --host H          HTTP interface (default 127.0.0.1)
  --stateless       HTTP without sessions: every POST stands alone
  --json-response   HTTP answers POSTs with JSON instead of an SSE stream
  --seed N          seed of prices, order books, trades and addresses (default 1)
  --help            show this text
`;

const DEFAULTS: DemoExchangeCommand = { mode: 'stdio', host: '127.0.0.1', port: 9000, stateless: false, jsonResponse: false, seed: 1, help: false };

/**
 * Parses the executable's arguments (`--flag value` or `--flag=value`).
 *
 * @throws DemoExchangeError (`server.usage`) naming the bad argument.
 */
export function parseDemoExchangeArguments(argv: readonly string[]): DemoExchangeCommand {
  const command: { -readonly [K in keyof DemoExchangeCommand]: DemoExchangeCommand[K] } = { ...DEFAULTS };
  let sawStdio = false;
  let sawHttpOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new DemoExchangeError('server.usage', `${flag} needs a value`);
      return v;
    };
    const integer = (min: number, max: number): number => {
      const text = value();
      const n = Number(text);
      if (!/^-?\d+$/.test(text) || n < min || n > max) throw new DemoExchangeError('server.usage', `${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
      return n;
    };
    switch (flag) {
      case '--stdio':
        command.mode = 'stdio';
        sawStdio = true;
        break;
      case '--http':
        command.mode = 'http';
        break;
      case '--port':
        command.port = integer(0, 65_535);
        sawHttpOnly = true;
        break;
      case '--host':
        command.host = value();
        sawHttpOnly = true;
        break;
      case '--stateless':
        command.stateless = true;
        sawHttpOnly = true;
        break;
      case '--json-response':
        command.jsonResponse = true;
        sawHttpOnly = true;
        break;
      case '--seed':
        command.seed = integer(0, 4_294_967_295);
        break;
      case '--help':
      case '-h':
        command.help = true;
        break;
      default:
        throw new DemoExchangeError('server.usage', `unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (sawStdio && command.mode === 'http') throw new DemoExchangeError('server.usage', '--stdio and --http exclude each other');
  if (sawHttpOnly && command.mode !== 'http') throw new DemoExchangeError('server.usage', '--port, --host, --stateless and --json-response need --http');
  return command;
}

/** A running demo exchange server, whichever transport it serves. */
export interface RunningDemoExchange {
  /** One line describing where it serves, e.g. `listening on http://127.0.0.1:9000/mcp`. */
  readonly description: string;
  /** Stops serving and releases the port or the standard streams. */
  close(): Promise<void>;
}

/** Starts serving as `command` says: over stdio, or over Streamable HTTP. */
export async function runDemoExchange(command: DemoExchangeCommand): Promise<RunningDemoExchange> {
  const exchange = createDemoExchange({ seed: command.seed });
  if (command.mode === 'http') {
    const http = await startDemoExchangeHttp({ host: command.host, port: command.port, exchange, stateless: command.stateless, jsonResponse: command.jsonResponse });
    return { description: `listening on ${http.url}${command.stateless ? ' (stateless)' : ''}`, close: () => http.close() };
  }
  const server = createDemoExchangeServer(exchange);
  await server.connect(new StdioServerTransport());
  return { description: 'serving MCP over stdio', close: () => server.close() };
}
