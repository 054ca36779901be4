import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { describeSchemaErrors, parseDuration, resolveTrust, parseSourceDocument, valueAtPointer, type SchemaErrorWording, type SourceDocument } from '@tollgate/policy';
import { GatewayError, errorMessage, type ConfigProblem } from '../gateway-error.js';
import { resolveApprovalNotify, type RawApprovalNotify } from './approval-notify-config.js';
import { PROCESS_SUBSTITUTION_SOURCES, substituteSecrets, type SubstitutionSources } from './secret-substitution.js';
import { resolveTelemetry, type RawTelemetry } from './telemetry-config.js';
import { DEFAULT_ADMIN_CONNECTION_LIMITS, DEFAULT_HTTP_CONNECTION_LIMITS, DEFAULT_REQUEST_LIMITS, type AdminConnectionLimits, type GatewayConfig, type HttpConnectionLimits, type PolicySourceConfig, type TokenAgent, type TrustedKeyConfig, type UpstreamConfig } from './gateway-config.js';

const require = createRequire(import.meta.url);

/** The JSON Schema of the gateway configuration file. */
export const gatewayConfigSchema: Record<string, unknown> = require('../../schema/gateway-config.schema.json');

type Ajv2020Ctor = new (options: Record<string, unknown>) => { compile(schema: unknown): ValidateFunction };
let validator: ValidateFunction | undefined;

function validate(): ValidateFunction {
  if (!validator) {
    const Ajv2020 = (require('ajv/dist/2020') as { default: Ajv2020Ctor }).default;
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, coerceTypes: false, useDefaults: false });
    validator = ajv.compile(gatewayConfigSchema);
  }
  return validator;
}

/**
 * Reads, validates and defaults a gateway configuration file (JSON, or YAML for `.yaml`/`.yml`).
 * String values may hold `${NAME}` (an environment variable) and `${file:path}` (a file's
 * contents) references, so that secrets stay out of the file ({@link substituteSecrets}).
 *
 * @throws GatewayError `config.invalid` listing every problem at file:line:col.
 * @example
 * const config = await loadGatewayConfig('tollgate.gateway.yaml');
 */
export async function loadGatewayConfig(file: string, sources: SubstitutionSources = PROCESS_SUBSTITUTION_SOURCES): Promise<GatewayConfig> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new GatewayError('config.invalid', `cannot read the gateway configuration ${path}: ${errorMessage(error)}`, { cause: error });
  }
  return parseGatewayConfig(text, path, dirname(path), sources);
}

/**
 * Validates and defaults configuration text. Relative paths — of the configuration and of
 * `${file:…}` references — are resolved against the directory of `file` (or `baseDir` when given).
 *
 * @throws GatewayError `config.invalid` listing every problem at file:line:col.
 */
export function parseGatewayConfig(text: string, file: string, baseDir: string = dirname(resolve(file)), sources: SubstitutionSources = PROCESS_SUBSTITUTION_SOURCES): GatewayConfig {
  const parsed = parseSourceDocument(text, file);
  if (!parsed.document) {
    const problems = parsed.diagnostics.map((d) => ({ file: d.file, line: d.line, column: d.column, pointer: d.pointer ?? '', message: d.message }));
    throw invalid(problems);
  }
  return resolveGatewayConfig(parsed.document, baseDir, sources);
}

/**
 * Validates an already parsed configuration document and applies defaults. References in its
 * string values are substituted first — after parsing, so that what they are replaced by can
 * never change the document's structure, and before the schema checks what they hold.
 *
 * @throws GatewayError `config.invalid` listing every problem at file:line:col.
 */
