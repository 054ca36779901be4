import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectLedger, migrateLedger, verifyLedger } from '../src/index.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/shared-ledger-appender.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('./fixtures/tsconfig.json', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

interface Appender {
  readonly child: ChildProcess;
  readonly strand: Promise<string>;
  /** OK lines so far: seq -> event id. */
  committed(): Map<number, string>;
  failures(): number;
  go(): void;
  /** Asks it to stop and waits for it to close cleanly. */
  stop(): Promise<void>;
  readonly exited: Promise<number | null>;
}

function startAppender(dataDir: string, dir: string, name: string): Appender {
  const reportFile = join(dir, `${name}.report`);
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, dataDir, reportFile], {
    cwd: REPO,
    env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin!.on('error', () => {});
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const strand = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [kind, a] = line.split(' ');
      if (kind === 'READY') resolve(a!);
      if (kind === 'DONE') done();
    });
    void exited.then((code) => reject(new Error(`${name} exited (${code}) before it was ready: ${stderr}`)));
  });
  const lines = (): string[] => {
    try {
      return readFileSync(reportFile, 'utf8').split('\n');
    } catch {
      return [];
    }
  };
  return {
    child,
    strand,
    committed: () => new Map(lines().filter((l) => l.startsWith('OK ')).map((l) => [Number(l.split(' ')[1]), l.split(' ')[2]!])),
    failures: () => lines().filter((l) => l.startsWith('FAIL ')).length,
    go: () => child.stdin!.write('go\n'),
    stop: async () => {
      child.stdin!.write('stop\n');
      await Promise.race([finished, exited.then((code) => Promise.reject(new Error(`${name} exited (${code}) without stopping: ${stderr}`)))]);
      await exited;
    },
    exited,
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const serverPid = (dataDir: string): number | undefined => {
  try {
    return (JSON.parse(readFileSync(join(dataDir, 'tollgate-server.json'), 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
};

describe('an embedded ledger shared by several processes', () => {
  let dir: string;
  let dataDir: string;
  const running: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-shared-'));
    dataDir = join(dir, '.tollgate', 'ledger');
    const connection = await connectLedger({ dataDir });
    try {
      await migrateLedger(connection);
    } finally {
      await connection.close();
    }
  }, 120_000);

  afterAll(() => {
    for (const child of running) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('two processes record at once; when the serving one is killed the other takes over, and no committed event is lost', { timeout: 120_000 }, async () => {
    const a = startAppender(dataDir, dir, 'a');
    running.push(a.child);
    await a.strand;
    expect(serverPid(dataDir)).toBe(a.child.pid);
    const b = startAppender(dataDir, dir, 'b');
    running.push(b.child);
    await b.strand;
    // The second is a client of the first: it did not open the directory itself.
    expect(serverPid(dataDir)).toBe(a.child.pid);
    a.go();
    b.go();
    await until('both have committed events', () => a.committed().size >= 20 && b.committed().size >= 20);

    a.child.kill('SIGKILL');
    await a.exited;
    const before = b.committed().size;
    // The lock and the server file of the killed process are stale; b notices and serves the directory.
    await until('b serves the ledger', () => serverPid(dataDir) === b.child.pid);
    await until('b commits again', () => b.committed().size >= before + 50);
    await b.stop();

    const connection = await connectLedger({ dataDir, create: false });
    try {
      const report = await verifyLedger(connection);
      expect(report.ok, JSON.stringify(report.problems)).toBe(true);
      const strands = [await a.strand, await b.strand];
      expect(report.strands.map((s) => s.strand_id).sort()).toEqual([...strands].sort());
      for (const [strand, appender] of [
        [strands[0]!, a],
        [strands[1]!, b],
      ] as const) {
        const stored = await connection.db.selectFrom('ledger_events').select(['seq', 'event_id']).where('strand_id', '=', strand).orderBy('seq').execute();
        const ids = new Map(stored.map((r) => [r.seq, r.event_id]));
        // Every append() that resolved is in the ledger, under the same id and place.
        for (const [seq, id] of appender.committed()) expect(ids.get(seq), `strand ${strand} seq ${seq}`).toBe(id);
        expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
      }
    } finally {
      await connection.close();
    }
    // Closed cleanly by the last one: no lock, no server file, no socket left.
    expect(existsSync(`${dataDir}.lock`)).toBe(false);
    expect(existsSync(join(dataDir, 'tollgate-server.json'))).toBe(false);
    expect(existsSync(join(dataDir, '.s.PGSQL.5432'))).toBe(false);
  });

  it('opens a directory whose lock names a process that is gone, or this pid from an earlier life', async () => {
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    for (const pid of [gone, String(process.pid)]) {
      writeFileSync(`${dataDir}.lock`, `${pid}\n`);
      writeFileSync(join(dataDir, 'tollgate-server.json'), JSON.stringify({ format: 1, pid: Number(pid), started_at: null, socket_dir: dataDir, token: 'old' }), { mode: 0o600 });
      const connection = await connectLedger({ dataDir, create: false });
      try {
        expect(serverPid(dataDir)).toBe(process.pid);
        expect((await connection.execute<{ n: number }>('SELECT count(*)::int AS n FROM ledger_events')).rows[0]!.n).toBeGreaterThan(0);
      } finally {
        await connection.close();
      }
    }
  });

  it("refuses a server whose server file or socket directory is open to other users", { timeout: 60_000 }, async () => {
    const a = startAppender(dataDir, dir, 'perm');
    running.push(a.child);
    await a.strand;
    const file = join(dataDir, 'tollgate-server.json');
    try {
      chmodSync(file, 0o644);
      await expect(connectLedger({ dataDir, create: false })).rejects.toMatchObject({ code: 'ledger.untrusted' });
      chmodSync(file, 0o600);
      chmodSync(dataDir, 0o755);
      await expect(connectLedger({ dataDir, create: false })).rejects.toMatchObject({ code: 'ledger.untrusted', message: expect.stringContaining('mode 0755') });
      chmodSync(dataDir, 0o700);
      const connection = await connectLedger({ dataDir, create: false });
      await connection.close();
    } finally {
      chmodSync(dataDir, 0o700);
      await a.stop();
    }
  });

  it('a read-only opening of a directory without a ledger fails and creates nothing', async () => {
    const missing = join(dir, 'elsewhere', '.tollgate', 'ledger');
    await expect(connectLedger({ dataDir: missing, create: false })).rejects.toMatchObject({ code: 'ledger.not_found' });
    expect(existsSync(join(dir, 'elsewhere'))).toBe(false);
  });
});
