import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { LedgerError, describeError } from '../ledger-error.js';

/** The process a lock file names. */
export interface LockHolder {
  readonly pid: number;
  /** When the process started (Linux: clock ticks after boot, from /proc), to tell a reused pid. */
  readonly startedAt?: string;
  /** The lock file's whole text: two lock files are the same lock only if their texts are equal. */
  readonly text: string;
}

/** What {@link EmbeddedLedgerLock.acquire} found. */
export type LockAttempt = { readonly acquired: true; readonly release: () => void } | { readonly acquired: false; readonly holder: LockHolder | undefined };

// Locks this process holds, by path: a lock file naming this pid that is not among them was
// left by an earlier process with the same pid (a restarted container) and is stale.
const HELD = new Set<string>();

/**
 * The lock file beside the embedded ledger's data directory (`<dataDir>.lock`): whoever holds it
 * opens the data directory with PGlite, which is a single-process database — two processes
 * opening it would corrupt it. Its first line is the holder's pid (what earlier versions
 * read), the second says when that process started and carries a random nonce.
 *
 * The file appears whole (written under a temporary name, then hard-linked into place, which
 * fails if it exists), so a reader never sees a half-written lock. A lock whose holder is dead
 * (killed with SIGKILL) is stale: it is replaced under a short-lived guard file, so that two
 * processes that find the same stale lock cannot both take it.
 */
export class EmbeddedLedgerLock {
  readonly path: string;
  readonly #guardPath: string;
  readonly #dataDir: string;

  constructor(dataDir: string) {
    this.#dataDir = dataDir;
    this.path = `${dataDir}.lock`;
    this.#guardPath = `${dataDir}.lock.takeover`;
  }

  /** The live process holding the lock, if any (a stale lock names none). */
  holder(): LockHolder | undefined {
    const holder = readHolder(this.path);
    return holder && isAlive(holder, this.path) ? holder : undefined;
  }

  /**
   * Takes the lock if it is free or stale.
   * @throws LedgerError `ledger.unavailable` when the lock file cannot be written.
   */
  acquire(): LockAttempt {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.#create()) return this.#held();
      const holder = readHolder(this.path);
      if (holder && isAlive(holder, this.path)) return { acquired: false, holder };
      if (holder === undefined && !this.#exists()) continue;
      if (!this.#takeOver(holder)) return { acquired: false, holder: undefined };
      return this.#held();
    }
    return { acquired: false, holder: undefined };
  }

  #held(): LockAttempt {
    HELD.add(this.path);
    let released = false;
    return {
      acquired: true,
      release: () => {
        if (released) return;
        released = true;
        HELD.delete(this.path);
        try {
          unlinkSync(this.path);
        } catch {
          // Already gone: nothing to release.
        }
      },
    };
  }

  /** Creates the lock file whole, or returns false if it exists. */
  #create(): boolean {
    const text = `${process.pid}\n${JSON.stringify({ pid: process.pid, started_at: startTimeOf(process.pid) ?? null, nonce: randomBytes(8).toString('hex') })}\n`;
    const temporary = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      const fd = openSync(temporary, 'wx', 0o600);
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      linkSync(temporary, this.path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new LedgerError('ledger.unavailable', `cannot lock the embedded ledger at ${this.#dataDir}: ${describeError(error)}`, { cause: error });
    } finally {
      try {
        unlinkSync(temporary);
      } catch {
        // Never created.
      }
    }
  }

  #exists(): boolean {
    try {
      readFileSync(this.path);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Replaces the stale lock `stale` under the guard: only the process holding the guard removes
   * a lock, and only after reading again that it is still the stale one.
   */
  #takeOver(stale: LockHolder | undefined): boolean {
    let guard: number;
    try {
      guard = openSync(this.#guardPath, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(this.#dataDir, error);
      // Another process is taking over right now, or died doing it (a guard is held for
      // microseconds): a guard whose process is gone is removed, and the next attempt retries.
      const guardHolder = readHolder(this.#guardPath);
      if (!guardHolder || !isAlive(guardHolder, this.#guardPath)) {
        try {
          unlinkSync(this.#guardPath);
        } catch {
          // Someone else removed it.
        }
      }
      return false;
    }
    try {
      writeSync(guard, `${process.pid}\n`);
      closeSync(guard);
      const current = readHolder(this.path);
      if (current?.text !== stale?.text) return false;
      try {
        unlinkSync(this.path);
      } catch {
        // Gone already.
      }
      return this.#create();
    } finally {
      try {
        unlinkSync(this.#guardPath);
      } catch {
        // Nothing to remove.
      }
    }
  }
}

function lockError(dataDir: string, error: unknown): LedgerError {
  return new LedgerError('ledger.unavailable', `cannot lock the embedded ledger at ${dataDir}: ${describeError(error)}`, { cause: error });
}

function readHolder(path: string): LockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const [first, second] = text.split('\n');
  const pid = Number.parseInt(first ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return { pid: 0, text };
  let startedAt: string | undefined;
  try {
    const parsed = JSON.parse(second ?? '') as { started_at?: unknown };
    if (typeof parsed.started_at === 'string') startedAt = parsed.started_at;
  } catch {
    // A lock of an earlier version: its pid alone.
  }
  return startedAt === undefined ? { pid, text } : { pid, startedAt, text };
}

/** Whether the process a lock names still runs (and is the same process, not a reused pid). */
function isAlive(holder: LockHolder, path: string): boolean {
  if (holder.pid <= 0) return false;
  if (holder.pid === process.pid) return HELD.has(path);
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (holder.startedAt === undefined) return true;
  const now = startTimeOf(holder.pid);
  return now === undefined || now === holder.startedAt;
}

/** When process `pid` started, where the system says (Linux), else undefined. */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields are counted after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}
