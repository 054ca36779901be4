import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  GatewayError,
  ledgerServiceOptions,
  loadGatewayConfig,
  parseGatewayConfig,
  resolveGatewayConfig,
  startGateway,
  type GatewayConfig,
  type GatewayDependencies,
  type RunningGateway,
} from '@tollgate/gateway';
import { isLedgerError, openLedgerServices } from '@tollgate/ledger';
import { parseSourceDocument } from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';

/** Configuration files `tollgate gateway` looks for when `--config` is not given, in order. */
export const DEFAULT_GATEWAY_CONFIGS = ['tollgate.gateway.yaml', 'tollgate.gateway.yml', 'tollgate.gateway.json'] as const;

/** What `tollgate gateway` reports once the gateway has stopped. */
export interface GatewayRunResult {
  readonly config: string;
  readonly stopped: string;
  /** The HTTP endpoint agents used, when HTTP was on. */
  readonly url: string | null;
}

/** How the configuration file is found and read (`tollgate gateway`, `tollgate gateway --check`). */
export interface ConfigFileOptions {
  /** The configuration file (default: the first of {@link DEFAULT_GATEWAY_CONFIGS} in `cwd`). */
  readonly config?: string;
  readonly cwd: string;
  /**
   * The ledger's PostgreSQL URL (`--database-url` or TOLLGATE_DATABASE_URL): it replaces the
   * file's `ledger.database_url`, so the password need not be written in the file.
   */
  readonly databaseUrl?: string;
}

/** Options of {@link runGateway}. */
export interface GatewayRunOptions extends ConfigFileOptions {
  /** Called once the gateway serves (the CLI prints where). */
  readonly onReady?: (gateway: RunningGateway) => void;
}

/**
 * Finds, reads and validates the gateway configuration, with the ledger's URL from
 * `databaseUrl` when given (validated with the rest of the file).
 *
 * @throws CliError exit 2 `config.missing`, or `config.invalid` naming every problem at file:line:col.
 */
export async function loadConfigFile(options: ConfigFileOptions): Promise<{ file: string; config: GatewayConfig }> {
  const file = options.config !== undefined ? resolve(options.cwd, options.config) : DEFAULT_GATEWAY_CONFIGS.map((f) => resolve(options.cwd, f)).find((f) => existsSync(f));
  if (file === undefined) {
    throw new CliError('config.missing', `no gateway configuration: pass --config <file> or create ${DEFAULT_GATEWAY_CONFIGS[0]} here`, {
      hint: 'See docs/gateway.md for the configuration reference.',
    });
  }
  try {
    if (options.databaseUrl === undefined || options.databaseUrl === '') return { file, config: await loadGatewayConfig(file) };
    const text = await readFile(file, 'utf8');
    const { document } = parseSourceDocument(text, file);
    const value = document?.value;
    // A file that does not parse, or is not an object, is reported by the loader as it is.
    if (!document || value === null || typeof value !== 'object' || Array.isArray(value)) return { file, config: parseGatewayConfig(text, file) };
    const root = value as Record<string, unknown>;
    const ledger = root['ledger'] !== null && typeof root['ledger'] === 'object' && !Array.isArray(root['ledger']) ? (root['ledger'] as Record<string, unknown>) : {};
    root['ledger'] = { ...ledger, database_url: options.databaseUrl };
    return { file, config: resolveGatewayConfig(document, dirname(file)) };
  } catch (error) {
    throw asCliError(error);
  }
}

/**
 * Loads the configuration, starts the gateway, and runs it until SIGTERM or SIGINT (graceful
 * shutdown: stop accepting, finish calls in flight, flush the ledger) or, for a stdio-only
 * gateway, until the agent disconnects.
 *
 * @throws CliError exit 2 for a bad configuration, policy, upstream, port or ledger.
 */
export async function runGateway(options: GatewayRunOptions): Promise<GatewayRunResult> {
  const { file, config } = await loadConfigFile(options);
  let gateway: RunningGateway;
  try {
    gateway = await startGateway(config, { services: gatewayServices(config) });
  } catch (error) {
    throw asCliError(error);
  }
  let stoppedBy = 'the stdio agent disconnected';
  const stop = (signal: NodeJS.Signals): void => {
    stoppedBy = signal;
    void gateway.shutdown(signal);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  options.onReady?.(gateway);
  try {
    await gateway.closed;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
  return { config: file, stopped: stoppedBy, url: gateway.http?.url ?? null };
}

/**
 * The composition root of a gateway: its ledger, limit and approval stores, opened on the
 * configured database (or embedded directory) once its policies loaded. The gateway sees them
 * only as interfaces.
 */
export function gatewayServices(config: GatewayConfig): GatewayDependencies['services'] {
  return ({ metrics, logger }) => openLedgerServices(ledgerServiceOptions(config, metrics, logger));
}

/** Maps the gateway's and ledger's coded errors to the CLI's (exit 2, with a hint). */
export function asCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof GatewayError) {
    const hints: Partial<Record<string, string>> = {
      'config.invalid': 'Fix the configuration (docs/gateway.md lists every key).',
      'policy.invalid': 'Run `tollgate lint` on the policy directory to see every finding.',
      'upstream.unavailable': 'Check the upstream command or URL in the configuration, and that the server starts on its own.',
      'listen.failed': 'Choose another port, or stop what is listening there.',
      'limits.unavailable': 'Run `tollgate ledger migrate` on the ledger database, or set limits.store to memory.',
      'policy.unavailable': 'Check policy.git (repo, ref, path) and that a bundle signed by a trusted key is committed there (tollgate bundle build, tollgate bundle sign).',
      'policy.state': 'Check that policy.state_dir is a writable directory that holds only what the gateway wrote there.',
    };
    return new CliError(error.code, error.message, { exit: ExitCode.input, hint: hints[error.code], cause: error });
  }
  if (isLedgerError(error)) {
    return new CliError(error.code, error.message, { exit: ExitCode.input, hint: error.code === 'ledger.not_migrated' ? 'Run `tollgate ledger migrate` first.' : undefined, cause: error });
  }
  return new CliError('internal', error instanceof Error ? error.message : String(error), { exit: ExitCode.input, cause: error });
}
