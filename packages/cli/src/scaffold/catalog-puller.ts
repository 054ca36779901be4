import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { GatewayError, snapshotToolList } from '@tollgate/gateway';
import { buildCatalog, canonicalJson, parseCatalog, toolRisk, type Catalog, type CatalogTool, type ListedTool, type RiskCategory, type RiskClass, type RiskLevel } from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';
import { writeFileSet, type WrittenStatus } from './file-set-writer.js';
import { defaultServerName, parseServerTarget, upstreamConfigOf, type ConnectOptions } from './server-target.js';

/** Options of {@link pullCatalog}. */
export interface CatalogPullOptions extends ConnectOptions {
  /** The server's name (default: from what the server reports, see `defaultServerName`). */
  readonly name?: string;
  /**
   * The catalog this pull refreshes. Its tools' `risk` classes are kept (they may have been
   * reviewed) unless `reclassify` is set; tools it had and the server no longer lists are reported.
   */
  readonly previous?: Catalog;
  /** Classify every tool afresh instead of keeping the previous catalog's classes. */
  readonly reclassify?: boolean;
  /** Told each step of the work as it starts (a progress display on a terminal). */
  readonly onProgress?: (step: string) => void;
}

/** One pulled tool's risk, and where it came from. */
export interface PulledTool {
  readonly name: string;
  readonly level: RiskLevel;
  readonly category: RiskCategory;
  /** `classified` from annotations and name; `kept` from the previous catalog. */
  readonly source: 'classified' | 'kept';
}

/** How the pulled catalog differs from the previous one. */
export interface CatalogChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Tools whose description, schema, annotations or risk changed. */
  readonly changed: readonly string[];
}

/** The result of {@link pullCatalog}. */
export interface CatalogPull {
  readonly server: string;
  /** The command line or URL the catalog was pulled from. */
  readonly target: string;
  /** What the server said it is in `initialize`. */
  readonly serverInfo: { readonly name: string; readonly version: string } | null;
  readonly catalog: Catalog;
  /** The catalog file's text ({@link catalogText}). */
  readonly text: string;
  /** Every tool, sorted by name. */
  readonly tools: readonly PulledTool[];
  /** Differences from `previous`; null when there was no previous catalog. */
  readonly changes: CatalogChanges | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON value with every object's keys sorted, so equal schemas print the same bytes. */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortedKeys(value[key]);
  return out;
}

