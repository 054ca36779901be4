import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgliteWireServer } from '../src/database/pglite-wire-server.js';

const TOKEN = 'test-token-of-the-server';

describe('the embedded ledger server (PGlite over the PostgreSQL protocol)', () => {
  let dir: string;
  let pglite: PGlite;
  let server: PgliteWireServer;
  const clients: pg.Client[] = [];

  const connect = async (password = TOKEN): Promise<pg.Client> => {
    const client = new pg.Client({ host: dir, port: 5432, user: 'tollgate', database: 'ledger', password, connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    clients.push(client);
    await client.connect();
    return client;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-wire-'));
    pglite = await PGlite.create();
    await pglite.exec('CREATE TABLE t (k int PRIMARY KEY, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 50) i; CREATE TABLE w (x int)');
    server = new PgliteWireServer(pglite, { socketPath: join(dir, '.s.PGSQL.5432'), token: TOKEN, idleInTransactionMs: 400 });
    await server.start();
  });

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await server?.close();
    await pglite?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers many connections at once, each with its own results', async () => {
    const conns = await Promise.all([1, 2, 3, 4].map(() => connect()));
    const wrong: string[] = [];
    await Promise.all(
      conns.map(async (c, i) => {
        for (let n = 0; n < 60; n++) {
          const k = ((i * 13 + n) % 50) + 1;
          const { rows } = await c.query<{ k: number; v: string }>('SELECT k, v FROM t WHERE k = $1 AND v = md5($2::text)', [k, String(k)]);
          if (rows.length !== 1 || rows[0]!.k !== k) wrong.push(`${i}:${k}`);
        }
      }),
    );
    expect(wrong).toEqual([]);
  });

  it("runs an open transaction's connection alone until it commits, and rolls back one left by a closed connection", async () => {
    const a = await connect();
    const b = await connect();
    await a.query('BEGIN');
    await a.query('INSERT INTO w VALUES (1)');
    const order: string[] = [];
    const read = b.query<{ n: number }>('SELECT count(*)::int AS n FROM w').then((r) => {
      order.push(`b saw ${r.rows[0]!.n}`);
    });
    await new Promise((r) => setTimeout(r, 100));
    order.push('a commits');
    await a.query('COMMIT');
    await read;
    expect(order).toEqual(['a commits', 'b saw 1']);

    const c = await connect();
    await c.query('BEGIN');
    await c.query('INSERT INTO w VALUES (2)');
    await c.end();
    const { rows } = await b.query<{ x: number }>('SELECT x FROM w ORDER BY x');
    expect(rows.map((r) => r.x)).toEqual([1]);
  });

  it('ends a transaction left idle past the limit, so the others are not held up', async () => {
    const idle = await connect();
    const other = await connect();
    const ended = new Promise<void>((resolve) => idle.once('end', () => resolve()));
    await idle.query('BEGIN');
    await idle.query('INSERT INTO w VALUES (3)');
    const started = Date.now();
    const { rows } = await other.query<{ x: number }>('SELECT x FROM w ORDER BY x');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(rows.map((r) => r.x)).toEqual([1]);
    await ended;
  });

  it('delivers a notification to the connections that LISTEN, not to the one whose statement raised it', async () => {
    const listener = await connect();
    const notifier = await connect();
    const heard: string[] = [];
    const stray: string[] = [];
    listener.on('notification', (m) => heard.push(`${m.channel}:${m.payload}`));
    notifier.on('notification', (m) => stray.push(`${m.channel}:${m.payload}`));
    await listener.query('LISTEN approvals');
    await notifier.query("SELECT pg_notify('approvals', 'one')");
    await notifier.query('BEGIN');
    await notifier.query("NOTIFY approvals, 'two'");
    await notifier.query('COMMIT');
    await notifier.query("NOTIFY elsewhere, 'three'");
    await listener.query('SELECT 1');
    await new Promise((r) => setTimeout(r, 50));
    expect(heard).toEqual(['approvals:one', 'approvals:two']);
    expect(stray).toEqual([]);
    await listener.query('UNLISTEN approvals');
    await notifier.query("NOTIFY approvals, 'four'");
    await new Promise((r) => setTimeout(r, 50));
    expect(heard).toEqual(['approvals:one', 'approvals:two']);
  });

  it('keeps advisory locks per connection, in order, released when a holder disconnects', async () => {
    const a = await connect();
    const b = await connect();
    const c = await connect();
    const order: string[] = [];
    await a.query('SELECT pg_advisory_lock(42)');
    const bGets = b.query('SELECT pg_advisory_lock(42)').then(() => order.push('b'));
    const cGets = c.query('SELECT pg_advisory_lock(42)').then(() => order.push('c'));
    // Waiting for the lock does not hold the database: a's statements still run.
    await a.query('SELECT count(*) FROM t');
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual([]);
    const unlocked = await a.query<{ pg_advisory_unlock: boolean }>('SELECT pg_advisory_unlock(42)');
    expect(unlocked.rows[0]!.pg_advisory_unlock).toBe(true);
    await bGets;
    expect(order).toEqual(['b']);
    await b.end();
    await cGets;
    expect(order).toEqual(['b', 'c']);
    expect((await a.query<{ pg_advisory_unlock: boolean }>('SELECT pg_advisory_unlock(42)')).rows[0]!.pg_advisory_unlock).toBe(false);
  });

  it('refuses a connection without the token, and COPY FROM STDIN, and still serves the others', async () => {
    await expect(connect('guessed')).rejects.toThrow(/password authentication failed/);
    const c = await connect();
    await expect(c.query('COPY w FROM STDIN')).rejects.toThrow(/COPY FROM STDIN is not served/);
    // A connection that breaks the protocol is closed; the server and PGlite go on.
    const raw = createConnection(join(dir, '.s.PGSQL.5432'));
    raw.on('error', () => {});
    const answer: Buffer[] = [];
    raw.on('data', (d: Buffer) => answer.push(d));
    const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
    raw.write(Buffer.from([0, 0, 0, 8, 0x7f, 0xff, 0xff, 0xff]));
    await closed;
    expect(Buffer.concat(answer).toString('latin1')).toContain('protocol violation: unsupported protocol');
    expect((await c.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows[0]!.n).toBe(50);
  });
});
