import { BundleError, bundleDigest, readPrivateKey, readPublicKey, signBundle } from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';
import { readBundleFile, writeBundleFile } from './bundle-file-store.js';
import { readSigningKeyFile } from './signing-key-files.js';

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
 * Signs a bundle file with an Ed25519 key file and rewrites it atomically: the key's
 * signature is added, or replaces its earlier one; other signers' signatures stay.
 *
 * @throws CliError exit 2: `bundle.unreadable`, `bundle.malformed`, `bundle.hash_mismatch`
 *   (content changed after the build), `key.unreadable`, `key.invalid`, `bundle.unwritable`.
 */
export async function signBundleFile(file: string, keyFile: string, cwd: string = process.cwd()): Promise<BundleSignResult> {
  const read = await readBundleFile(file, cwd);
  const pem = await readSigningKeyFile(keyFile, cwd);
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
