import { createPrivateKey, createPublicKey, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { canonicalJson, sha256Hex } from '@tollgate/policy';
import { LedgerError, describeError } from '../ledger-error.js';
import { writeFileAtomically } from '../file/atomic-file-writer.js';

/** The `format` of a signed checkpoint. */
export const CHECKPOINT_FORMAT = 'tollgate.ledger.checkpoint/1';

/** The head of one strand when a checkpoint was taken. */
export interface StrandHead {
  strand_id: string;
  /** The strand's last sequence number. */
  seq: number;
  /** The hash of that event. */
  hash: string;
}

/** What a checkpoint signs. */
export interface CheckpointBody {
  format: typeof CHECKPOINT_FORMAT;
  checkpoint_id: string;
  /**
   * ISO 8601 UTC: when the checkpoint was taken, read just before the heads. It closes the
   * period the checkpoint bounds: an event dated at or before it (less the grace for events
   * in flight, see `verifyLedger`) must be one it covers.
   */
  created_at: string;
  /** Hex SHA-256 of the signer's public key (DER SPKI). */
  key_id: string;
  /** The signer's Ed25519 public key, PEM SPKI. */
  public_key: string;
  /** Every strand's head, ordered by strand id. */
  heads: StrandHead[];
}

/**
 * A signed checkpoint: the heads of every strand at one moment, signed with Ed25519 over the
 * RFC 8785 canonical JSON of the {@link CheckpointBody}. Kept in `ledger_checkpoints` and, to
 * be useful against someone who controls the database, in a file stored elsewhere (e.g.
 * committed to the policy repository). Each head must stay a prefix of its strand.
 */
export interface SignedCheckpoint extends CheckpointBody {
  /** Base64 Ed25519 signature over `canonicalJson(body)`. */
  signature: string;
}

/** An Ed25519 signing key read from a PEM file. */
export interface SigningKey {
  privateKey: KeyObject;
  publicKeyPem: string;
  keyId: string;
}

/** Hex SHA-256 of a public key's DER SPKI encoding: the key id used across Tollgate. */
export function keyIdOf(publicKey: KeyObject): string {
  return sha256Hex(publicKey.export({ type: 'spki', format: 'der' }));
}

/**
 * Reads an Ed25519 private key (PEM PKCS#8, as `tollgate keys generate` writes `<prefix>.key`).
 * @throws LedgerError `ledger.invalid_key` naming the file and what is wrong with it.
 */
export function readSigningKey(path: string): SigningKey {
  const file = resolve(path);
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    throw new LedgerError('ledger.invalid_key', `cannot read the signing key ${file}: ${describeError(error)}`, { cause: error });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    throw new LedgerError(
      'ledger.invalid_key',
      `${file} is not a PEM private key (${describeError(error)}); create one with \`tollgate keys generate --out <prefix>\``,
      { cause: error },
    );
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new LedgerError('ledger.invalid_key', `${file} holds a ${privateKey.asymmetricKeyType ?? 'unknown'} key; checkpoints are signed with Ed25519`);
  }
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/**
 * Reads an Ed25519 public key (PEM SPKI, `<prefix>.pub`) to trust when verifying.
 * @throws LedgerError `ledger.invalid_key` naming the file.
 */
export function readTrustedKey(path: string): { keyId: string; publicKeyPem: string } {
  const file = resolve(path);
  try {
    const key = createPublicKey(readFileSync(file, 'utf8'));
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`it holds a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
    return { keyId: keyIdOf(key), publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString() };
  } catch (error) {
    throw new LedgerError('ledger.invalid_key', `${file} is not an Ed25519 public key: ${describeError(error)}`, { cause: error });
  }
}

/** Signs the heads of every strand with `key`. */
export function signCheckpoint(heads: readonly StrandHead[], key: SigningKey, createdAt: Date): SignedCheckpoint {
  const body: CheckpointBody = {
    format: CHECKPOINT_FORMAT,
    checkpoint_id: randomUUID(),
    created_at: createdAt.toISOString(),
    key_id: key.keyId,
    public_key: key.publicKeyPem,
    heads: [...heads].sort((a, b) => (a.strand_id < b.strand_id ? -1 : a.strand_id > b.strand_id ? 1 : 0)),
  };
  const signature = sign(null, Buffer.from(canonicalJson(body)), key.privateKey).toString('base64');
  return { ...body, signature };
}

/** The body a checkpoint's signature covers. */
export function checkpointBody(checkpoint: SignedCheckpoint): CheckpointBody {
  const { signature: _signature, ...body } = checkpoint;
  return body;
}

/**
 * Checks a checkpoint's signature against the public key it carries, and that the key id is
 * that key's. Returns what is wrong, or undefined when it is sound. (Whether the key is
 * trusted is a separate question: see `trustedKeyFiles` of `verifyLedger`.)
 */
export function checkSignature(checkpoint: SignedCheckpoint): string | undefined {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(checkpoint.public_key);
  } catch (error) {
    return `its public key is not a PEM public key (${describeError(error)})`;
  }
  if (publicKey.asymmetricKeyType !== 'ed25519') return `its public key is ${publicKey.asymmetricKeyType ?? 'unknown'}, not Ed25519`;
  if (keyIdOf(publicKey) !== checkpoint.key_id) return `its key_id ${checkpoint.key_id} is not the SHA-256 of its public key`;
  let ok: boolean;
  try {
    ok = verify(null, Buffer.from(canonicalJson(checkpointBody(checkpoint))), publicKey, Buffer.from(checkpoint.signature, 'base64'));
  } catch (error) {
    return `its signature cannot be checked (${describeError(error)})`;
  }
  return ok ? undefined : 'its signature does not match its content (the checkpoint was altered or signed by another key)';
}

/**
 * Parses a checkpoint (from a file or the database), checking its shape.
 * @throws LedgerError `ledger.invalid_checkpoint` naming `where` and the field that is wrong.
 */
export function parseCheckpoint(value: unknown, where: string): SignedCheckpoint {
  const fail = (what: string): never => {
    throw new LedgerError('ledger.invalid_checkpoint', `${where}: ${what}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('expected a JSON object (a signed ledger checkpoint)');
  const v = value as Record<string, unknown>;
  if (v.format !== CHECKPOINT_FORMAT) fail(`"format" must be "${CHECKPOINT_FORMAT}" (got ${JSON.stringify(v.format)})`);
  for (const key of ['checkpoint_id', 'created_at', 'key_id', 'public_key', 'signature'] as const) {
    if (typeof v[key] !== 'string' || v[key] === '') fail(`"${key}" must be a non-empty string`);
  }
  if (!Array.isArray(v.heads)) return fail('"heads" must be a list of {strand_id, seq, hash}');
  const heads = v.heads.map((head: unknown, i: number): StrandHead => {
    const h = head as Record<string, unknown> | null;
    if (
      h === null ||
      typeof h !== 'object' ||
      typeof h.strand_id !== 'string' ||
      typeof h.seq !== 'number' ||
      !Number.isInteger(h.seq) ||
      h.seq < 1 ||
      typeof h.hash !== 'string' ||
      !/^[0-9a-f]{64}$/.test(h.hash)
    ) {
      return fail(`"heads[${i}]" must be {strand_id: string, seq: integer >= 1, hash: 64 hex characters}`);
    }
    return { strand_id: h.strand_id, seq: h.seq, hash: h.hash };
  });
  return {
    format: CHECKPOINT_FORMAT,
    checkpoint_id: v.checkpoint_id as string,
    created_at: v.created_at as string,
    key_id: v.key_id as string,
    public_key: v.public_key as string,
    heads,
    signature: v.signature as string,
  };
}

/**
 * Reads a checkpoint file written by `tollgate ledger checkpoint --out`.
 * @throws LedgerError `ledger.invalid_checkpoint` naming the file.
 */
export function readCheckpointFile(path: string): SignedCheckpoint {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new LedgerError('ledger.invalid_checkpoint', `cannot read the checkpoint file ${file}: ${describeError(error)}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LedgerError('ledger.invalid_checkpoint', `${file} is not JSON: ${describeError(error)}`, { cause: error });
  }
  return parseCheckpoint(value, file);
}

/** Writes a checkpoint file atomically (see {@link writeFileAtomically}), creating its directory; resolves with its absolute path. */
export async function writeCheckpointFile(path: string, checkpoint: SignedCheckpoint): Promise<string> {
  const file = resolve(path);
  try {
    await writeFileAtomically(file, `${JSON.stringify(checkpoint, null, 2)}\n`, { mode: 0o644 });
  } catch (error) {
    throw new LedgerError('ledger.invalid_checkpoint', `cannot write the checkpoint file ${file}: ${describeError(error)}`, { cause: error });
  }
  return file;
}