export function resolveGatewayConfig(document: SourceDocument, baseDir: string, sources: SubstitutionSources = PROCESS_SUBSTITUTION_SOURCES): GatewayConfig {
  const problems: ConfigProblem[] = [];
  const at = (pointer: string, message: string): void => {
    const pos = document.positionOf(pointer);
    problems.push({ file: document.file, line: pos.line, column: pos.column, pointer, message });
  };
  const substituted = substituteSecrets(document.value, baseDir, sources);
  for (const p of substituted.problems) at(p.pointer, `${where(p.pointer)} ${p.message}`);
  if (problems.length > 0) throw invalid(problems);
  const check = validate();
  if (!check(substituted.value)) {
    // Described against the document as written: a substituted secret is never shown.
    const described = schemaProblems(check.errors ?? [], document).map((p) => {
      const reference = substituted.references.get(p.pointer);
      return reference === undefined ? p : { ...p, message: `${p.message} — after substituting ${reference} (the value itself is not shown)` };
    });
    throw invalid(described);
  }
  const raw = substituted.value as RawConfig;

  const seenTokens = new Map<string, number>();
  const seenIds = new Map<string, number>();
  (raw.agents ?? []).forEach((a, i) => {
    const sameToken = seenTokens.get(a.token_sha256);
    if (sameToken !== undefined) at(`/agents/${i}/token_sha256`, `agents[${i}] has the same token as agents[${sameToken}]: every agent needs its own token`);
    else seenTokens.set(a.token_sha256, i);
    const sameId = seenIds.get(a.id);
    if (sameId !== undefined) at(`/agents/${i}/id`, `agents[${i}] repeats the id "${a.id}" of agents[${sameId}]`);
    else seenIds.set(a.id, i);
  });
  // An approver's token must be theirs alone: were it also an agent's, that agent could decide its own calls.
  const approverIds = new Map<string, number>();
  (raw.approvals?.approvers ?? []).forEach((a, i) => {
    const where = `/approvals/approvers/${i}`;
    const agentToken = seenTokens.get(a.token_sha256);
    if (agentToken !== undefined) at(`${where}/token_sha256`, `approvals.approvers[${i}] has the same token as agents[${agentToken}]: an agent's token must never decide approvals`);
    else if (raw.admin && a.token_sha256 === raw.admin.token_sha256) at(`${where}/token_sha256`, `approvals.approvers[${i}] has the admin token: give each approver a token of their own`);
    const sameApproverToken = [...(raw.approvals?.approvers ?? [])].findIndex((b, j) => j < i && b.token_sha256 === a.token_sha256);
    if (sameApproverToken >= 0) at(`${where}/token_sha256`, `approvals.approvers[${i}] has the same token as approvals.approvers[${sameApproverToken}]: every approver needs their own token`);
    const sameId = approverIds.get(a.id);
    if (sameId !== undefined) at(`${where}/id`, `approvals.approvers[${i}] repeats the id "${a.id}" of approvals.approvers[${sameId}]`);
    else approverIds.set(a.id, i);
  });
  if (raw.listen.stdio !== true && raw.listen.http === undefined) at('/listen', 'listen must enable stdio (true) or http, or both');
  const policy = resolvePolicySource(raw.policy, baseDir, at);
  const connections = raw.listen.http ? resolveConnectionLimits(raw.listen.http, at) : undefined;
  const adminConnections = raw.admin ? resolveAdminLimits(raw.admin, at) : undefined;
  const notify = resolveApprovalNotify(raw.approvals, baseDir, at);
  const telemetry = resolveTelemetry(raw.telemetry, at);
  if (problems.length > 0) throw invalid(problems);

  const upstreams: UpstreamConfig[] = Object.entries(raw.upstreams).map(([name, u]): UpstreamConfig => {
    const timeoutMs = u.timeout ? parseDuration(u.timeout) : 60_000;
    if ('command' in u) {
      return { kind: 'stdio', name, command: u.command, args: [...(u.args ?? [])], env: { ...(u.env ?? {}) }, cwd: resolve(baseDir, u.cwd ?? '.'), timeoutMs };
    }
    return { kind: 'http', name, url: u.url, headers: { ...(u.headers ?? {}) }, timeoutMs };
  });
  const http = raw.listen.http;
  const config: GatewayConfig = {
    file: document.file,
    listen: {
      stdio: raw.listen.stdio === true,
      http: http
        ? {
            host: http.host ?? '127.0.0.1',
            port: http.port ?? 8080,
            path: http.path ?? '/mcp',
            allowedOrigins: [...(http.allowed_origins ?? [])],
            sessionIdleTimeoutMs: http.session_idle_timeout ? parseDuration(http.session_idle_timeout) : 30 * 60_000,
            publicOrigin: http.public_origin?.replace(/\/$/, ''),
            connections: connections!,
          }
        : undefined,
    },
    agent: raw.agent ? { id: raw.agent.id, labels: { ...(raw.agent.labels ?? {}) } } : undefined,
    agents: (raw.agents ?? []).map((a): TokenAgent => ({ id: a.id, token_sha256: a.token_sha256, labels: { ...(a.labels ?? {}) } })),
    upstreams,
    policy: policy!,
    ledger: {
      databaseUrl: raw.ledger?.database_url,
      dataDir: resolve(baseDir, raw.ledger?.data_dir ?? '.tollgate/ledger'),
      redact: (raw.ledger?.redact ?? []).map((r) => ({ ...(r.server ? { server: r.server } : {}), ...(r.tool ? { tool: r.tool } : {}), pointers: [...r.pointers] })),
      awaitOutcome: raw.ledger?.await_outcome ?? false,
      maxBatchDelayMs: raw.ledger?.max_batch_delay_ms ?? 0,
      migrate: raw.ledger?.migrate ?? raw.ledger?.database_url === undefined,
    },
    // `auto`: in the ledger's database, PostgreSQL or the embedded one that every gateway on this
    // machine shares, so a limit holds across all of them and across restarts.
    limits: { store: (raw.limits?.store ?? 'auto') === 'auto' ? 'postgres' : (raw.limits!.store as 'memory' | 'postgres') },
    requests: {
      maxBytes: raw.requests?.max_bytes ?? DEFAULT_REQUEST_LIMITS.maxBytes,
      maxDepth: raw.requests?.max_depth ?? DEFAULT_REQUEST_LIMITS.maxDepth,
      decisionTimeoutMs: raw.requests?.decision_timeout ? parseDuration(raw.requests.decision_timeout) : DEFAULT_REQUEST_LIMITS.decisionTimeoutMs,
    },
    admin: raw.admin ? { host: raw.admin.host ?? '127.0.0.1', port: raw.admin.port ?? 8081, tokenSha256: raw.admin.token_sha256, connections: adminConnections! } : undefined,
    approvals: {
      mode: raw.approvals?.mode ?? 'hold',
      timeoutMs: raw.approvals?.timeout ? parseDuration(raw.approvals.timeout) : 10 * 60_000,
      holdMaxMs: raw.approvals?.hold_max ? parseDuration(raw.approvals.hold_max) : 45_000,
      progressIntervalMs: raw.approvals?.progress_interval ? parseDuration(raw.approvals.progress_interval) : 15_000,
      approvers: (raw.approvals?.approvers ?? []).map((a) => ({ id: a.id, token_sha256: a.token_sha256, groups: [...(a.groups ?? [])] })),
      ...notify,
    },
    log: { level: raw.log?.level ?? 'info' },
    telemetry,
    shutdownTimeoutMs: raw.shutdown_timeout ? parseDuration(raw.shutdown_timeout) : 30_000,
  };
  return deepFreeze(config);
}

