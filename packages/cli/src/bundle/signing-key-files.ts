import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { generateSigningKey, readPrivateKey, readPublicKey, type TrustedKey } from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';
import { displayPath } from '../policy-files.js';
import { writeFileAtomically } from '@tollgate/ledger/atomic-file-writer';

/** What `tollgate keys generate` wrote. */
export interface GeneratedKeyFiles {
  /** `<prefix>.key`: the Ed25519 private key, PEM PKCS#8, mode 0600. */
  readonly private_key_file: string;
  /** `<prefix>.pub`: the public key, PEM SPKI. */
  readonly public_key_file: string;
  /** Hex SHA-256 of the public key's DER SPKI encoding. */
  readonly keyid: string;
}

/** A public key file read for `--trust`. */
export interface TrustedKeyFile extends TrustedKey {
  readonly file: string;
  readonly keyid: string;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function describe(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/**
 * Generates an Ed25519 key pair and writes `<prefix>.key` (mode 0600) and `<prefix>.pub`,
 * each atomically. An existing key is never replaced unless `force`.
 *
 * @throws CliError exit 2 `key.exists` or `key.unwritable` naming the file.
 */
export async function writeSigningKeyFiles(prefix: string, options: { force?: boolean; cwd?: string } = {}): Promise<GeneratedKeyFiles> {
  const cwd = options.cwd ?? process.cwd();
  const keyFile = resolve(cwd, `${prefix}.key`);
  const pubFile = resolve(cwd, `${prefix}.pub`);
  const shown = { key: displayPath(keyFile, cwd), pub: displayPath(pubFile, cwd) };
  if (!options.force) {
    for (const [file, name] of [[keyFile, shown.key], [pubFile, shown.pub]] as const) {
      if (await exists(file)) {
        throw new CliError('key.exists', `${name} already exists; refusing to overwrite a key`, {
          exit: ExitCode.input,
          hint: 'Choose another --out prefix, or pass --force to replace the key pair (bundles signed with the old key will no longer verify against the new one).',
        });
      }
    }
  }
  const key = generateSigningKey();
  const write = async (file: string, name: string, text: string, mode: number): Promise<void> => {
    try {
      await writeFileAtomically(file, text, { mode, overwrite: options.force === true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new CliError('key.exists', `${name} already exists; refusing to overwrite a key`, { exit: ExitCode.input, hint: 'Pass --force to replace it.', cause: error });
      throw new CliError('key.unwritable', `${name}: cannot write the key (${describe(error)})`, { exit: ExitCode.input, cause: error });
    }
  };
  await write(keyFile, shown.key, key.privateKeyPem, 0o600);
  await write(pubFile, shown.pub, key.publicKeyPem, 0o644);
  return { private_key_file: shown.key, public_key_file: shown.pub, keyid: key.keyid };
}

async function readKeyText(file: string, cwd: string, what: string): Promise<{ text: string; shown: string }> {
  const absolute = resolve(cwd, file);
  const shown = displayPath(absolute, cwd);
  try {
    return { text: await readFile(absolute, 'utf8'), shown };
  } catch (error) {
    throw new CliError('key.unreadable', `${shown}: cannot read the ${what} (${describe(error)})`, {
      exit: ExitCode.input,
      hint: 'Create a key pair with `tollgate keys generate --out <prefix>`.',
      cause: error,
    });
  }
}

/**
 * Reads an Ed25519 private key file (`<prefix>.key`).
 *
 * @throws CliError exit 2 `key.unreadable` or `key.invalid` naming the file.
 */
export async function readSigningKeyFile(file: string, cwd: string = process.cwd()): Promise<string> {
  const { text, shown } = await readKeyText(file, cwd, 'signing key');
  try {
    readPrivateKey(text);
  } catch (error) {
    throw new CliError('key.invalid', `${shown}: ${(error as Error).message}`, { exit: ExitCode.input, cause: error });
  }
  return text;
}

/**
 * Reads public key files (`<prefix>.pub`, PEM SPKI) to trust.
 *
 * @throws CliError exit 2 `key.unreadable` or `key.invalid` naming the file.
 */
export async function readTrustedKeyFiles(files: readonly string[], cwd: string = process.cwd()): Promise<TrustedKeyFile[]> {
  const keys: TrustedKeyFile[] = [];
  for (const file of files) {
    const { text, shown } = await readKeyText(file, cwd, 'public key');
    try {
      keys.push({ file: shown, keyid: readPublicKey(text).keyid, public_key: text });
    } catch (error) {
      throw new CliError('key.invalid', `${shown}: ${(error as Error).message}`, { exit: ExitCode.input, cause: error });
    }
  }
  return keys;
}
