import { canonicalJson, sha256Hex } from '../canonical-json.js';
import { formatDiagnostic } from '../diagnostic.js';
import { classifyRepositoryPath, type RepositoryFileKind } from '../policy-repository-layout.js';
import { parseSourceDocument } from '../parse/source-document.js';
import { BundleError } from './bundle-error.js';

/** The `format` of a bundle and of its manifest. */
export const BUNDLE_FORMAT = 'tollgate.bundle/v1';

/** The only signature algorithm of `tollgate.bundle/v1`. */
export const BUNDLE_SIGNATURE_ALGORITHM = 'ed25519';

/** What a file of a bundle is: a server's policy, its `tools/list` snapshot, or a test file. */
export type BundleFileKind = RepositoryFileKind;

/** The manifest's record of one file: what it is, which server it belongs to, and its digest. */
export interface BundleFileEntry {
  readonly kind: BundleFileKind;
  /** The server the file belongs to: the name of its `policies/<server>/` directory. */
  readonly server: string;
  /** Hex SHA-256 of the file's RFC 8785 canonical JSON. */
  readonly sha256: string;
}

/**
 * What signers sign: the bundle's identity (revision, commit, validity) and, through each
 * file's SHA-256, its content.
 */
export interface BundleManifest {
  readonly format: typeof BUNDLE_FORMAT;
  /** Monotonic: a gateway never activates a lower revision than its active one. */
  readonly revision: number;
  /** The commit the files were read from (40 or 64 hex digits), or null outside Git. */
  readonly git_commit: string | null;
  /** Present (true) when the files differed from `git_commit` when the bundle was built. */
  readonly git_dirty?: boolean;
  /** ISO 8601 UTC. */
  readonly created_at: string;
  /** ISO 8601 UTC after which the bundle is refused, or null for never. */
  readonly expires_at: string | null;
  /** Every file of the bundle by its path in the repository (`policies/<server>/<name>`). */
  readonly files: Readonly<Record<string, BundleFileEntry>>;
}

/** One signer's Ed25519 signature over the canonical manifest. */
export interface BundleSignature {
  /** Hex SHA-256 of the signer's DER SPKI public key. */
  readonly keyid: string;
  readonly algorithm: typeof BUNDLE_SIGNATURE_ALGORITHM;
  /** The signer's public key, base64 DER SPKI. Informational: verification uses the trusted key. */
  readonly public_key: string;
  /** Base64 Ed25519 signature over the UTF-8 bytes of `canonicalJson(manifest)`. */
  readonly signature: string;
}

/**
 * A signed policy bundle (`tollgate.bundle/v1`): the manifest, the parsed content of every
 * file keyed by its path, and the signatures. Built by {@link buildBundle}, signed by
 * {@link signBundle}, checked by {@link verifyBundle}.
 */
export interface PolicyBundle {
  readonly format: typeof BUNDLE_FORMAT;
  readonly manifest: BundleManifest;
  /** Each file's parsed document (YAML files too, as their JSON value). */
  readonly files: Readonly<Record<string, unknown>>;
  readonly signatures: readonly BundleSignature[];
}

const HEX64 = /^[0-9a-f]{64}$/;
const COMMIT = /^([0-9a-f]{40}|[0-9a-f]{64})$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/**
 * What a path of a bundle holds, by the layout of a policy repository
 * ({@link classifyRepositoryPath}): `policies/<server>/policy.{json,yaml,yml}`,
 * `policies/<server>/catalog.json` and `policies/<server>/*.test.{json,yaml,yml}`.
 * Undefined for any other path.
 *
 * @example classifyBundlePath('policies/ccxt/orders.test.json') // { kind: 'test', server: 'ccxt' }
 */
export function classifyBundlePath(path: string): { kind: BundleFileKind; server: string } | undefined {
  return classifyRepositoryPath(path);
}