interface RawHttpListen {
  host?: string;
  port?: number;
  path?: string;
  allowed_origins?: string[];
  session_idle_timeout?: string;
  public_origin?: string;
  headers_timeout?: string;
  request_timeout?: string;
  idle_timeout?: string;
  max_connections?: number;
  max_connections_per_agent?: number;
  max_sessions_per_agent?: number;
}

interface RawAdmin {
  host?: string;
  port?: number;
  token_sha256: string;
  headers_timeout?: string;
  request_timeout?: string;
  idle_timeout?: string;
  max_connections?: number;
}

interface RawConfig {
  listen: { stdio?: boolean; http?: RawHttpListen };
  agent?: { id: string; labels?: Record<string, string> };
  agents?: Array<{ id: string; token_sha256: string; labels?: Record<string, string> }>;
  upstreams: Record<string, { command: string; args?: string[]; env?: Record<string, string>; cwd?: string; timeout?: string } | { url: string; headers?: Record<string, string>; timeout?: string }>;
  policy: RawPolicy;
  ledger?: { database_url?: string; data_dir?: string; redact?: Array<{ server?: string; tool?: string; pointers: string[] }>; await_outcome?: boolean; max_batch_delay_ms?: number; migrate?: boolean };
  limits?: { store?: 'auto' | 'memory' | 'postgres' };
  requests?: { max_bytes?: number; max_depth?: number; decision_timeout?: string };
  admin?: RawAdmin;
  approvals?: RawApprovalNotify & {
    mode?: 'hold' | 'retry';
    timeout?: string;
    hold_max?: string;
    progress_interval?: string;
    approvers?: Array<{ id: string; token_sha256: string; groups?: string[] }>;
  };
  log?: { level?: GatewayConfig['log']['level'] };
  telemetry?: RawTelemetry;
  shutdown_timeout?: string;
}

