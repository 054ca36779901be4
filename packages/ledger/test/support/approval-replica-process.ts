import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../fixtures/approval-replica.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../fixtures/tsconfig.json', import.meta.url));
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** A running `approval-replica` child process: another replica's approval store. */
export interface ApprovalReplica {
  readonly child: ChildProcess;
  /** Resolves once it has connected. */
  readonly ready: Promise<void>;
  /** Sends one command and resolves with its answer (rejects with the replica's error). */
  send<T = Record<string, unknown>>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** Approval ids the replica was notified of, in order, with when the parent read each (performance.now()). */
  readonly notified: Array<{ id: string; at: number }>;
  /** Closes its store and connection and waits for it to exit. */
  close(): Promise<void>;
}

/**
 * Starts `test/fixtures/approval-replica.ts` under tsx (workspace packages mapped to their
 * sources, so no build is needed), connected to `databaseUrl`.
 */
export function startApprovalReplica(databaseUrl: string): ApprovalReplica {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, databaseUrl], {
    cwd: REPO,
    env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const notified: Array<{ id: string; at: number }> = [];
  let signalReady = (): void => {};
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const message = JSON.parse(line) as { ready?: number; notify?: string; reply?: number; error?: string };
    if (message.ready !== undefined) signalReady();
    else if (message.notify !== undefined) notified.push({ id: message.notify, at: performance.now() });
    else if (message.reply !== undefined) {
      const w = waiting.get(message.reply);
      waiting.delete(message.reply);
      if (message.error !== undefined) w?.reject(new Error(`replica: ${message.error}`));
      else w?.resolve(message);
    }
  });
  const died = exited.then((code) => {
    const error = new Error(`approval replica exited (${code}): ${stderr}`);
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
    throw error;
  });
  died.catch(() => {});
  let next = 0;
  return {
    child,
    ready: Promise.race([ready, died]),
    notified,
    send<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
      const reply = ++next;
      const answer = new Promise<T>((resolve, reject) => waiting.set(reply, { resolve: resolve as (v: unknown) => void, reject }));
      child.stdin!.write(`${JSON.stringify({ reply, op, ...args })}\n`);
      return answer;
    },
    async close() {
      if (child.exitCode === null) {
        await Promise.race([this.send('close').catch(() => undefined), exited]);
        await exited;
      }
    },
  };
}
