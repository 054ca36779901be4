import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../fixtures/append-under-load.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../fixtures/tsconfig.json', import.meta.url));
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** What a writer process reported before it ended. */
export interface WriterReport {
  strandId: string | undefined;
  /** Batches announced before they were sent: [first seq, last seq]. */
  batches: Array<[number, number]>;
  /** Appends that resolved: seq -> event id. */
  committed: Map<number, string>;
  done: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** A running `append-under-load` child process (real Node process, real connection). */
export interface WriterProcess {
  child: ChildProcess;
  /** Resolves once the writer has connected and is waiting for {@link go}. */
  ready: Promise<void>;
  /** Lets the writer start appending. */
  go(): void;
  /** Resolves once the writer's first append() resolved. */
  firstCommit: Promise<void>;
  /** Resolves with the writer's report when the process has exited. */
  exited: Promise<WriterReport>;
}

/**
 * Starts `test/fixtures/append-under-load.ts` under tsx (workspace packages mapped to their
 * sources, so no build is needed) appending `count` events, or forever, once told to
 * {@link WriterProcess.go}. Its report is read from a file after it exits.
 */
export function startWriterProcess(databaseUrlOrDataDir: string, count: number | 'forever', concurrency = 64): WriterProcess {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-writer-'));
  const reportFile = join(dir, 'report.txt');
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, databaseUrlOrDataDir, String(count), String(concurrency), reportFile], {
    cwd: REPO,
    env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin!.on('error', () => {}); // the child may be killed before it reads
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let strandId: string | undefined;
  let done = false;
  const signals = { ready: () => {}, committed: () => {} };
  const ready = new Promise<void>((resolve) => (signals.ready = resolve));
  const committed = new Promise<void>((resolve) => (signals.committed = resolve));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [kind, a] = line.split(' ');
    if (kind === 'READY') {
      strandId = a;
      signals.ready();
    } else if (kind === 'COMMITTED') {
      signals.committed();
    } else if (kind === 'DONE') {
      done = true;
    }
  });
  const exited = new Promise<WriterReport>((resolve) => {
    // 'close' comes after stdout has been read to the end.
    child.on('close', (exitCode, signal) => {
      const report: WriterReport = { strandId, batches: [], committed: new Map(), done, exitCode, signal, stderr };
      let text = '';
      try {
        text = readFileSync(reportFile, 'utf8');
      } catch {
        // No report: the process died before it appended anything.
      }
      rmSync(dir, { recursive: true, force: true });
      for (const line of text.split('\n')) {
        const [kind, x, y] = line.split(' ');
        if (kind === 'BATCH') report.batches.push([Number(x), Number(y)]);
        else if (kind === 'OK') report.committed.set(Number(x), y!);
      }
      resolve(report);
    });
  });
  const failed = (what: string) => exited.then((r) => Promise.reject(new Error(`writer process exited (${r.exitCode ?? r.signal}) ${what}: ${r.stderr}`)));
  return {
    child,
    ready: Promise.race([ready, failed('before it was ready')]),
    go: () => child.stdin!.end('go\n'),
    firstCommit: Promise.race([committed, failed('before its first append resolved')]),
    exited,
  };
}
