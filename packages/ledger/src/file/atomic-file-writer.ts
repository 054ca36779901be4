import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { basename, dirname, join } from 'node:path';

/** Options of {@link writeFileAtomically}. */
export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644, less the umask); set on creation, so it is never readable wider. */
  readonly mode?: number;
  /** Replace an existing file (default true); when false an existing file fails with EEXIST. */
  readonly overwrite?: boolean;
}

/**
 * What {@link writeFileAtomically} writes: text (UTF-8), bytes, or a function that writes to
 * the file's stream (for output too large to hold in memory) and resolves when it is done.
 */
export type AtomicFileContent = string | Uint8Array | ((output: Writable) => Promise<void>);

/**
 * Writes `target` whole or not at all, and durably: to a temporary file beside it (created
 * with its final mode, so it is never readable wider), fsynced, then renamed over the target
 * — or, when it must not replace an existing file, hard-linked into place, which fails with
 * EEXIST instead of racing a check — and the directory fsynced, so the new name survives a
 * crash. Missing parent directories are created. On any failure the temporary file is
 * removed and the target is as it was. Errors are the file system's (with `code`), or what
 * a content function threw.
 *
 * @example
 * await writeFileAtomically('/srv/state/policy-state.json', text, { mode: 0o600 });
 * await writeFileAtomically('events.csv', (output) => exportLedger(connection, { format: 'csv', output }));
 */
export async function writeFileAtomically(target: string, content: AtomicFileContent, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  await mkdir(dir, { recursive: true });
  try {
    const mode = options.mode ?? 0o644;
    if (typeof content === 'function') {
      const output = createWriteStream(temp, { flags: 'wx', mode });
      try {
        await content(output);
        output.end();
        await finished(output);
      } catch (error) {
        // Stop queued writes and let the stream close its descriptor before the file is removed.
        output.destroy();
        await finished(output).catch(() => undefined);
        throw error;
      }
      await syncFile(temp);
    } else {
      const handle = await open(temp, 'wx', mode);
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    if (options.overwrite === false) await link(temp, target);
    else await rename(temp, target);
  } finally {
    // After a rename there is nothing left to remove; after a link or a failure the temporary name goes.
    await rm(temp, { force: true }).catch(() => undefined);
  }
  await syncDirectory(dir);
}

/** Fsyncs a written file (a stream closes its own descriptor, so the file is opened again). */
async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Fsyncs a directory so a rename in it is durable; skipped where the platform or file system cannot. */
async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Windows cannot open a directory; some file systems refuse to fsync one.
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EACCES') throw error;
  } finally {
    await handle?.close();
  }
}
