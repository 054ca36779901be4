import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DirectoryPolicySource,
  GitLocalBundleReader,
  GitRemoteBundleReader,
  HttpUpstream,
  StdioUpstream,
  errorMessage,
  type GatewayConfig,
  type GitBundleReader,
  type Upstream,
} from '@tollgate/gateway';
import { MIGRATION_TABLE, connectLedger, defaultMigrationsDir, isLedgerError, readMigrationFiles, redactDatabaseUrl } from '@tollgate/ledger';
import { MemoryLimitStore, verifyBundleText, type Policy } from '@tollgate/policy';
import { pino } from 'pino';
import { ExitCode } from '../cli-error.js';
import { loadConfigFile, type ConfigFileOptions } from './gateway-runner.js';

/** One finding of {@link checkGateway}. */
export interface GatewayCheck {
  /** What was checked: the configuration, a policy, an upstream, the ledger, the limit store, a listener, an OTLP export. */
  readonly what: 'config' | 'policy' | 'upstream' | 'ledger' | 'limits' | 'listen' | 'telemetry';
  /** Which one: the upstream's or policy's server name, the ledger's location, a URL. */
  readonly name: string;
  /** `ok`, `warning` (it would start, but look at this) or `error` (it would not start, or would refuse calls). */
  readonly status: 'ok' | 'warning' | 'error';
  readonly detail: string;
}

/** What `tollgate gateway --check` reports. */
export interface GatewayCheckReport {
  /** The configuration file (absolute). */
  readonly config: string;
  /** True when nothing is an error. */
  readonly ok: boolean;
  readonly checks: readonly GatewayCheck[];
  /** `N ok, N warnings, N errors`. */
  readonly summary: string;
}

/** Options of {@link checkGateway}. */
export type GatewayCheckOptions = ConfigFileOptions;

const silent = pino({ level: 'silent' });

