import { Flags } from '@oclif/core';
import { CliError, ExitCode } from '../cli-error.js';

/** The flags of commands that connect to an MCP server (`catalog pull`, `init --from-server`). */
export const connectFlags = {
  timeout: Flags.integer({ default: 30, min: 1, description: 'seconds to wait for the server to start and list its tools' }),
  header: Flags.string({ multiple: true, description: 'an HTTP header for a Streamable HTTP server, "Name: value" (repeatable)', helpValue: '<name: value>' }),
};

/**
 * Turns `--header "Name: value"` flags into a header map.
 *
 * @throws CliError exit 2 `usage` for a header without a name or colon.
 */
export function parseHeaders(headers: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of headers ?? []) {
    const at = h.indexOf(':');
    const name = at > 0 ? h.slice(0, at).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new CliError('usage', `--header ${JSON.stringify(h)}: expected "Name: value"`, { exit: ExitCode.input, hint: 'e.g. --header "Authorization: Bearer $TOKEN"' });
    }
    out[name] = h.slice(at + 1).trim();
  }
  return out;
}
