import { createHash } from 'node:crypto';

/**
 * Serialises a JSON value in the JSON Canonicalization Scheme (RFC 8785): object keys
 * sorted by UTF-16 code units, no insignificant white space, numbers as ECMAScript
 * prints them. Two equal documents always produce the same bytes, so digests and
 * signatures over them are stable.
 *
 * @example canonicalJson({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 * @throws TypeError on values JSON cannot carry (undefined, functions, non-finite numbers, bigint).
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(value: unknown, where: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${where}: ${value} cannot be represented in JSON`);
      // ECMAScript's Number-to-String is exactly RFC 8785's number format; -0 prints as 0.
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += write(value[i], `${where}[${i}]`);
        }
        return out + ']';
      }
      const obj = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 requires.
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        if (i > 0) out += ',';
        out += JSON.stringify(key) + ':' + write(obj[key], `${where}.${key}`);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`${where}: a ${typeof value} cannot be represented in JSON`);
  }
}

/** Hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hex SHA-256 of a value's canonical JSON: the digest Tollgate uses for arguments and policies. */
export function canonicalDigest(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
