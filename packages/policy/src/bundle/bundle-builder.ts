import { parseCatalog } from '../catalog/catalog.js';
import { canonicalJson, sha256Hex } from '../canonical-json.js';
import { formatDiagnostic, sortDiagnostics, type Diagnostic } from '../diagnostic.js';
import { admitPolicy } from '../lint/policy-admission.js';
import { CATALOG_FILE_NAME, POLICIES_DIR, POLICY_FILE_NAMES } from '../policy-repository-layout.js';
import { pointerOf, type SourceDocument } from '../parse/source-document.js';
import { parseTestFile } from '../test-runner.js';
import { BundleError } from './bundle-error.js';
import { bundleTestPolicyPath } from './bundle-compiler.js';
import { BUNDLE_FORMAT, classifyBundlePath, type BundleFileEntry, type BundleManifest, type PolicyBundle } from './bundle-format.js';

/** One file of a policy repository: its path (`policies/<server>/<name>`, `/`-separated) and text. */
export interface BundleSourceFile {
  readonly path: string;
  readonly text: string;
}

/** What {@link buildBundle} makes a bundle of. */
export interface BuildBundleInput {
  readonly files: readonly BundleSourceFile[];
  /** Monotonic revision, e.g. the commit count of HEAD. */
  readonly revision: number;
  /** The commit the files come from (40 or 64 hex digits), or null outside Git. */
  readonly gitCommit: string | null;
  /** The files differ from `gitCommit` (uncommitted changes): recorded as `git_dirty: true`. */
  readonly gitDirty?: boolean;
  readonly createdAt: Date;
  /** When the bundle stops being accepted; null for never. */
  readonly expiresAt: Date | null;
}

/** A built bundle and the parsed files it was built from (for positions in later reports). */
export interface BuiltBundle {
  readonly bundle: PolicyBundle;
  /** The parsed source of each file by path, positions as written. */
  readonly sources: ReadonlyMap<string, SourceDocument>;
}

const MESSAGE_LINES = 10;

function fail(message: string, diagnostics: readonly Diagnostic[] = []): never {
  throw new BundleError('bundle.invalid', message, { diagnostics });
}

function checkInput(input: BuildBundleInput): void {
  if (!Number.isSafeInteger(input.revision) || input.revision < 0) fail(`the revision must be a whole number >= 0 (got ${input.revision})`);
  if (input.gitCommit !== null && !/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(input.gitCommit)) fail(`"${input.gitCommit}" is not a commit id (40 or 64 lowercase hex digits)`);
  if (Number.isNaN(input.createdAt.getTime())) fail('the creation time is not a valid date');
  if (input.expiresAt !== null) {
    if (Number.isNaN(input.expiresAt.getTime())) fail('the expiry time is not a valid date');
    if (input.expiresAt.getTime() <= input.createdAt.getTime()) {
      fail(`the bundle would expire (${input.expiresAt.toISOString()}) before it is created (${input.createdAt.toISOString()})`);
    }
  }
}

/**
 * Like {@link buildBundle}, and also returns the parsed files, so that test results and
 * diagnostics of a later {@link compileBundle} point at file:line:col as written.
 *
 * @throws BundleError `bundle.invalid` as {@link buildBundle}.
 */