interface RawPolicy {
  dir?: string;
  git?: { repo: string; ref?: string; path?: string; poll?: string; watch?: boolean };
  trust?: { keys: Array<{ keyid?: string; public_key: string }>; threshold?: number };
  state_dir?: string;
}

/** The shortest `headers_timeout`, `request_timeout` or `idle_timeout` accepted: below it, ordinary clients would be cut off. */
const MIN_CONNECTION_TIMEOUT_MS = 100;

/** Applies the defaults of `listen.http`'s connection bounds and checks how they relate; reports at `/listen/http/...`. */
function resolveConnectionLimits(raw: RawHttpListen, at: (pointer: string, message: string) => void): HttpConnectionLimits {
  const d = DEFAULT_HTTP_CONNECTION_LIMITS;
  const duration = (key: 'headers_timeout' | 'request_timeout' | 'idle_timeout', fallback: number): number => {
    const value = raw[key];
    if (value === undefined) return fallback;
    const ms = parseDuration(value);
    if (ms < MIN_CONNECTION_TIMEOUT_MS) at(`/listen/http/${key}`, `listen.http.${key} must be at least ${MIN_CONNECTION_TIMEOUT_MS}ms (got "${value}")`);
    return ms;
  };
  const headersTimeoutMs = duration('headers_timeout', d.headersTimeoutMs);
  // An explicit headers_timeout longer than the default request_timeout raises the default with it.
  const requestTimeoutMs = duration('request_timeout', Math.max(d.requestTimeoutMs, headersTimeoutMs));
  if (headersTimeoutMs > requestTimeoutMs) {
    // Only an explicit request_timeout can be shorter: the headers are part of the request.
    const headers = raw.headers_timeout === undefined ? `${d.headersTimeoutMs / 1000}s by default` : `"${raw.headers_timeout}"`;
    at(
      raw.headers_timeout === undefined ? '/listen/http/request_timeout' : '/listen/http/headers_timeout',
      `listen.http.request_timeout ("${raw.request_timeout}") must be at least listen.http.headers_timeout (${headers}): the headers are part of the request`,
    );
  }
  const maxConnections = raw.max_connections ?? d.maxConnections;
  if (raw.max_connections_per_agent !== undefined && raw.max_connections_per_agent > maxConnections) {
    at('/listen/http/max_connections_per_agent', `listen.http.max_connections_per_agent (${raw.max_connections_per_agent}) must not be more than listen.http.max_connections (${maxConnections})`);
  }
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    idleTimeoutMs: duration('idle_timeout', d.idleTimeoutMs),
    maxConnections,
    maxConnectionsPerAgent: raw.max_connections_per_agent ?? Math.min(d.maxConnectionsPerAgent, maxConnections),
    maxSessionsPerAgent: raw.max_sessions_per_agent ?? d.maxSessionsPerAgent,
  };
}

/** Applies the defaults of `admin`'s connection bounds and checks how they relate; reports at `/admin/...`. */
function resolveAdminLimits(raw: RawAdmin, at: (pointer: string, message: string) => void): AdminConnectionLimits {
  const d = DEFAULT_ADMIN_CONNECTION_LIMITS;
  const duration = (key: 'headers_timeout' | 'request_timeout' | 'idle_timeout', fallback: number): number => {
    const value = raw[key];
    if (value === undefined) return fallback;
    const ms = parseDuration(value);
    if (ms < MIN_CONNECTION_TIMEOUT_MS) at(`/admin/${key}`, `admin.${key} must be at least ${MIN_CONNECTION_TIMEOUT_MS}ms (got "${value}")`);
    return ms;
  };
  const headersTimeoutMs = duration('headers_timeout', d.headersTimeoutMs);
  const requestTimeoutMs = duration('request_timeout', Math.max(d.requestTimeoutMs, headersTimeoutMs));
  if (headersTimeoutMs > requestTimeoutMs) {
    at(
      raw.headers_timeout === undefined ? '/admin/request_timeout' : '/admin/headers_timeout',
      `admin.request_timeout ("${raw.request_timeout}") must be at least admin.headers_timeout (${raw.headers_timeout === undefined ? `${d.headersTimeoutMs / 1000}s by default` : `"${raw.headers_timeout}"`}): the headers are part of the request`,
    );
  }
  return { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs: duration('idle_timeout', d.idleTimeoutMs), maxConnections: raw.max_connections ?? d.maxConnections };
}

