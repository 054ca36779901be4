import { spawn, type ChildProcess } from 'node:child_process';
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
  report: WriterReport;
  /** Resolves once the writer has connected and is waiting for {@link go}. */
  ready: Promise<void>;
  /** Lets the writer start appending. */
  go(): void;
  /** Resolves once the writer has had `n` appends resolve. */
  committedAtLeast(n: number): Promise<void>;
  /** Resolves when the process has exited. */
  exited: Promise<WriterReport>;
}

/**
 * Starts `test/fixtures/append-under-load.ts` under tsx (workspace packages mapped to their
 * sources, so no build is needed) appending `count` events, or forever, once told to {@link WriterProcess.go}.
 */
export function startWriterProcess(databaseUrlOrDataDir: string, count: number | 'forever', concurrency = 64): WriterProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, databaseUrlOrDataDir, String(count), String(concurrency)], {
    cwd: REPO,
    env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const report: WriterReport = { strandId: undefined, batches: [], committed: new Map(), done: false, exitCode: null, signal: null, stderr: '' };
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdin!.on('error', () => {}); // the child may be killed before it reads
  child.stderr!.on('data', (chunk: Buffer) => {
    report.stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    const [kind, a, b] = line.split(' ');
    if (kind === 'READY') {
      report.strandId = a;
      markReady();
    }
    else if (kind === 'BATCH') report.batches.push([Number(a), Number(b)]);
    else if (kind === 'OK') report.committed.set(Number(a), b!);
    else if (kind === 'DONE') report.done = true;
    for (const w of waiters.splice(0)) {
      if (report.committed.size >= w.n) w.resolve();
      else waiters.push(w);
    }
  });
  const exited = new Promise<WriterReport>((resolve) => {
    // 'close' comes after stdout has been read to the end.
    child.on('close', (code, signal) => {
      report.exitCode = code;
      report.signal = signal;
      resolve(report);
    });
  });
  return {
    child,
    report,
    exited,
    ready: Promise.race([ready, exited.then((r) => Promise.reject(new Error(`writer process exited (${r.exitCode ?? r.signal}): ${r.stderr}`)))]),
    go: () => child.stdin!.end('go\n'),
    committedAtLeast: (n) =>
      new Promise<void>((resolve, reject) => {
        if (report.committed.size >= n) return resolve();
        waiters.push({ n, resolve });
        void exited.then((r) => reject(new Error(`writer process exited (${r.exitCode ?? r.signal}) before ${n} appends: ${r.stderr}`)));
      }),
  };
}
