import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { CliError, ExitCode } from '../cli-error.js';

/** One file to write: a `/`-separated path relative to the root, its text, and maybe its mode. */
export interface PlannedFile {
  readonly path: string;
  readonly text: string;
  /** File mode (default 0o644). */
  readonly mode?: number;
}

/** What happened to a planned file. */
export type WrittenStatus = 'created' | 'overwritten' | 'unchanged';

/** One written file. */
export interface WrittenFile {
  readonly path: string;
  readonly status: WrittenStatus;
}

/** Options of {@link writeFileSet}. */
export interface WriteFileSetOptions {
  /** Replace existing files whose content differs (default false: refuse, writing nothing). */
  readonly overwrite?: boolean;
  /** The flag that allows overwriting, named in the refusal (default `--force`). */
  readonly overwriteFlag?: string;
}

async function existing(absolute: string): Promise<string | undefined> {
  try {
    const info = await stat(absolute);
    if (!info.isFile()) return '\u0000not a file';
    return await readFile(absolute, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function unwritable(root: string, error: unknown): CliError {
  const code = (error as NodeJS.ErrnoException).code;
  return new CliError('output.unwritable', `${root}: cannot write the files (${code ?? (error as Error).message}); nothing was changed`, {
    exit: ExitCode.input,
    hint: 'Check that the directory is writable and on a disk with free space.',
    cause: error,
  });
}

/**
 * Writes a set of files under `root` all or nothing. Files whose content is already there
 * are left alone (`unchanged`); a file that exists with other content is a conflict, and
 * unless `overwrite` is set the whole set is refused before anything is written. The new
 * files are first written to a staging directory inside `root` (same file system), then
 * renamed into place one by one; if a rename fails, the files already moved are put back
 * (overwritten ones restored), so a reader never sees half a set.
 *
 * @throws CliError exit 2: `init.conflict` (listing every conflicting path), `output.unwritable`.
 * @example
 * await writeFileSet('/work/repo', [{ path: 'policies/x/policy.json', text }], { overwrite: false });
 */
export async function writeFileSet(root: string, files: readonly PlannedFile[], options: WriteFileSetOptions = {}): Promise<WrittenFile[]> {
  const statuses: WrittenFile[] = [];
  const pending: { file: PlannedFile; target: string; replaces: boolean }[] = [];
  const conflicts: string[] = [];
  for (const file of files) {
    const target = resolve(root, ...file.path.split('/'));
    if (!target.startsWith(resolve(root) + sep)) throw new CliError('internal', `${file.path}: not inside ${root}`);
    const current = await existing(target).catch((error: unknown) => {
      throw unwritable(root, error);
    });
    if (current === file.text) {
      statuses.push({ path: file.path, status: 'unchanged' });
      continue;
    }
    if (current !== undefined) conflicts.push(file.path);
    pending.push({ file, target, replaces: current !== undefined });
    statuses.push({ path: file.path, status: current === undefined ? 'created' : 'overwritten' });
  }
  if (conflicts.length > 0 && !options.overwrite) {
    throw new CliError('init.conflict', `${root}: ${conflicts.length === 1 ? 'a file' : `${conflicts.length} files`} already exist${conflicts.length === 1 ? 's' : ''} with other content: ${conflicts.join(', ')}; nothing was written`, {
      exit: ExitCode.input,
      hint: `Move ${conflicts.length === 1 ? 'it' : 'them'} away, or pass ${options.overwriteFlag ?? '--force'} to replace ${conflicts.length === 1 ? 'it' : 'them'}.`,
    });
  }
  if (pending.length === 0) return statuses;

  const staging = join(root, `.tollgate-staging-${randomBytes(6).toString('hex')}`);
  const moved: { target: string; backup: string | undefined }[] = [];
  try {
    await mkdir(staging, { recursive: true });
    for (const [i, p] of pending.entries()) {
      const staged = join(staging, String(i));
      await writeFile(staged, p.file.text, 'utf8');
      await chmod(staged, p.file.mode ?? 0o644);
    }
    for (const [i, p] of pending.entries()) {
      await mkdir(dirname(p.target), { recursive: true });
      let backup: string | undefined;
      if (p.replaces) {
        backup = join(staging, `${i}.previous`);
        await rename(p.target, backup);
      }
      moved.push({ target: p.target, backup });
      await rename(join(staging, String(i)), p.target);
    }
  } catch (error) {
    // Undo in reverse order: remove what was placed, put back what it replaced.
    for (const m of moved.reverse()) {
      await rm(m.target, { force: true }).catch(() => undefined);
      if (m.backup) await rename(m.backup, m.target).catch(() => undefined);
    }
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw unwritable(root, error);
  }
  await rm(staging, { recursive: true, force: true });
  return statuses;
}