/** A remote repository: a URL with a scheme (`file://`, `https://`, `ssh://`, …) or scp-like `user@host:path`. */
const REMOTE_REPO = /^(?:[a-z][a-z0-9+.-]*:\/\/|[\w.-]+@[\w.-]+:)/i;

/** Checks the combinations the schema cannot express and resolves paths and defaults; undefined when a problem was reported. */
function resolvePolicySource(raw: RawPolicy, baseDir: string, at: (pointer: string, message: string) => void): PolicySourceConfig | undefined {
  if (raw.dir !== undefined && raw.git !== undefined) {
    at('/policy', 'policy takes either "dir" (a policy directory) or "git" (a signed bundle in a Git repository), not both');
    return undefined;
  }
  if (raw.dir !== undefined) {
    for (const key of ['trust', 'state_dir'] as const) {
      if (raw[key] !== undefined) at(`/policy/${key}`, `policy.${key} belongs to a Git policy source (policy.git); a policy directory is not signed`);
    }
    return { kind: 'dir', dir: resolve(baseDir, raw.dir) };
  }
  if (raw.git === undefined) {
    at('/policy', 'policy needs "dir" (a policy directory, e.g. { dir: "policies" }) or "git" (a signed bundle, e.g. { git: { repo: "..." }, trust: { keys: [...] } })');
    return undefined;
  }
  if (raw.trust === undefined) {
    at('/policy', 'policy.git needs policy.trust: the public keys whose signatures the gateway accepts, e.g. trust: { keys: [{ public_key: "<PEM>" }], threshold: 1 }');
    return undefined;
  }
  const keys: TrustedKeyConfig[] = raw.trust.keys.map((k) => ({ ...(k.keyid !== undefined ? { keyid: k.keyid } : {}), public_key: k.public_key }));
  const threshold = raw.trust.threshold ?? 1;
  try {
    // The verifier's own reading of the trust configuration: every key Ed25519, every keyid its key's, a reachable threshold.
    resolveTrust(keys, threshold);
  } catch (error) {
    at('/policy/trust', `policy.trust: ${errorMessage(error)}`);
  }
  const git = raw.git;
  const remote = REMOTE_REPO.test(git.repo);
  const poll = git.poll ?? '2s';
  const pollMs = poll === '0' || poll === 'off' ? 0 : parseDuration(poll);
  if (remote && git.watch === true) at('/policy/git/watch', 'policy.git.watch needs a local repository: a remote one is polled (policy.git.poll)');
  const watch = !remote && (git.watch ?? true);
  if (pollMs === 0 && !watch) {
    at('/policy/git/poll', `policy.git.poll is "${poll}" and nothing watches the repository: the gateway would never see a new bundle; set a duration like "2s"${remote ? '' : ' or watch: true'}`);
  }
  return {
    kind: 'git',
    git: { repo: remote ? git.repo : resolve(baseDir, git.repo), remote, ref: git.ref ?? 'main', path: git.path ?? 'bundles/bundle.json', pollMs, watch },
    trust: { keys, threshold },
    stateDir: resolve(baseDir, raw.state_dir ?? '.tollgate/policy'),
  };
}

