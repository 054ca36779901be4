import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built demo exchange (a CCXT-like MCP server), started by tests as a real process. */
export const DEMO_EXCHANGE = fileURLToPath(new URL('../../demo-exchange/dist/main.js', import.meta.url));

/** The command line that starts the demo exchange over stdio. */
export const DEMO_EXCHANGE_COMMAND = `"${process.execPath}" "${DEMO_EXCHANGE}"`;

/** The command line that starts @modelcontextprotocol/server-everything over stdio. */
export function everythingCommand(): string {
  const require = createRequire(fileURLToPath(new URL('../../../package.json', import.meta.url)));
  const manifestPath = require.resolve('@modelcontextprotocol/server-everything/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { bin?: string | Record<string, string> };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : Object.values(manifest.bin ?? {})[0];
  if (typeof bin !== 'string') throw new Error(`${manifestPath} declares no bin`);
  return `"${process.execPath}" "${resolve(dirname(manifestPath), bin)}" stdio`;
}

/** A demo exchange serving Streamable HTTP on a free loopback port. */
export interface HttpDemoExchange {
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts the demo exchange with `--http --port 0` and waits for the URL it prints. */
export function startHttpDemoExchange(): Promise<HttpDemoExchange> {
  const child: ChildProcess = spawn(process.execPath, [DEMO_EXCHANGE, '--http', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolvePromise, reject) => {
    let said = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo exchange did not start: ${said}`));
    }, 20_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      said += chunk.toString('utf8');
      const match = /listening on (http:\/\/\S+)/.exec(said);
      if (!match) return;
      clearTimeout(timer);
      resolvePromise({
        url: match[1]!,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exchange exited with ${code}: ${said}`));
    });
  });
}

/** A loopback URL where nothing listens: a port that was free a moment ago. */
export async function closedPortUrl(): Promise<string> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return `http://127.0.0.1:${port}/mcp`;
}