/** The policy document's tool names (what an upstream is expected to list). */
function policyTools(policy: Policy): string[] {
  return Object.keys(policy.tools ?? {});
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `tollgate gateway --check`: everything `tollgate gateway` needs before it serves, tried
 * without serving and without writing anything — the configuration is validated; each
 * upstream is started (stdio) or reached (HTTP), initialized and asked for its tools; each
 * upstream's policy is loaded and compiled (from `policy.dir`), or the signed bundle is read
 * from the Git repository (into a temporary clone for a remote) and verified against the
 * trusted keys with its tests; the ledger is reached and its migrations compared with the
 * ones this CLI carries (the embedded ledger is not created when it does not exist yet); each
 * OTLP endpoint is sent an empty export. Tools a policy names that its upstream does not list,
 * and a collector that does not take an export (calls never wait for telemetry), are warnings.
 *
 * @throws CliError exit 2 when the configuration is missing or invalid (every problem at file:line:col).
 */
export async function checkGateway(options: GatewayCheckOptions): Promise<GatewayCheckReport> {
  const { file, config } = await loadConfigFile(options);
  const checks: GatewayCheck[] = [{ what: 'config', name: file, status: 'ok', detail: `valid: ${config.upstreams.length} upstream(s), policy from ${config.policy.kind === 'git' ? 'a signed bundle in Git' : 'a directory'}` }];

  const policies = await checkPolicies(config, checks);
  for (const upstream of config.upstreams) checks.push(await checkUpstream(upstream.kind === 'stdio' ? new StdioUpstream(upstream, silent) : new HttpUpstream(upstream, silent), upstream.timeoutMs, policies.get(upstream.name)));
  checks.push(...(await checkLedger(config)));
  checks.push(...(await checkTelemetry(config)));
  if (config.listen.http) checks.push({ what: 'listen', name: `http://${config.listen.http.host}:${config.listen.http.port}${config.listen.http.path}`, status: 'ok', detail: `agents would connect here (${config.agents.length} token agent(s)); the port is not bound by --check` });
  if (config.listen.stdio) checks.push({ what: 'listen', name: 'stdio', status: 'ok', detail: `one agent over stdio, as ${config.agent?.id ?? 'the configured agent'}` });
  if (config.admin) checks.push({ what: 'listen', name: `http://${config.admin.host}:${config.admin.port}`, status: 'ok', detail: 'the admin API (/healthz, /readyz, /policy, /metrics) would listen here' });

  const count = (status: GatewayCheck['status']): number => checks.filter((c) => c.status === status).length;
  const errors = count('error');
  const warnings = count('warning');
  return { config: file, ok: errors === 0, checks, summary: `${count('ok')} ok, ${warnings} warning${warnings === 1 ? '' : 's'}, ${errors} error${errors === 1 ? '' : 's'}` };
}

/** The exit status of `gateway --check`: 0 it would start, 1 something it needs fails. */
export function gatewayCheckExitCode(report: GatewayCheckReport): number {
  return report.ok ? ExitCode.ok : ExitCode.findings;
}

async function checkPolicies(config: GatewayConfig, checks: GatewayCheck[]): Promise<Map<string, Policy>> {
  const found = new Map<string, Policy>();
  const servers = config.upstreams.map((u) => u.name);
  if (config.policy.kind === 'dir') {
    for (const server of servers) {
      try {
        const source = await DirectoryPolicySource.load({ dir: config.policy.dir, servers: [server], limits: new MemoryLimitStore() });
        const active = source.active().get(server)!;
        found.set(server, active.policy.policy);
        checks.push({ what: 'policy', name: server, status: 'ok', detail: `${active.source} compiles (digest ${active.policy.digest.slice(0, 12)})` });
      } catch (error) {
        checks.push({ what: 'policy', name: server, status: 'error', detail: errorMessage(error) });
      }
    }
    return found;
  }
  const git = config.policy;
  // A remote is cloned into a scratch directory: the check leaves the gateway's state alone.
  const scratch = git.git.remote ? await mkdtemp(join(tmpdir(), 'tollgate-gateway-check-')) : undefined;
  const reader: GitBundleReader = git.git.remote
    ? new GitRemoteBundleReader({ url: git.git.repo, ref: git.git.ref, path: git.git.path, stateDir: scratch! })
    : new GitLocalBundleReader({ repo: git.git.repo, ref: git.git.ref, path: git.git.path });
  try {
    const commit = await reader.resolve();
    const text = await reader.read(commit);
    const verdict = verifyBundleText(text, { trust: git.trust.keys, threshold: git.trust.threshold, now: Date.now() }, reader.location);
    if (!verdict.ok) {
      checks.push({ what: 'policy', name: reader.location, status: 'error', detail: `the bundle at commit ${commit.slice(0, 12)} is refused (${verdict.refusal.code}): ${verdict.refusal.message}` });
      return found;
    }
    checks.push({ what: 'policy', name: reader.location, status: 'ok', detail: `bundle revision ${verdict.revision} at commit ${commit.slice(0, 12)}, signed by ${verdict.signers.join(', ')}, verified with its tests` });
    for (const server of servers) {
      const policy = verdict.policies.get(server);
      if (policy) {
        found.set(server, policy.policy);
        checks.push({ what: 'policy', name: server, status: 'ok', detail: `in the bundle (digest ${policy.digest.slice(0, 12)})` });
      } else checks.push({ what: 'policy', name: server, status: 'error', detail: `the bundle has no policy for upstream "${server}": every call to it would be refused` });
    }
  } catch (error) {
    checks.push({ what: 'policy', name: reader.location, status: 'error', detail: errorMessage(error) });
  } finally {
    await reader.close().catch(() => undefined);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
  return found;
}

async function checkUpstream(upstream: Upstream, timeoutMs: number, policy: Policy | undefined): Promise<GatewayCheck> {
  try {
    const info = await withTimeout(upstream.connect(), timeoutMs, `upstream "${upstream.name}"`);
    const listed = (await withTimeout(upstream.request({ method: 'tools/list' }), timeoutMs, `upstream "${upstream.name}"`)) as { tools?: Array<{ name: string }> };
    const names = new Set((listed.tools ?? []).map((t) => t.name));
    const server = info.serverInfo ? `${info.serverInfo.name} ${info.serverInfo.version}` : 'a server';
    const missing = policy ? policyTools(policy).filter((t) => !names.has(t)) : [];
    if (missing.length > 0) {
      return { what: 'upstream', name: upstream.name, status: 'warning', detail: `${server} lists ${names.size} tools, but not ${missing.map((t) => `"${t}"`).join(', ')} that its policy names (renamed or removed? run tollgate catalog pull)` };
    }
    return { what: 'upstream', name: upstream.name, status: 'ok', detail: `${server} answers, ${names.size} tools` };
  } catch (error) {
    return { what: 'upstream', name: upstream.name, status: 'error', detail: `cannot connect: ${errorMessage(error)}` };
  } finally {
    await upstream.close().catch(() => undefined);
  }
}

/** Whether a statement failed because its table does not exist (SQLSTATE 42P01): the schema is not migrated. */
function missingTable(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === '42P01' || (isLedgerError(e) && e.code === 'ledger.not_migrated')) return true;
  }
  return /relation "[^"]+" does not exist/.test(errorMessage(error));
}

