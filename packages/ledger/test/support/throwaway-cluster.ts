import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = process.env.TOLLGATE_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** A PostgreSQL cluster of its own, for tests that stop the server; never the shared one. */
export interface ThrowawayCluster {
  port: number;
  url: string;
  /** Starts (or restarts) the server and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server at once, as a crash would (`pg_ctl stop -m immediate`). */
  stop(): Promise<void>;
  /** Stops it if running and removes its files. */
  destroy(): Promise<void>;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

/**
 * Creates a cluster in a temporary directory with `initdb` (as the `postgres` user when running
 * as root, since initdb refuses root) listening on a free port of 127.0.0.1.
 */
export async function createThrowawayCluster(): Promise<ThrowawayCluster> {
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pg-'));
  const data = join(dir, 'data');
  const asOwner = (command: string, args: string[]) =>
    root ? run('runuser', ['-u', 'postgres', '--', join(BIN, command), ...args]) : run(join(BIN, command), args);
  if (root) {
    const { uid, gid } = await postgresIds();
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  let running = false;
  const cluster: ThrowawayCluster = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await asOwner('pg_ctl', [
        '-w',
        '-D',
        data,
        '-l',
        join(dir, 'server.log'),
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c max_connections=20`,
        'start',
      ]);
      running = true;
    },
    async stop() {
      await asOwner('pg_ctl', ['-w', '-D', data, '-m', 'immediate', 'stop']);
      running = false;
    },
    async destroy() {
      try {
        if (running) await cluster.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    await asOwner('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
    await cluster.start();
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}
