import { CliError, ExitCode } from '../cli-error.js';

/** Where a running gateway's admin API is, and the bearer token to present. */
export interface AdminConnection {
  /** The admin API's base URL, e.g. `http://127.0.0.1:8081`. */
  readonly adminUrl: string;
  /** An admin or approver bearer token. */
  readonly token: string | undefined;
  /** Give up after this many milliseconds (default 5000). */
  readonly timeoutMs?: number;
}

/** An answer of the admin API: its status and JSON body (undefined when it was not JSON). */
export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly url: URL;
}

/**
 * Sends one request to a gateway's admin API and reads its JSON answer. A 401 becomes
 * `admin.unauthorized` (exit 2) naming the token option to use; every other status is the
 * caller's to judge.
 *
 * @throws CliError `usage` for a malformed --admin-url, `admin.unreachable` (exit 2) when
 *   nothing answers in time, `admin.unauthorized` (exit 2) for a missing or refused token.
 */
export async function adminRequest(connection: AdminConnection, path: string, init: { method?: string; body?: unknown; tokenHint: string }): Promise<AdminAnswer> {
  let url: URL;
  try {
    url = new URL(path, connection.adminUrl);
  } catch {
    throw new CliError('usage', `--admin-url: "${connection.adminUrl}" is not a URL`, { hint: "Give the admin API as http://<host>:<port>, the gateway config's admin.host and admin.port." });
  }
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method ?? 'GET',
      headers: {
        ...(connection.token ? { authorization: `Bearer ${connection.token}` } : {}),
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(connection.timeoutMs ?? 5000),
    });
  } catch (error) {
    const why = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    throw new CliError('admin.unreachable', `the gateway's admin API at ${url.origin} is unreachable: ${why}`, {
      exit: ExitCode.input,
      hint: 'Is the gateway running with an `admin` section in its configuration? Check --admin-url.',
      cause: error,
    });
  }
  if (res.status === 401) {
    throw new CliError('admin.unauthorized', `the admin API at ${url.origin} refused the ${connection.token ? 'token' : 'request: no token was given'}`, {
      exit: ExitCode.input,
      hint: init.tokenHint,
    });
  }
  const body = (await res.json().catch(() => undefined)) as unknown;
  return { status: res.status, body, url };
}