function byName<T extends { readonly name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The text of `catalog.json`: 2-space JSON ending in a newline; tools sorted by name, each
 * with `name`, `title`, `description`, `inputSchema`, `annotations`, `risk` in that order, and
 * the keys inside schemas and annotations sorted. The same tools always give the same bytes,
 * so re-pulling an unchanged server leaves the file (and the Git history) untouched.
 */
export function catalogText(catalog: Catalog): string {
  const tools = [...catalog.tools].sort(byName).map((t) => ({
    name: t.name,
    ...(t.title !== undefined ? { title: t.title } : {}),
    ...(t.description !== undefined ? { description: t.description } : {}),
    inputSchema: sortedKeys(t.inputSchema),
    ...(t.annotations !== undefined ? { annotations: sortedKeys(t.annotations) } : {}),
    ...(t.risk !== undefined ? { risk: { level: t.risk.level, category: t.risk.category } } : {}),
  }));
  return `${JSON.stringify({ ...(catalog.server !== undefined ? { server: catalog.server } : {}), tools }, null, 2)}\n`;
}

/**
 * Reads the catalog a pull would replace, when there is one.
 *
 * @throws CliError exit 2 `catalog.invalid` when the file exists but is not a valid catalog
 *   (its reviewed risk classes could not be kept), with the first problem's file:line:col.
 */
export async function readPreviousCatalog(absolutePath: string, shown: string): Promise<Catalog | undefined> {
  let text: string;
  try {
    text = await readFile(absolutePath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError('catalog.unreadable', `${shown}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { exit: ExitCode.input, cause: error });
  }
  const { catalog, diagnostics } = parseCatalog(text, shown);
  if (!catalog) {
    const first = diagnostics[0];
    throw new CliError('catalog.invalid', `${first ? `${first.file}:${first.line}:${first.column}: ${first.message}` : `${shown}: not a valid catalog`}`, {
      exit: ExitCode.input,
      hint: 'Fix the catalog, or pass --reclassify to replace it without keeping its risk classes.',
    });
  }
  return catalog;
}

function listed(tool: { name: string; title?: unknown; description?: unknown; inputSchema: unknown; annotations?: unknown }, risk: RiskClass | undefined): ListedTool {
  return {
    name: tool.name,
    ...(typeof tool.title === 'string' ? { title: tool.title } : {}),
    ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
    inputSchema: tool.inputSchema as Record<string, unknown>,
    ...(isObject(tool.annotations) ? { annotations: tool.annotations } : {}),
    ...(risk ? { risk } : {}),
  };
}

function changesOf(previous: Catalog, next: Catalog): CatalogChanges {
  const before = new Map(previous.tools.map((t) => [t.name, t]));
  const after = new Map(next.tools.map((t) => [t.name, t]));
  const comparable = (t: CatalogTool): string => canonicalJson({ title: t.title ?? null, description: t.description ?? null, inputSchema: t.inputSchema, annotations: t.annotations ?? null, risk: t.risk ?? null });
  return {
    added: [...after.keys()].filter((n) => !before.has(n)).sort(),
    removed: [...before.keys()].filter((n) => !after.has(n)).sort(),
    changed: [...after.keys()].filter((n) => before.has(n) && comparable(before.get(n)!) !== comparable(after.get(n)!)).sort(),
  };
}

/**
 * Connects to an MCP server (a stdio command line or a Streamable HTTP URL), snapshots its
 * `tools/list` with annotations, and classifies each tool's risk (`buildCatalog`):
 * the catalog `tollgate catalog pull` writes. Nothing is written here.
 *
 * @throws CliError exit 2 `server.unreachable` when the server cannot be started or reached,
 *   exits, or answers with something that is not an MCP tool list; `server.invalid` for a bad argument.
 * @example
 * const pull = await pullCatalog('node dist/main.js', { cwd: process.cwd(), timeoutMs: 30_000 });
 * await writeFile('policies/ccxt/catalog.json', pull.text);
 */
export async function pullCatalog(server: string, options: CatalogPullOptions): Promise<CatalogPull> {
  const target = parseServerTarget(server);
  let snapshot: Awaited<ReturnType<typeof snapshotToolList>>;
  const config = upstreamConfigOf(target, options.name ?? 'server', options);
  options.onProgress?.(`${target.kind === 'http' ? 'connecting to' : 'starting'} ${target.display} and listing its tools`);
  try {
    snapshot = await snapshotToolList(config);
  } catch (error) {
    // The gateway names the upstream and where it is; this message names the server already.
    const prefix = `cannot connect to upstream "${config.name}" (${target.display}): `;
    const raw = error instanceof Error ? error.message : String(error);
    const message = raw.startsWith(prefix) ? raw.slice(prefix.length) : raw;
    throw new CliError('server.unreachable', `cannot read the tools of ${target.display}: ${message}`, {
      exit: ExitCode.input,
      hint: target.kind === 'http' ? 'Check that the server is running and that the URL is its Streamable HTTP endpoint (often ending in /mcp).' : 'Check that the command starts an MCP server speaking stdio; run it yourself to see its output.',
      cause: error instanceof GatewayError ? error : undefined,
    });
  }
  const name = options.name ?? defaultServerName(target, snapshot.serverInfo?.name);
  options.onProgress?.(`classifying ${snapshot.tools.length} tools`);
  const pulled = classified(name, [...snapshot.tools].sort(byName), options.reclassify ? undefined : options.previous);
  return {
    server: name,
    target: target.display,
    serverInfo: snapshot.serverInfo ? { name: snapshot.serverInfo.name, version: snapshot.serverInfo.version } : null,
    ...pulled,
    changes: options.previous ? changesOf(options.previous, pulled.catalog) : null,
  };
}

/** The catalog of these tools, keeping the risk classes `previous` gives them. */
function classified(server: string, tools: readonly Parameters<typeof listed>[0][], previous: Catalog | undefined): Pick<CatalogPull, 'catalog' | 'text' | 'tools'> {
  const kept = new Map<string, RiskClass>();
  for (const t of previous?.tools ?? []) if (t.risk) kept.set(t.name, t.risk);
  const catalog = buildCatalog(server, tools.map((t) => listed(t, kept.get(t.name))));
  const pulled: PulledTool[] = catalog.tools.map((t) => {
    const risk = toolRisk(t);
    return { name: t.name, level: risk.level, category: risk.category, source: kept.has(t.name) ? 'kept' : 'classified' };
  });
  return { catalog, text: catalogText(catalog), tools: pulled };
}

/** Options of {@link refreshCatalogFile}. */
export interface CatalogFileOptions extends Omit<CatalogPullOptions, 'previous'> {
  /** Where to write the catalog (relative to `cwd`; default `policies/<server>/catalog.json`). */
  readonly out?: string;
}

/** The result of {@link refreshCatalogFile}: the pull, and where it went. */
export interface CatalogFileReport extends Omit<CatalogPull, 'catalog' | 'text'> {
  /** The catalog file, as given or relative to the working directory. */
  readonly file: string;
  /** `created`, `overwritten` (updated) or `unchanged` (same bytes as before). */
  readonly status: WrittenStatus;
}

/**
 * `tollgate catalog pull`: pulls a server's catalog ({@link pullCatalog}) and writes it to
 * `out` (default `policies/<server>/catalog.json`) atomically — only after the pull
 * succeeded, so an unreachable server leaves no file. An existing catalog's risk classes are
 * kept unless `reclassify`; identical content leaves the file untouched.
 *
 * @throws CliError exit 2 (`server.unreachable`, `server.invalid`, `catalog.invalid`, `output.unwritable`).
 */
export async function refreshCatalogFile(server: string, options: CatalogFileOptions): Promise<CatalogFileReport> {
  // The default path needs the server's name, which may come from the server itself: pull first, then decide.
  const knownOut = options.out ?? (options.name !== undefined ? `policies/${options.name}/catalog.json` : undefined);
  let previous = knownOut !== undefined && !options.reclassify ? await readPreviousCatalog(resolve(options.cwd, knownOut), knownOut) : undefined;
  let pull = await pullCatalog(server, { ...options, ...(previous ? { previous } : {}) });
  const file = knownOut ?? `policies/${pull.server}/catalog.json`;
  if (knownOut === undefined) {
    previous = options.reclassify ? undefined : await readPreviousCatalog(resolve(options.cwd, file), file);
    // Re-derive classes and changes against the catalog now known to be replaced (no second connection).
    if (previous) pull = rebase(pull, previous);
  }
  const absolute = resolve(options.cwd, file);
  options.onProgress?.(`writing ${file}`);
  const [written] = await writeFileSet(dirname(absolute), [{ path: basename(absolute), text: pull.text }], { overwrite: true });
  const { catalog: _catalog, text: _text, ...report } = pull;
  return { ...report, file, status: written!.status };
}

/** A pull redone against a previous catalog: its reviewed classes kept, its changes listed. */
function rebase(pull: CatalogPull, previous: Catalog): CatalogPull {
  const redone = classified(pull.server, pull.catalog.tools, previous);
  return { ...pull, ...redone, changes: changesOf(previous, redone.catalog) };
}
