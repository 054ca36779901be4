import { BundleError, bundleDigest, readPrivateKey, readPublicKey, signBundle } from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';
import { readBundleFile, writeBundleFile } from './bundle-file-store.js';
import { readSigningKeyFile } from './signing-key-files.js';

/** Where the signing key comes from: a `<prefix>.key` file, or PEM text (from an environment variable, say). */
export type SigningKeySource = { readonly file: string } | { readonly pem: string; readonly source: string };

/** The environment variable `tollgate bundle sign` reads the key's PEM text from when given no --key. */
export const SIGNING_KEY_ENV = 'TOLLGATE_SIGNING_KEY';

/**
 * The key `tollgate bundle sign` uses: the `--key` file when given, else the PEM text in
 * {@link SIGNING_KEY_ENV}.
 *
 * @throws CliError exit 2 `usage` when there is neither.
 */
export function signingKeySource(keyFile: string | undefined, env: NodeJS.ProcessEnv = process.env): SigningKeySource {
  if (keyFile !== undefined) return { file: keyFile };
  const pem = env[SIGNING_KEY_ENV];
  if (pem === undefined || pem.trim() === '') {
    throw new CliError('usage', `give the signing key: --key <prefix>.key, or its PEM text in ${SIGNING_KEY_ENV}`, { exit: ExitCode.input });
  }
  return { pem, source: SIGNING_KEY_ENV };
}

function checkedKeyText(pem: string, source: string): string {
  try {
    readPrivateKey(pem);
  } catch (error) {
    throw new CliError('key.invalid', `${source}: ${(error as Error).message}`, { exit: ExitCode.input, cause: error });
  }
  return pem;
}

/** What `tollgate bundle sign` did. */
export interface BundleSignResult {
  readonly file: string;
  /** The key id of the key that signed. */
  readonly keyid: string;
  /** True when the key had signed before and its signature was replaced. */
  readonly replaced: boolean;
  readonly revision: number;
  readonly digest: string;
  /** Every signer's key id after signing, sorted. */
  readonly signatures: readonly string[];
}

/**
 * Signs a bundle file with an Ed25519 key and rewrites it atomically: the key's
 * signature is added, or replaces its earlier one; other signers' signatures stay.
 *
 * @throws CliError exit 2: `bundle.unreadable`, `bundle.malformed`, `bundle.hash_mismatch`
 *   (content changed after the build), `key.unreadable`, `key.invalid`, `bundle.unwritable`.
 */
export async function signBundleFile(file: string, key: SigningKeySource, cwd: string = process.cwd()): Promise<BundleSignResult> {
  const read = await readBundleFile(file, cwd);
  const pem = 'file' in key ? await readSigningKeyFile(key.file, cwd) : checkedKeyText(key.pem, key.source);
  const keyid = readPublicKey(readPrivateKey(pem)).keyid;
  let signed;
  try {
    signed = signBundle(read.bundle, pem);
  } catch (error) {
    if (error instanceof BundleError) {
      throw new CliError(error.code, `${read.file}: ${error.message}`, { exit: ExitCode.input, hint: 'Build the bundle again with `tollgate bundle build`, then sign it.', cause: error });
    }
    throw error;
  }
  const shown = await writeBundleFile(read.absolutePath, signed, cwd);
  return {
    file: shown,
    keyid,
    replaced: read.bundle.signatures.some((s) => s.keyid === keyid),
    revision: signed.manifest.revision,
    digest: bundleDigest(signed.manifest),
    signatures: signed.signatures.map((s) => s.keyid),
  };
}
