import { closeSync, openSync, readSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pointerOf } from '@tollgate/policy';

/** Where `${…}` references are read from: injected, so that tests (and embedders) choose. */
export interface SubstitutionSources {
  /** The environment `${NAME}` reads (default `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Reads a file `${file:…}` names, as UTF-8, at most `maxBytes` + 1 bytes of it (default:
   * the file system). Throws when it cannot be read.
   */
  readonly readFile: (path: string, maxBytes: number) => string;
}

/** The largest file a `${file:…}` reference may name. */
export const MAX_SECRET_FILE_BYTES = 1_048_576;

/** The process's environment and file system. */
export const PROCESS_SUBSTITUTION_SOURCES: SubstitutionSources = Object.freeze({
  env: process.env,
  readFile: (path: string, maxBytes: number): string => {
    const fd = openSync(path, 'r');
    try {
      const buffer = Buffer.alloc(maxBytes + 1);
      let size = 0;
      for (;;) {
        const n = readSync(fd, buffer, size, buffer.length - size, null);
        if (n === 0) break;
        size += n;
        if (size === buffer.length) break;
      }
      return buffer.subarray(0, size).toString('utf8');
    } finally {
      closeSync(fd);
    }
  },
});

/** A reference that could not be substituted, at the JSON pointer of its string. */
export interface SubstitutionProblem {
  readonly pointer: string;
  readonly message: string;
}

/** The result of {@link substituteSecrets}. */
export interface Substituted {
  /** The document with every reference replaced. */
  readonly value: unknown;
  /** The pointers of the strings that held a reference, each with the text as written. */
  readonly references: ReadonlyMap<string, string>;
  readonly problems: readonly SubstitutionProblem[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replaces references in every string value of a parsed configuration — never in keys, and
 * never by anything but a string, so a secret cannot change the document's structure:
 *
 * - `${NAME}`: the environment variable `NAME` (an error if it is not set);
 * - `${file:PATH}`: the contents of a file (one trailing newline removed), `PATH` relative to
 *   `baseDir` unless absolute (an error if it cannot be read, or is over
 *   {@link MAX_SECRET_FILE_BYTES});
 * - `$${` is a literal `${`; any other `$` is itself.
 *
 * What a reference is replaced by is taken literally: a `${…}` in a secret is not read again.
 * Every problem is collected, with the pointer of its string.
 *
 * @example
 * substituteSecrets({ ledger: { database_url: '${DB_URL}' } }, '/etc/tollgate', { env: { DB_URL: 'postgres://…' }, readFile })
 * // -> { value: { ledger: { database_url: 'postgres://…' } }, references: Map { '/ledger/database_url' => '${DB_URL}' }, problems: [] }
 */
export function substituteSecrets(value: unknown, baseDir: string, sources: SubstitutionSources): Substituted {
  const references = new Map<string, string>();
  const problems: SubstitutionProblem[] = [];
  const walk = (v: unknown, tokens: Array<string | number>): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('$')) return v;
      const pointer = pointerOf(...tokens);
      const out = substituteString(v, baseDir, sources, (message) => problems.push({ pointer, message }));
      if (out !== v || v.includes('${')) references.set(pointer, v);
      return out;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...tokens, i]));
    if (v !== null && typeof v === 'object') {
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(v)) {
        // An own property even for "__proto__", as the parsed document has it.
        Object.defineProperty(copy, key, { value: walk(item, [...tokens, key]), enumerable: true, writable: true, configurable: true });
      }
      return copy;
    }
    return v;
  };
  return { value: walk(value, []), references, problems };
}

function substituteString(text: string, baseDir: string, sources: SubstitutionSources, problem: (message: string) => void): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar === -1) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const end = text.indexOf('}', dollar + 2);
    if (end === -1) {
      problem(`has a "\${" with no closing "}": write \${NAME} for an environment variable, \${file:path} for a file, or $\${ for a literal "\${"`);
      return text;
    }
    const reference = text.slice(dollar + 2, end);
    out += resolveReference(reference, baseDir, sources, problem) ?? '';
    i = end + 1;
  }
  return out;
}

function resolveReference(reference: string, baseDir: string, sources: SubstitutionSources, problem: (message: string) => void): string | undefined {
  if (reference.startsWith('file:')) {
    const named = reference.slice('file:'.length);
    if (named === '') {
      problem('has "${file:}" without a path: write ${file:/run/secrets/name} (or a path relative to the configuration file)');
      return undefined;
    }
    const path = isAbsolute(named) ? named : resolve(baseDir, named);
    let text: string;
    try {
      text = sources.readFile(path, MAX_SECRET_FILE_BYTES);
    } catch (error) {
      problem(`refers to the file ${path} (\${file:${named}}), which cannot be read: ${(error as Error).message}`);
      return undefined;
    }
    if (Buffer.byteLength(text) > MAX_SECRET_FILE_BYTES) {
      problem(`refers to the file ${path} (\${file:${named}}), which is larger than ${MAX_SECRET_FILE_BYTES} bytes`);
      return undefined;
    }
    return text.replace(/\r?\n$/, '');
  }
  if (!NAME.test(reference)) {
    problem(`has "\${${reference.slice(0, 40)}}", which is neither an environment variable name (letters, digits and "_", not starting with a digit) nor file:path; write $\${ for a literal "\${"`);
    return undefined;
  }
  const value = sources.env[reference];
  if (value === undefined) {
    problem(`refers to the environment variable ${reference} (\${${reference}}), which is not set`);
    return undefined;
  }
  return value;
}