async function checkLedger(config: GatewayConfig): Promise<GatewayCheck[]> {
  const { databaseUrl, dataDir, migrate } = config.ledger;
  const shipped = readMigrationFiles(defaultMigrationsDir()).map((m) => m.name);
  if (!databaseUrl) {
    const { existsSync } = await import('node:fs');
    if (!existsSync(dataDir)) {
      return [{ what: 'ledger', name: dataDir, status: migrate ? 'ok' : 'warning', detail: `the embedded ledger does not exist yet; it is created${migrate ? ' and migrated' : ''} on first start${migrate ? '' : ' (ledger.migrate is off: run tollgate ledger migrate --data-dir first)'}` }];
    }
  }
  let connection;
  try {
    connection = await connectLedger(databaseUrl ? { databaseUrl } : { dataDir, create: false });
  } catch (error) {
    return [{ what: 'ledger', name: databaseUrl ? redactDatabaseUrl(databaseUrl) : dataDir, status: 'error', detail: `cannot connect: ${isLedgerError(error) ? error.message : errorMessage(error)}` }];
  }
  try {
    let applied: string[] | undefined;
    try {
      const rows = await connection.execute<{ name: string }>(`SELECT name FROM ${MIGRATION_TABLE}`);
      applied = rows.rows.map((r) => r.name);
    } catch (error) {
      if (!missingTable(error)) {
        // The gateway's own role may read only the ledger's tables, not the migrations' record:
        // then what it needs is probed directly.
        const missing: string[] = [];
        for (const table of ['ledger_events', ...(config.limits.store === 'postgres' ? ['limit_counters'] : [])]) {
          try {
            await connection.execute(`SELECT 1 FROM ${table} LIMIT 0`);
          } catch (probe) {
            missing.push(`${table} (${errorMessage(probe)})`);
          }
        }
        if (missing.length > 0) return [{ what: 'ledger', name: connection.location, status: 'error', detail: `reachable, but this role cannot read ${missing.join(', ')}; run tollgate ledger migrate, and grant tollgate_writer to the gateway's role` }];
        return [
          { what: 'ledger', name: connection.location, status: 'ok', detail: `reachable; the ledger's tables are readable by this role (it may not read ${MIGRATION_TABLE}, so pending migrations are not known)` },
          ...(config.limits.store === 'postgres' ? [{ what: 'limits' as const, name: 'postgres', status: 'ok' as const, detail: 'limit counters shared by replicas in the ledger database' }] : []),
        ];
      }
      applied = [];
    }
    const pending = shipped.filter((m) => !applied.includes(m));
    const checks: GatewayCheck[] = [];
    if (pending.length === 0) checks.push({ what: 'ledger', name: connection.location, status: 'ok', detail: `reachable, ${applied.length} migrations applied` });
    else if (migrate) checks.push({ what: 'ledger', name: connection.location, status: 'ok', detail: `reachable; ${pending.length} migration(s) to apply at start (ledger.migrate): ${pending.join(', ')}` });
    else checks.push({ what: 'ledger', name: connection.location, status: 'error', detail: `reachable, but not migrated: ${pending.join(', ')} not applied; run tollgate ledger migrate` });
    if (config.limits.store === 'postgres') {
      const ready = pending.length === 0 || migrate;
      checks.push({ what: 'limits', name: 'postgres', status: ready ? 'ok' : 'error', detail: ready ? 'limit counters shared by replicas in the ledger database' : 'the limit counters table needs the ledger migrations' });
    }
    return checks;
  } finally {
    await connection.close();
  }
}


/**
 * Each OTLP/HTTP endpoint of `telemetry` is sent an empty export (no spans, no metrics) with the
 * configured headers, within the export timeout: a collector that takes it would take the
 * gateway's. A refusal or no answer is a warning — the gateway starts and serves without its
 * telemetry, which never holds a call up.
 */
async function checkTelemetry(config: GatewayConfig): Promise<GatewayCheck[]> {
  const telemetry = config.telemetry;
  if (!telemetry) return [];
  const exports = [
    ...(telemetry.traces ? [{ signal: 'traces', url: telemetry.traces.url, body: '{"resourceSpans":[]}' }] : []),
    ...(telemetry.metrics ? [{ signal: 'metrics', url: telemetry.metrics.url, body: '{"resourceMetrics":[]}' }] : []),
  ];
  return Promise.all(
    exports.map(async ({ signal, url, body }): Promise<GatewayCheck> => {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { ...telemetry.headers, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(telemetry.exportTimeoutMs),
        });
        await response.body?.cancel();
        if (response.ok) return { what: 'telemetry', name: url, status: 'ok', detail: `the collector takes ${signal} (an empty export answered ${response.status})` };
        return { what: 'telemetry', name: url, status: 'warning', detail: `the collector refuses ${signal}: an empty export answered ${response.status} ${response.statusText}; check telemetry.otlp (endpoint, headers)` };
      } catch (error) {
        const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${telemetry.exportTimeoutMs} ms` : errorMessage((error as { cause?: unknown }).cause ?? error);
        return { what: 'telemetry', name: url, status: 'warning', detail: `cannot export ${signal}: ${reason}; the gateway would serve without them` };
      }
    }),
  );
}
