import type { Dirent, Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CATALOG_FILE_NAME, formatDiagnostic, isServerDirectoryName, POLICIES_DIR, policyFileConflict, POLICY_FILE_NAMES, TEST_FILE_PATTERN } from '@tollgate/policy';
import { CliError, ExitCode } from './cli-error.js';

/** The names of a policy repository's files: the policy package's layout (`policy-repository-layout.ts`). */
export { CATALOG_FILE_NAME, POLICY_FILE_NAMES, TEST_FILE_PATTERN };

/** The path `lint` and `test` read when given none: the repository's policies directory. */
export const DEFAULT_POLICY_PATH = POLICIES_DIR;

/** A file found by discovery: where it is, as the user sees it and on disk. */
export interface FoundFile {
  /** The path shown in diagnostics and reports: relative to the working directory, `/`-separated. */
  readonly path: string;
  /** The absolute path on disk. */
  readonly absolutePath: string;
}

/** One server's policy, with its catalog when one sits beside it. */
export interface PolicyFileSet {
  /** The server the policy governs: the name of its directory. */
  readonly server: string;
  readonly policy: FoundFile;
  readonly catalog: FoundFile | undefined;
  /**
   * The other policy files of the same directory (TG004), with `conflicts: 'report'`; always
   * empty otherwise, since discovery then refuses such a directory.
   */
  readonly siblings: readonly FoundFile[];
}

/** Everything `lint` and `test` act on, found from the paths on the command line. */
export interface PolicyFiles {
  /** Policies, sorted by path, each once. */
  readonly policies: readonly PolicyFileSet[];
  /** Test files, sorted by path, each once. */
  readonly tests: readonly FoundFile[];
  /** Absolute directories whose changes matter (for `test --watch`), sorted. */
  readonly directories: readonly string[];
}

/** Options of {@link discoverPolicyFiles}. */
export interface DiscoverOptions {
  /** The directory relative paths are resolved against and reported from (default `process.cwd()`). */
  readonly cwd?: string;
  /**
   * A server directory with more than one policy file: `refuse` (default) throws CliError
   * `policy.ambiguous` carrying the TG004 finding; `report` returns its first policy file
   * with the others as `siblings`, for the caller to report TG004 itself (`tollgate lint`).
   */
  readonly conflicts?: 'refuse' | 'report';
}

/**
 * Turns an absolute path into the path shown to the user: relative to `cwd` with `/`
 * separators, or absolute when that is shorter to read (another drive, far outside).
 */
export function displayPath(absolutePath: string, cwd: string): string {
  const rel = relative(cwd, absolutePath);
  if (rel === '') return '.';
  if (isAbsolute(rel)) return absolutePath.split(sep).join('/');
  return rel.split(sep).join('/');
}

function found(absolutePath: string, cwd: string): FoundFile {
  return { path: displayPath(absolutePath, cwd), absolutePath };
}

async function statOf(absolutePath: string, shown: string): Promise<Stats> {
  try {
    return await stat(absolutePath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new CliError('path.not-found', `${shown}: no such file or directory`, {
        exit: ExitCode.input,
        hint: 'Pass a policy repository, a policies/<server>/ directory, or policy and test files.',
        cause: error,
      });
    }
    throw new CliError('path.unreadable', `${shown}: cannot be read (${code ?? (error as Error).message})`, { exit: ExitCode.input, cause: error });
  }
}

