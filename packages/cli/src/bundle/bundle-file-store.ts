import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BundleError, parseBundle, serializeBundle, type PolicyBundle } from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';
import { displayPath } from '../policy-files.js';
import { writeFileAtomically } from '@tollgate/ledger/atomic-file-writer';

/** A bundle file's text, read from disk, and how it is shown to the user. */
export interface BundleFileText {
  readonly text: string;
  /** The path as shown in messages. */
  readonly file: string;
  readonly absolutePath: string;
}

/**
 * Reads a bundle file's text.
 *
 * @throws CliError exit 2 `bundle.unreadable` naming the file.
 */
export async function readBundleText(file: string, cwd: string = process.cwd()): Promise<BundleFileText> {
  const absolutePath = resolve(cwd, file);
  const shown = displayPath(absolutePath, cwd);
  try {
    return { text: await readFile(absolutePath, 'utf8'), file: shown, absolutePath };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError('bundle.unreadable', `${shown}: cannot read the bundle (${code === 'ENOENT' ? 'no such file' : (code ?? (error as Error).message)})`, {
      exit: ExitCode.input,
      hint: 'Build one with `tollgate bundle build --out <file>`.',
      cause: error,
    });
  }
}

/**
 * Reads and parses a bundle file (shape only; see `verifyBundle` for the rest).
 *
 * @throws CliError exit 2 `bundle.unreadable` or `bundle.malformed` naming the file and place.
 */
export async function readBundleFile(file: string, cwd: string = process.cwd()): Promise<BundleFileText & { bundle: PolicyBundle }> {
  const read = await readBundleText(file, cwd);
  try {
    return { ...read, bundle: parseBundle(read.text, read.file) };
  } catch (error) {
    if (error instanceof BundleError) throw new CliError(error.code, error.message, { exit: ExitCode.input, cause: error });
    throw error;
  }
}

/**
 * Writes a bundle file atomically (temporary file, then rename): a reader — a gateway
 * polling the repository — never sees half a bundle.
 *
 * @throws CliError exit 2 `bundle.unwritable` naming the file.
 */
export async function writeBundleFile(file: string, bundle: PolicyBundle, cwd: string = process.cwd()): Promise<string> {
  const absolutePath = resolve(cwd, file);
  const shown = displayPath(absolutePath, cwd);
  try {
    await writeFileAtomically(absolutePath, serializeBundle(bundle));
  } catch (error) {
    throw new CliError('bundle.unwritable', `${shown}: cannot write the bundle (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
      exit: ExitCode.input,
      hint: 'Check that --out names a file in a writable directory.',
      cause: error,
    });
  }
  return shown;
}
