import { basename, extname } from 'node:path';
import type { UpstreamConfig } from '@tollgate/gateway';
import { CliError, ExitCode } from '../cli-error.js';

/**
 * An MCP server named on the command line (`tollgate catalog pull <server>`, `tollgate init
 * --from-server <server>`): a command line started over stdio, or a Streamable HTTP URL.
 */
export type ServerTarget =
  | { readonly kind: 'stdio'; readonly command: string; readonly args: readonly string[]; readonly display: string }
  | { readonly kind: 'http'; readonly url: string; readonly display: string };

/** How to reach a {@link ServerTarget}. */
export interface ConnectOptions {
  /** The working directory of a stdio server (absolute). */
  readonly cwd: string;
  /** How long connecting and listing may take, in milliseconds. */
  readonly timeoutMs: number;
  /** Headers sent with every HTTP request (e.g. `Authorization`). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A server name as a directory of `policies/`: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
export const SERVER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Splits a command line into words the way a POSIX shell does for plain words: blanks
 * separate words, single quotes keep everything literally, double quotes keep blanks and
 * allow `\"` and `\\`, a backslash outside quotes escapes the next character. No variables,
 * globs or pipes: the command is started directly, never through a shell.
 *
 * @throws CliError exit 2 `server.invalid` for an unterminated quote.
 * @example splitCommandLine(`npx -y "@scope/my server" --flag='a b'`) // ['npx', '-y', '@scope/my server', '--flag=a b']
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new CliError('server.invalid', `the server command has an unterminated ${quote === '"' ? 'double' : 'single'} quote: ${line}`, { exit: ExitCode.input, hint: 'Close the quote, or quote the whole command for your shell once and the inner words with the other quote character.' });
  if (inWord) words.push(word);
  return words;
}

/**
 * Reads a server argument: `http://…` or `https://…` is a Streamable HTTP endpoint, anything
 * else a command line to start over stdio (see {@link splitCommandLine}).
 *
 * @throws CliError exit 2 `server.invalid` for an empty command or a URL of another scheme.
 * @example parseServerTarget('node dist/main.js --stdio') // { kind: 'stdio', command: 'node', args: ['dist/main.js', '--stdio'], … }
 */
export function parseServerTarget(spec: string): ServerTarget {
  const text = spec.trim();
  const hint = 'Pass a command that starts an MCP server over stdio (e.g. "node server.js"), or its Streamable HTTP URL (e.g. http://127.0.0.1:9000/mcp).';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch (error) {
      throw new CliError('server.invalid', `${text}: not a valid URL`, { exit: ExitCode.input, hint, cause: error });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CliError('server.invalid', `${text}: only http:// and https:// URLs (Streamable HTTP) are supported`, { exit: ExitCode.input, hint });
    }
    return { kind: 'http', url: url.href, display: url.href };
  }
  const words = splitCommandLine(text);
  const [command, ...args] = words;
  if (command === undefined) throw new CliError('server.invalid', 'no server given: the server command is empty', { exit: ExitCode.input, hint });
  return { kind: 'stdio', command, args, display: words.join(' ') };
}

/** The gateway's upstream configuration for a target, named `name`. */
export function upstreamConfigOf(target: ServerTarget, name: string, options: ConnectOptions): UpstreamConfig {
  if (target.kind === 'http') return { kind: 'http', name, url: target.url, headers: { ...options.headers }, timeoutMs: options.timeoutMs };
  return { kind: 'stdio', name, command: target.command, args: [...target.args], env: {}, cwd: options.cwd, timeoutMs: options.timeoutMs };
}

/** Turns a server's self-given name into a directory name: `@modelcontextprotocol/server-everything` → `everything`. */
function slug(name: string): string {
  const last = name.split('/').filter((s) => s.length > 0).pop() ?? '';
  return last
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^(mcp-server-|server-|mcp-)/, '')
    .replace(/(-mcp-server|-server|-mcp)$/, '')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
}

/**
 * The name a pulled server gets when the user gives none: from the name it reported in
 * `initialize`, else from the URL's host or the command's script name; `server` when none
 * of these yields a usable name.
 */
export function defaultServerName(target: ServerTarget, reported: string | undefined): string {
  const candidates: string[] = [];
  if (reported) candidates.push(reported);
  if (target.kind === 'http') candidates.push(new URL(target.url).hostname);
  else {
    const script = [...target.args].reverse().find((a) => !a.startsWith('-')) ?? target.command;
    candidates.push(basename(script, extname(script)), basename(target.command));
  }
  for (const candidate of candidates) {
    const s = slug(candidate);
    if (s.length > 0 && SERVER_NAME_PATTERN.test(s)) return s;
  }
  return 'server';
}

/**
 * Checks a server name given with `--name`/`--server-name`: it becomes `policies/<name>/`.
 *
 * @throws CliError exit 2 `server.name-invalid`.
 */
export function checkServerName(name: string, flag: string): string {
  if (!SERVER_NAME_PATTERN.test(name)) {
    throw new CliError('server.name-invalid', `${flag} ${JSON.stringify(name)}: a server name is a directory name of letters, digits, ".", "_" and "-", starting with a letter or digit`, {
      exit: ExitCode.input,
      hint: `e.g. ${flag} ccxt`,
    });
  }
  return name;
}