/** Hex SHA-256 of the manifest's canonical JSON: the bundle's identity, what signers sign. */
export function bundleDigest(manifest: BundleManifest): string {
  return sha256Hex(canonicalJson(manifest));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIsoTime(v: unknown): v is string {
  return typeof v === 'string' && ISO_UTC.test(v) && !Number.isNaN(Date.parse(v));
}

/**
 * Checks that a value has the shape of a `tollgate.bundle/v1` bundle and returns what is
 * wrong (the first problem, naming the field), or undefined when it is well-formed. Whether
 * its hashes and signatures hold is {@link verifyBundle}'s question.
 */
export function bundleShapeProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'a bundle must be a JSON object { "format", "manifest", "files", "signatures" }';
  for (const key of Object.keys(value)) {
    if (key !== 'format' && key !== 'manifest' && key !== 'files' && key !== 'signatures') return `unknown top-level key "${key}"`;
  }
  if (value.format !== BUNDLE_FORMAT) return `"format" must be "${BUNDLE_FORMAT}" (got ${JSON.stringify(value.format)})`;
  const m = value.manifest;
  if (!isObject(m)) return '"manifest" must be an object';
  const manifestKeys = new Set(['format', 'revision', 'git_commit', 'git_dirty', 'created_at', 'expires_at', 'files']);
  for (const key of Object.keys(m)) if (!manifestKeys.has(key)) return `manifest: unknown key "${key}"`;
  if (m.format !== BUNDLE_FORMAT) return `manifest.format must be "${BUNDLE_FORMAT}" (got ${JSON.stringify(m.format)})`;
  if (typeof m.revision !== 'number' || !Number.isSafeInteger(m.revision) || m.revision < 0) {
    return `manifest.revision must be a whole number >= 0 (got ${JSON.stringify(m.revision)})`;
  }
  if (m.git_commit !== null && !(typeof m.git_commit === 'string' && COMMIT.test(m.git_commit))) {
    return `manifest.git_commit must be a commit id (40 or 64 lowercase hex digits) or null (got ${JSON.stringify(m.git_commit)})`;
  }
  if (m.git_dirty !== undefined && typeof m.git_dirty !== 'boolean') return 'manifest.git_dirty must be true or false';
  if (!isIsoTime(m.created_at)) return `manifest.created_at must be an ISO 8601 UTC time like "2026-11-24T12:00:00.000Z" (got ${JSON.stringify(m.created_at)})`;
  if (m.expires_at !== null && !isIsoTime(m.expires_at)) {
    return `manifest.expires_at must be an ISO 8601 UTC time or null (got ${JSON.stringify(m.expires_at)})`;
  }
  if (!isObject(m.files)) return 'manifest.files must be an object of path -> { kind, server, sha256 }';
  const files = value.files;
  if (!isObject(files)) return '"files" must be an object of path -> document';
  for (const [path, entry] of Object.entries(m.files)) {
    const where = `manifest.files[${JSON.stringify(path)}]`;
    const expected = classifyBundlePath(path);
    if (!expected) return `${where}: not a policy repository path (policies/<server>/policy.json|yaml, catalog.json or *.test.json)`;
    if (!isObject(entry)) return `${where} must be { "kind", "server", "sha256" }`;
    for (const key of Object.keys(entry)) if (key !== 'kind' && key !== 'server' && key !== 'sha256') return `${where}: unknown key "${key}"`;
    if (entry.kind !== expected.kind) return `${where}.kind must be "${expected.kind}" for this path (got ${JSON.stringify(entry.kind)})`;
    if (entry.server !== expected.server) return `${where}.server must be "${expected.server}" for this path (got ${JSON.stringify(entry.server)})`;
    if (typeof entry.sha256 !== 'string' || !HEX64.test(entry.sha256)) return `${where}.sha256 must be 64 lowercase hex digits`;
  }
  const signatures = value.signatures;
  if (!Array.isArray(signatures)) return '"signatures" must be a list (empty when unsigned)';
  for (let i = 0; i < signatures.length; i++) {
    const s: unknown = signatures[i];
    const where = `signatures[${i}]`;
    if (!isObject(s)) return `${where} must be { "keyid", "algorithm", "public_key", "signature" }`;
    for (const key of Object.keys(s)) {
      if (key !== 'keyid' && key !== 'algorithm' && key !== 'public_key' && key !== 'signature') return `${where}: unknown key "${key}"`;
    }
    if (typeof s.keyid !== 'string' || !HEX64.test(s.keyid)) return `${where}.keyid must be 64 lowercase hex digits (the SHA-256 of the signer's public key)`;
    if (typeof s.algorithm !== 'string') return `${where}.algorithm must be a string ("${BUNDLE_SIGNATURE_ALGORITHM}")`;
    if (typeof s.public_key !== 'string') return `${where}.public_key must be a base64 string`;
    if (typeof s.signature !== 'string' || !BASE64.test(s.signature)) return `${where}.signature must be base64`;
  }
  return undefined;
}

/**
 * Parses the text of a bundle file and checks its shape (not its hashes or signatures).
 *
 * @throws BundleError `bundle.malformed` naming `file`, the place (file:line:col for
 *   syntax errors and repeated keys) and what is wrong.
 * @example
 * const verification = verifyBundle(parseBundle(text, 'bundles/bundle.json'), { trust, threshold: 1, now: Date.now() });
 */
export function parseBundle(text: string, file = 'bundle.json'): PolicyBundle {
  const parsed = parseSourceDocument(text, file, { format: 'json', maxDiagnostics: 5 });
  if (!parsed.document) {
    const first = parsed.diagnostics[0];
    throw new BundleError('bundle.malformed', first ? formatDiagnostic(first) : `${file}: not JSON`, { diagnostics: parsed.diagnostics });
  }
  const problem = bundleShapeProblem(parsed.document.value);
  if (problem) throw new BundleError('bundle.malformed', `${file}: not a ${BUNDLE_FORMAT} bundle: ${problem}`);
  return parsed.document.value as PolicyBundle;
}

/**
 * The text of a bundle file: pretty-printed JSON (so a committed bundle diffs readably)
 * with every object's keys in canonical order, ending with a newline. Signatures do not
 * depend on this layout: they cover the canonical manifest.
 */
export function serializeBundle(bundle: PolicyBundle): string {
  const ordered = {
    format: bundle.format,
    manifest: JSON.parse(canonicalJson(bundle.manifest)) as unknown,
    files: JSON.parse(canonicalJson(bundle.files)) as unknown,
    signatures: [...bundle.signatures].map((s) => ({ keyid: s.keyid, algorithm: s.algorithm, public_key: s.public_key, signature: s.signature })),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