export function buildBundleWithSources(input: BuildBundleInput): BuiltBundle {
  checkInput(input);
  if (input.files.length === 0) fail('there are no policy files to bundle: expected policies/<server>/policy.json (or .yaml)');
  const diagnostics: Diagnostic[] = [];
  const sources = new Map<string, SourceDocument>();
  const entries = new Map<string, BundleFileEntry & { value: unknown }>();
  const policyOf = new Map<string, string>();
  const seen = new Set<string>();
  const testFiles: Array<{ path: string; policy: string | undefined; document: SourceDocument }> = [];

  // Every policy is admitted as lint would admit it: with its server's catalog, and knowing the other policy files of its directory.
  const places = input.files.map((file) => {
    const place = classifyBundlePath(file.path);
    if (!place) fail(`${file.path}: not a policy repository file; a bundle holds ${POLICIES_DIR}/<server>/${POLICY_FILE_NAMES.join('|')}, ${CATALOG_FILE_NAME} and *.test.json files`);
    return place;
  });
  const catalogOf = new Map<string, BundleSourceFile>();
  const policiesOf = new Map<string, string[]>();
  input.files.forEach((file, i) => {
    const place = places[i]!;
    if (place.kind === 'catalog') catalogOf.set(place.server, file);
    if (place.kind === 'policy') policiesOf.set(place.server, [...(policiesOf.get(place.server) ?? []), file.path]);
  });

  for (const [i, file] of input.files.entries()) {
    const place = places[i]!;
    if (seen.has(file.path)) fail(`${file.path}: given twice`);
    seen.add(file.path);
    let document: SourceDocument | undefined;
    if (place.kind === 'policy') {
      if (!policyOf.has(place.server)) policyOf.set(place.server, file.path);
      const catalog = catalogOf.get(place.server);
      const admitted = admitPolicy(
        { text: file.text, file: file.path, ...(catalog ? { catalog: { text: catalog.text, file: catalog.path } } : {}), siblings: (policiesOf.get(place.server) ?? []).filter((p) => p !== file.path) },
        { server: place.server, revision: input.revision },
      );
      diagnostics.push(...admitted.errors);
      document = admitted.policy ? admitted.document : undefined;
    } else if (place.kind === 'catalog') {
      const parsed = parseCatalog(file.text, file.path);
      diagnostics.push(...parsed.diagnostics);
      document = parsed.catalog ? parsed.document : undefined;
    } else {
      const parsed = parseTestFile(file.text, file.path);
      diagnostics.push(...parsed.diagnostics);
      if (parsed.tests && parsed.document) {
        document = parsed.document;
        testFiles.push({ path: file.path, policy: parsed.tests.policy, document });
      }
    }
    if (!document) continue;
    let text: string;
    try {
      text = canonicalJson(document.value);
    } catch (error) {
      diagnostics.push({ code: 'TG001', severity: 'error', file: file.path, line: 1, column: 1, message: `cannot be stored as JSON: ${(error as Error).message}` });
      continue;
    }
    sources.set(file.path, document);
    // The stored value is the canonical text read back, so it hashes the same after any round trip.
    entries.set(file.path, { kind: place.kind, server: place.server, sha256: sha256Hex(text), value: JSON.parse(text) as unknown });
  }
  if (policyOf.size === 0) fail('there is no policy among the files: expected policies/<server>/policy.json (or .yaml)');

  const policyPaths = new Set(policyOf.values());
  const manifestFiles: Record<string, BundleFileEntry> = {};
  for (const path of [...entries.keys()].sort()) {
    const { kind, server, sha256 } = entries.get(path)!;
    manifestFiles[path] = { kind, server, sha256 };
  }
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    revision: input.revision,
    git_commit: input.gitCommit,
    ...(input.gitDirty ? { git_dirty: true } : {}),
    created_at: input.createdAt.toISOString(),
    expires_at: input.expiresAt === null ? null : input.expiresAt.toISOString(),
    files: manifestFiles,
  };
  for (const t of testFiles) {
    const target = bundleTestPolicyPath(t.path, t.policy, (p) => policyPaths.has(p));
    if (target !== undefined && policyPaths.has(target)) continue;
    const pos = t.document.positionOf(t.policy === undefined ? '' : pointerOf('policy'));
    diagnostics.push({
      code: 'TG300',
      severity: 'error',
      file: t.path,
      ...pos,
      message: t.policy === undefined ? 'no policy.json or policy.yaml beside this test file' : `the policy ${JSON.stringify(t.policy)} (${target}) is not among the bundled policies`,
      hint: 'a bundled test file runs against a policy of the same bundle',
    });
  }
  if (diagnostics.length > 0) {
    const seenFindings = new Set<string>();
    // A catalog is checked on its own and with its policy, and TG004 comes with each of a directory's policies: each is told once.
    const sorted = sortDiagnostics(diagnostics).filter((d) => {
      const key = `${d.file}\u0000${d.line}\u0000${d.column}\u0000${d.code}\u0000${d.message}`;
      return seenFindings.has(key) ? false : (seenFindings.add(key), true);
    });
    const lines = sorted.slice(0, MESSAGE_LINES).map(formatDiagnostic);
    if (sorted.length > MESSAGE_LINES) lines.push(`…and ${sorted.length - MESSAGE_LINES} more`);
    fail(`the policy files have ${sorted.length} problem${sorted.length === 1 ? '' : 's'}:\n${lines.join('\n')}`, sorted);
  }
  const files: Record<string, unknown> = {};
  for (const path of Object.keys(manifestFiles)) files[path] = entries.get(path)!.value;
  return { bundle: { format: BUNDLE_FORMAT, manifest, files, signatures: [] }, sources };
}

/**
 * Builds an unsigned bundle from a policy repository's files: each is parsed (JSON or YAML)
 * and validated as what its path says it is (policy — also compiled —, catalog, test file),
 * stored as its canonical JSON value and hashed (SHA-256 of RFC 8785 canonical JSON) into
 * the manifest. The bundle's tests are not run here: see {@link compileBundle}.
 *
 * @throws BundleError `bundle.invalid` with every finding as a file:line:col diagnostic.
 * @example
 * const bundle = buildBundle({ files: [{ path: 'policies/ccxt/policy.json', text }], revision: 17,
 *   gitCommit: head, createdAt: new Date(), expiresAt: null });
 */
export function buildBundle(input: BuildBundleInput): PolicyBundle {
  return buildBundleWithSources(input).bundle;
}
