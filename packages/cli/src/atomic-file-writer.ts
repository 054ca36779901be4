import { randomBytes } from 'node:crypto';
import { link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Options of {@link writeFileAtomically}. */
export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644); set on creation, so it is never readable wider. */
  readonly mode?: number;
  /** Replace an existing file (default true); when false an existing file fails with EEXIST. */
  readonly overwrite?: boolean;
}

/**
 * Writes `text` to `target` whole or not at all: to a temporary file beside it (created with
 * its final mode), then renamed over it — or, when it must not replace an existing file,
 * hard-linked into place, which fails with EEXIST instead of racing a check. Missing parent
 * directories are created. Errors are the file system's (with `code`).
 */
export async function writeFileAtomically(target: string, text: string, options: AtomicWriteOptions = {}): Promise<void> {
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(temp, text, { mode: options.mode ?? 0o644, flag: 'wx' });
    if (options.overwrite === false) await link(temp, target);
    else await rename(temp, target);
  } finally {
    await rm(temp, { force: true }).catch(() => undefined);
  }
}
