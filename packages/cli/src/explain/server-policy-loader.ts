import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { catalogInputSchemas, formatDiagnostic, loadPolicy, parseCatalog, type CompiledPolicy, type Diagnostic } from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';
import { CATALOG_FILE_NAME, POLICY_FILE_NAMES, displayPath } from '../policy-files.js';

/** One server's policy, compiled with the input schemas of the catalog beside it. */
export interface ServerPolicy {
  readonly server: string;
  /** The policy file as shown to the user (`policies/ccxt/policy.json`, or `<commit>:<path>`). */
  readonly file: string;
  /** The catalog whose input schemas the policy checks arguments against; null without one. */
  readonly catalog: string | null;
  readonly policy: CompiledPolicy;
}

/** The text of a server's files, wherever they were read from (disk, a commit, a bundle). */
export interface ServerPolicyText {
  readonly server: string;
  readonly file: string;
  readonly text: string;
  readonly catalog?: { readonly file: string; readonly text: string };
  /** The bundle revision the policy came from, if any. */
  readonly revision?: number | null;
}

function invalid(kind: 'policy' | 'catalog', file: string, diagnostics: readonly Diagnostic[]): CliError {
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const shown = errors.slice(0, 10).map(formatDiagnostic);
  const more = errors.length > shown.length ? `\n  … and ${errors.length - shown.length} more` : '';
  return new CliError(`${kind}.invalid`, `${file}: the ${kind} is not valid:\n  ${shown.join('\n  ')}${more}`, {
    exit: ExitCode.input,
    hint: `Fix the ${kind} (tollgate lint ${kind === 'policy' ? 'shows every finding' : 'checks it'}); \`tollgate catalog pull\` rewrites a catalog.`,
  });
}

/**
 * Compiles a server's policy text as `tollgate test` and the gateway do: parse, validate,
 * compile, namespaced by the server, with the catalog's input schemas so invalid arguments
 * are refused at step 2.
 *
 * @throws CliError exit 2 `policy.invalid` / `catalog.invalid` with file:line:col.
 */
export function compileServerPolicy(source: ServerPolicyText): ServerPolicy {
  let inputSchemas: ReadonlyMap<string, object> | undefined;
  if (source.catalog) {
    const parsed = parseCatalog(source.catalog.text, source.catalog.file);
    if (!parsed.catalog) throw invalid('catalog', source.catalog.file, parsed.diagnostics);
    inputSchemas = catalogInputSchemas(parsed.catalog);
  }
  const loaded = loadPolicy(source.text, source.file, {
    server: source.server,
    ...(inputSchemas ? { inputSchemas } : {}),
    ...(source.revision !== undefined ? { revision: source.revision } : {}),
  });
  if (!loaded.policy) throw invalid('policy', source.file, loaded.diagnostics);
  return { server: source.server, file: source.file, catalog: source.catalog?.file ?? null, policy: loaded.policy };
}

async function entries(absolute: string): Promise<Dirent[] | undefined> {
  try {
    return await readdir(absolute, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CliError('path.unreadable', `${absolute}: cannot be read (${code ?? (error as Error).message})`, { exit: ExitCode.input, cause: error });
  }
}

/**
 * Reads `<dir>/<server>/policy.{json,yaml,yml}` and the `catalog.json` beside it from the
 * working tree, the way `tollgate test` finds them.
 *
 * @throws CliError exit 2: `eval.unknown-server` (naming the servers there are), `path.not-found`
 *   when `dir` does not exist, `policy.ambiguous`, `path.unreadable`.
 */
export async function readServerPolicyText(dir: string, server: string, cwd: string): Promise<ServerPolicyText> {
  const root = resolve(cwd, dir);
  const servers = await entries(root);
  if (servers === undefined) {
    throw new CliError('path.not-found', `${dir}: no such directory`, { exit: ExitCode.input, hint: 'Pass the policies directory with --dir (default: policies).' });
  }
  const known = servers.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  const unknown = (why: string): CliError =>
    new CliError('eval.unknown-server', `no policy for server "${server}" in ${dir}: ${why}`, {
      exit: ExitCode.input,
      hint: known.length > 0 ? `Servers with a directory in ${dir}: ${known.join(', ')}.` : `${dir} has no server directories; write ${dir}/<server>/policy.json (tollgate init).`,
    });
  if (server === '' || server === '.' || server === '..' || /[/\\]/.test(server)) throw unknown('a server name is the name of its directory');
  const files = await entries(join(root, server));
  if (files === undefined) throw unknown(`${displayPath(join(root, server), cwd)}/ does not exist`);
  const names = new Set(files.filter((e) => !e.isDirectory()).map((e) => e.name));
  const policies = POLICY_FILE_NAMES.filter((n) => names.has(n));
  if (policies.length === 0) throw unknown(`${displayPath(join(root, server), cwd)}/ has no ${POLICY_FILE_NAMES.join(', ')}`);
  if (policies.length > 1) {
    throw new CliError('policy.ambiguous', `${displayPath(join(root, server), cwd)}: has both ${policies.join(' and ')}, so it is unclear which one is the policy`, {
      exit: ExitCode.input,
      hint: 'Keep one policy file per server directory.',
    });
  }
  const read = async (name: string): Promise<{ file: string; text: string }> => {
    const absolute = join(root, server, name);
    try {
      return { file: displayPath(absolute, cwd), text: await readFile(absolute, 'utf8') };
    } catch (error) {
      throw new CliError('file.unreadable', `${displayPath(absolute, cwd)}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { exit: ExitCode.input, cause: error });
    }
  };
  const policy = await read(policies[0]!);
  const catalog = names.has(CATALOG_FILE_NAME) ? await read(CATALOG_FILE_NAME) : undefined;
  return { server, file: policy.file, text: policy.text, ...(catalog ? { catalog } : {}) };
}
