/**
 * The layout of a policy repository (DESIGN §1): `policies/<server>/` holds one policy file
 * (`policy.json`, `policy.yaml` or `policy.yml`), the server's `catalog.json` and its
 * `*.test.json|yaml|yml` files. Every reader of policy repositories — the CLI's discovery,
 * the gateway's directory source, the bundle builder and compiler (and so the gateway's Git
 * source) — takes the names from here, so they agree on what a repository holds.
 */

/** The directory of a repository that holds the server directories, and the path `lint` and `test` read when given none. */
export const POLICIES_DIR = 'policies';

/**
 * The names a policy file may have inside `policies/<server>/`, in the order readers look for
 * them: the first one present is the server's policy, any other is a TG004 conflict.
 */
export const POLICY_FILE_NAMES = Object.freeze(['policy.json', 'policy.yaml', 'policy.yml'] as const);

/** One of {@link POLICY_FILE_NAMES}. */
export type PolicyFileName = (typeof POLICY_FILE_NAMES)[number];

/** True when `name` (a file name, not a path) is one of {@link POLICY_FILE_NAMES}. */
export function isPolicyFileName(name: string): name is PolicyFileName {
  return (POLICY_FILE_NAMES as readonly string[]).includes(name);
}

/** The name of a server's catalog snapshot (its `tools/list`), beside its policy. */
export const CATALOG_FILE_NAME = 'catalog.json';

/**
 * Matches a test file name as discovery on disk finds it: `*.test.json`, `*.test.yaml` or
 * `*.test.yml`, in any letter case.
 */
export const TEST_FILE_PATTERN = /\.test\.(json|ya?ml)$/i;

/** A test file's name inside a bundle: stricter than {@link TEST_FILE_PATTERN} (a name before `.test`, lower-case extension). */
const BUNDLE_TEST_FILE_NAME = /^.+\.test\.(json|ya?ml)$/;

/** What a file of a policy repository is: a server's policy, its `tools/list` snapshot, or a test file. */
export type RepositoryFileKind = 'policy' | 'catalog' | 'test';

/**
 * True when discovery treats a subdirectory of `policies/` (or of a repository root) as a
 * possible server directory: hidden directories and `node_modules` are skipped.
 */
export function isServerDirectoryName(name: string): boolean {
  return !name.startsWith('.') && name !== 'node_modules';
}

/**
 * What a `/`-separated repository path holds, when it is exactly
 * `policies/<server>/policy.{json,yaml,yml}`, `policies/<server>/catalog.json` or
 * `policies/<server>/<name>.test.{json,yaml,yml}` with a server name that cannot step out of
 * `policies/`. Undefined for any other path. This is the rule for the paths of a bundle.
 *
 * @example classifyRepositoryPath('policies/ccxt/orders.test.json') // { kind: 'test', server: 'ccxt' }
 */
export function classifyRepositoryPath(path: string): { kind: RepositoryFileKind; server: string } | undefined {
  const parts = path.split('/');
  if (parts.length !== 3 || parts[0] !== POLICIES_DIR) return undefined;
  const server = parts[1]!;
  const name = parts[2]!;
  if (server === '' || server === '.' || server === '..' || server.includes('\\')) return undefined;
  if (isPolicyFileName(name)) return { kind: 'policy', server };
  if (name === CATALOG_FILE_NAME) return { kind: 'catalog', server };
  if (BUNDLE_TEST_FILE_NAME.test(name)) return { kind: 'test', server };
  return undefined;
}