async function listDirectory(absolutePath: string, shown: string): Promise<Dirent[]> {
  try {
    return await readdir(absolutePath, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError('path.unreadable', `${shown}: the directory cannot be read (${code ?? (error as Error).message})`, { exit: ExitCode.input, cause: error });
  }
}

/** What one directory holds, by the names that matter to a policy repository. */
interface DirectoryEntries {
  readonly policy: string | undefined;
  /** The other policy files of the directory (a TG004 conflict), in {@link POLICY_FILE_NAMES} order. */
  readonly others: readonly string[];
  readonly catalog: boolean;
  readonly tests: readonly string[];
  readonly subdirectories: readonly string[];
}

async function readEntries(absolutePath: string, shown: string, conflicts: 'refuse' | 'report' = 'refuse'): Promise<DirectoryEntries> {
  const entries = await listDirectory(absolutePath, shown);
  const files = new Set(entries.filter((e) => !e.isDirectory()).map((e) => e.name));
  const policies = POLICY_FILE_NAMES.filter((n) => files.has(n));
  const conflict = policyFileConflict(policies.map((n) => `${shown}/${n}`));
  if (conflict && conflicts === 'refuse') {
    throw new CliError('policy.ambiguous', formatDiagnostic({ ...conflict, hint: undefined }), {
      exit: ExitCode.input,
      hint: conflict.hint ?? 'Keep one policy file per server directory.',
    });
  }
  return {
    policy: policies[0],
    others: policies.slice(1),
    catalog: files.has(CATALOG_FILE_NAME),
    tests: [...files].filter((n) => TEST_FILE_PATTERN.test(n)).sort(),
    subdirectories: entries
      .filter((e) => e.isDirectory() && isServerDirectoryName(e.name))
      .map((e) => e.name)
      .sort(),
  };
}

/**
 * Finds the policies, catalogs and test files that `lint` and `test` act on. Each path may
 * be a policy repository (a directory with `policies/` in it), a directory of server
 * directories (`policies/`), one server directory (`policies/<server>/`), or single files:
 * a `*.test.json|yaml` file is a test file, any other `.json|.yaml|.yml` file a policy
 * (with the `catalog.json` and the test files beside it). A server's name is its
 * directory's name.
 *
 * @throws CliError exit 2 (`path.not-found`, `path.unreadable`, `path.not-policy`,
 *   `policy.none-found`, `policy.ambiguous`) naming the path.
 * @example
 * const { policies, tests } = await discoverPolicyFiles(['policies/'], { cwd: process.cwd() });
 */
export async function discoverPolicyFiles(paths: readonly string[], options: DiscoverOptions = {}): Promise<PolicyFiles> {
  const cwd = options.cwd ?? process.cwd();
  const conflicts = options.conflicts ?? 'refuse';
  const entriesOf = (absolutePath: string, shown: string): Promise<DirectoryEntries> => readEntries(absolutePath, shown, conflicts);
  const policies = new Map<string, PolicyFileSet>();
  const tests = new Map<string, FoundFile>();
  const directories = new Set<string>();

  const addServerDirectory = async (dir: string, entries: DirectoryEntries): Promise<void> => {
    directories.add(dir);
    if (entries.policy) addPolicy(join(dir, entries.policy), entries.catalog, entries.others.map((n) => join(dir, n)));
    for (const t of entries.tests) tests.set(join(dir, t), found(join(dir, t), cwd));
  };
  const addPolicy = (file: string, hasCatalog: boolean, siblings: readonly string[]): void => {
    const dir = dirname(file);
    const catalogPath = join(dir, CATALOG_FILE_NAME);
    policies.set(file, {
      server: basename(dir),
      policy: found(file, cwd),
      catalog: hasCatalog ? found(catalogPath, cwd) : undefined,
      siblings: siblings.filter((f) => f !== file).map((f) => found(f, cwd)),
    });
  };
  const isServerDirectory = (entries: DirectoryEntries): boolean => entries.policy !== undefined || entries.tests.length > 0;

  for (const given of paths.length > 0 ? paths : [DEFAULT_POLICY_PATH]) {
    const absolute = resolve(cwd, given);
    const info = await statOf(absolute, given);
    if (info.isFile()) {
      const name = basename(absolute);
      const dir = dirname(absolute);
      directories.add(dir);
      if (TEST_FILE_PATTERN.test(name)) {
        tests.set(absolute, found(absolute, cwd));
      } else if (name === CATALOG_FILE_NAME) {
        throw new CliError('path.not-policy', `${given}: is a catalog, not a policy or test file`, {
          exit: ExitCode.input,
          hint: `Pass the policy beside it (${displayPath(join(dir, POLICY_FILE_NAMES[0]), cwd)}) or its directory.`,
        });
      } else if (/\.(json|ya?ml)$/i.test(name)) {
        const entries = await entriesOf(dir, displayPath(dir, cwd));
        const others = [entries.policy, ...entries.others].filter((n): n is string => n !== undefined).map((n) => join(dir, n));
        addPolicy(absolute, entries.catalog, others.includes(absolute) ? others : []);
        // The tests beside a policy come with it, so `test policies/x/policy.json` runs them.
        for (const t of entries.tests) tests.set(join(dir, t), found(join(dir, t), cwd));
      } else {
        throw new CliError('path.not-policy', `${given}: is neither a policy (.json, .yaml, .yml) nor a test file (*.test.json, *.test.yaml)`, {
          exit: ExitCode.input,
        });
      }
      continue;
    }
    if (!info.isDirectory()) {
      throw new CliError('path.not-policy', `${given}: is not a regular file or directory`, { exit: ExitCode.input });
    }
    const entries = await entriesOf(absolute, given);
    if (isServerDirectory(entries)) {
      await addServerDirectory(absolute, entries);
      continue;
    }
    // A repository root holds `policies/`; anything else is taken as a directory of server directories.
    let serversRoot = absolute;
    let rootEntries = entries;
    if (entries.subdirectories.includes(DEFAULT_POLICY_PATH)) {
      serversRoot = join(absolute, DEFAULT_POLICY_PATH);
      rootEntries = await entriesOf(serversRoot, displayPath(serversRoot, cwd));
    }
    directories.add(serversRoot);
    let servers = 0;
    for (const sub of rootEntries.subdirectories) {
      const dir = join(serversRoot, sub);
      const subEntries = await entriesOf(dir, displayPath(dir, cwd));
      if (!isServerDirectory(subEntries)) continue;
      servers += 1;
      await addServerDirectory(dir, subEntries);
    }
    if (servers === 0 && isServerDirectory(rootEntries)) {
      await addServerDirectory(serversRoot, rootEntries);
      servers = 1;
    }
    if (servers === 0) {
      throw new CliError('policy.none-found', `${given}: no policy or test file found`, {
        exit: ExitCode.input,
        hint: `Expected ${POLICY_FILE_NAMES.join('|')} or *.test.json in ${given}, in its subdirectories, or under ${given}/policies/.`,
      });
    }
  }

  const byPath = <T extends { path: string }>(a: T, b: T): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return {
    policies: [...policies.values()].sort((a, b) => byPath(a.policy, b.policy)),
    tests: [...tests.values()].sort(byPath),
    directories: [...directories].sort(),
  };
}

/**
 * Reads a found file as UTF-8 text.
 *
 * @throws CliError exit 2 `file.unreadable` naming the file when it is missing, a directory or unreadable.
 */
export async function readPolicyFile(file: FoundFile): Promise<string> {
  try {
    return await readFile(file.absolutePath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EISDIR' ? 'it is a directory' : code === 'ENOENT' ? 'it does not exist' : (code ?? (error as Error).message);
    throw new CliError('file.unreadable', `${file.path}: cannot be read (${why})`, { exit: ExitCode.input, cause: error });
  }
}

/**
 * Where a test file's policy is: its `"policy"` field resolved against the test file's
 * directory, else the first of `policy.json`, `policy.yaml`, `policy.yml` beside it that
 * exists. Returns the absolute path, or undefined when no default policy exists.
 */
export async function resolveTestPolicy(testFile: FoundFile, policyField: string | undefined): Promise<string | undefined> {
  const dir = dirname(testFile.absolutePath);
  if (policyField !== undefined) return resolve(dir, policyField);
  for (const name of POLICY_FILE_NAMES) {
    const candidate = join(dir, name);
    if (await stat(candidate).then((s) => s.isFile(), () => false)) return candidate;
  }
  return undefined;
}

/** Wraps an absolute path as a {@link FoundFile} shown relative to `cwd`. */
export function foundFile(absolutePath: string, cwd: string): FoundFile {
  return found(absolutePath, cwd);
}