function invalid(problems: readonly ConfigProblem[]): GatewayError {
  const lines = problems.slice(0, 20).map((p) => `  ${p.file}:${p.line}:${p.column}: ${p.message}`);
  const more = problems.length > 20 ? `\n  … and ${problems.length - 20} more` : '';
  return new GatewayError('config.invalid', `invalid gateway configuration:\n${lines.join('\n')}${more}`, { problems });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function where(pointer: string): string {
  return pointer === '' ? 'the configuration' : pointer.slice(1).replace(/\//g, '.');
}

function schemaProblems(errors: readonly ErrorObject[], document: SourceDocument): ConfigProblem[] {
  // A failing oneOf (stdio or HTTP upstream) reports each branch's errors; keep those of the
  // branch the entry was meant to be (it has `command` or `url`), else the combinator's own.
  const value = document.value;
  const kept = errors.filter((e) => {
    // A bad property name is reported once, by the propertyNames error itself.
    if (e.keyword === 'if' || e.propertyName !== undefined) return false;
    const branch = /\/oneOf\/(\d)\//.exec(e.schemaPath);
    if (!branch) return true;
    const entry = valueAtPointer(value, e.instancePath.split('/').slice(0, 3).join('/'));
    const meant = entry !== null && typeof entry === 'object' && 'url' in entry && !('command' in entry) ? '1' : '0';
    return branch[1] === meant;
  });
  // The combinator's own error speaks only when the meant branch said nothing more precise.
  const said = kept.filter((e) => !(e.keyword === 'oneOf' && kept.some((o) => o !== e && o.instancePath.startsWith(e.instancePath))));
  return describeSchemaErrors(said, document, CONFIG_WORDING).map(({ file, line, column, pointer, message }) => ({ file, line, column, pointer, message }));
}

/** How schema errors in a gateway configuration are worded. */
const CONFIG_WORDING: SchemaErrorWording = {
  where,
  patterns: [
    [/\/(timeout|session_idle_timeout|shutdown_timeout|decision_timeout|hold_max|progress_interval|headers_timeout|request_timeout|idle_timeout|backoff|max_backoff|sweep|schedule_delay|interval)$/, 'must be a duration like "500ms", "30s", "10m" or "1h"'],
    [/\/policy\/git\/poll$/, 'must be a duration like "500ms", "2s" or "1m", or "0"/"off" to rely on watching alone'],
    [/\/policy\/git\/path$/, 'must be a path inside the repository, like "bundles/bundle.json" (no leading "/")'],
    [/\/keyid$/, 'must be 64 lower-case hex digits (the SHA-256 of the public key)'],
    [/sha256$/, 'must be 64 lower-case hex digits (the SHA-256 of the token)'],
    [/\/url$/, 'must be an http:// or https:// URL'],
    [/^\/telemetry\/.*endpoint$/, 'must be an http:// or https:// URL, like "http://127.0.0.1:4318"'],
    [/\/public_origin$/, 'must be an origin like "https://gateway.example.com" (scheme, host and port; no path)'],
    [/\/console_url$/, 'must be an http:// or https:// URL with no query or fragment, like "https://tollgate.example.com"'],
    [/\/notify\/\d+\/id$/, 'must be letters, digits, ".", "_" and "-" (at most 64), starting with a letter or digit'],
    [/\/database_url$/, 'must be a postgres:// URL'],
    [/\/path$/, 'must start with "/"'],
  ],
  special: (e, { where: at }) => {
    const p = e.instancePath;
    const params = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'required': {
        const missing = String(params.missingProperty);
        if (p === '' && missing === 'agent') return { pointer: p, message: `${at} is missing the required key "agent": a stdio gateway runs as one configured agent, e.g. agent: { id: "desk-bot" }`, at: 'value' };
        if (p === '' && missing === 'agents') return { pointer: p, message: `${at} is missing the required key "agents": HTTP agents authenticate with a bearer token, e.g. agents: [{ id: "trader-1", token_sha256: "<hex>" }]`, at: 'value' };
        return undefined;
      }
      case 'propertyNames': {
        const name = String(params.propertyName);
        return {
          pointer: `${p}/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`,
          message: `"${name}" is not a valid upstream name: use letters, digits, "-" and single "_" (never "__", the tool-name prefix separator)`,
          at: 'key',
        };
      }
      case 'oneOf':
        return { pointer: p, message: `${at} must be a stdio upstream { command, args?, env?, cwd? } or an HTTP upstream { url, headers? }`, at: 'value' };
      case 'minProperties':
        return p === '/upstreams' ? { pointer: p, message: 'upstreams must name at least one MCP server', at: 'value' } : undefined;
      default:
        return undefined;
    }
  },
};
