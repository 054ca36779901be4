import type { Agent } from '@tollgate/policy';

/** An upstream MCP server started as a child process speaking MCP on stdio. */
export interface StdioUpstreamConfig {
  readonly kind: 'stdio';
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Extra environment variables, on top of a safe default environment (PATH, HOME, …). */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory of the child (absolute). */
  readonly cwd: string;
  /** How long one request may take, in milliseconds. */
  readonly timeoutMs: number;
}

/** An upstream MCP server reached over Streamable HTTP. */
export interface HttpUpstreamConfig {
  readonly kind: 'http';
  readonly name: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** How long one request may take, in milliseconds. */
  readonly timeoutMs: number;
}

/** One upstream, by transport. */
export type UpstreamConfig = StdioUpstreamConfig | HttpUpstreamConfig;

/** Someone who may decide approvals: their id, the SHA-256 of their admin-API bearer token, and their groups. */
export interface ApproverConfig {
  readonly id: string;
  readonly token_sha256: string;
  readonly groups: readonly string[];
}

/** The approval events a webhook may be told of. */
export type ApprovalNotifyEvent = 'requested' | 'granted' | 'denied' | 'expired';

/** A webhook told of approval events (one entry of `approvals.notify`), defaulted. */
export interface WebhookReceiverConfig {
  /** Its name in delivery records (given, or the URL's host and a hash of the URL). */
  readonly id: string;
  readonly url: string;
  /** The key of the `X-Tollgate-Signature` HMAC (from `secret` or `secret_file`); always set for `json`. */
  readonly secret: string | undefined;
  readonly events: readonly ApprovalNotifyEvent[];
  readonly format: 'json' | 'slack';
  /** How long one attempt may take (ms). */
  readonly timeoutMs: number;
  /** The most attempts at each notification. */
  readonly attempts: number;
  /** The wait after the first failed attempt (ms); doubled after each further one. */
  readonly backoffMs: number;
  /** The longest wait between attempts (ms). */
  readonly maxBackoffMs: number;
}

/** How a replica delivers notifications (`approvals.delivery`), defaulted. */
export interface NotificationDeliveryConfig {
  /** Attempts in flight at once. */
  readonly concurrency: number;
  /** Notifications waiting for a slot before new ones are dropped (and recorded as dropped). */
  readonly queue: number;
  /** How often due attempts nobody makes are looked for (ms). */
  readonly sweepMs: number;
}

/** An HTTP agent: its id, labels, and the SHA-256 of its bearer token. */
export interface TokenAgent extends Agent {
  readonly token_sha256: string;
}

/**
 * The gateway's configuration (DESIGN §4), validated and defaulted by
 * {@link loadGatewayConfig}, deep-frozen, with every path absolute.
 */
export interface GatewayConfig {
  /** The file it was read from (absolute), or `<inline>`. */
  readonly file: string;
  readonly listen: {
    readonly stdio: boolean;
    readonly http:
      | {
          readonly host: string;
          readonly port: number;
          readonly path: string;
          readonly allowedOrigins: readonly string[];
          readonly sessionIdleTimeoutMs: number;
          /** `public_origin`: the origin agents reach the listener at (behind a proxy or TLS terminator), for RFC 9728 metadata; default `http://<Host>`. */
          readonly publicOrigin: string | undefined;
          /** Bounds on agents' connections and sessions. */
          readonly connections: HttpConnectionLimits;
        }
      | undefined;
  };
  /** The identity of the stdio client. */
  readonly agent: Agent | undefined;
  /** The HTTP agents. */
  readonly agents: readonly TokenAgent[];
  /** Upstreams in the order the file lists them. */
  readonly upstreams: readonly UpstreamConfig[];
  /** Where policies come from: a directory, or a signed bundle in a Git repository. */
  readonly policy: PolicySourceConfig;
  readonly ledger: {
    readonly databaseUrl: string | undefined;
    readonly dataDir: string;
    /** Argument values kept out of the ledger, by JSON pointer (optionally per server and tool). */
    readonly redact: readonly RedactRule[];
    readonly awaitOutcome: boolean;
    /** How long an idle ledger writer waits for more events before committing (ms). */
    readonly maxBatchDelayMs: number;
    /** Apply pending migrations at start-up. */
    readonly migrate: boolean;
  };
  readonly limits: { readonly store: 'memory' | 'postgres' };
  readonly requests: {
    readonly maxBytes: number;
    readonly maxDepth: number;
    /** The decision deadline of a tool call (ms): limits and the decision's commit must be done by then. */
    readonly decisionTimeoutMs: number;
  };
  readonly admin: { readonly host: string; readonly port: number; readonly tokenSha256: string; readonly connections: AdminConnectionLimits } | undefined;
  readonly approvals: {
    readonly mode: 'hold' | 'retry';
    /** How long a request stays open when its rule sets no timeout (ms). */
    readonly timeoutMs: number;
    /** hold mode without a progress token: how long a call is held before the retry answer (ms). */
    readonly holdMaxMs: number;
    /** hold mode with a progress token: how often progress is sent (ms). */
    readonly progressIntervalMs: number;
    readonly approvers: readonly ApproverConfig[];
    /** The public base URL of the admin port, for console links in notifications (no trailing `/`). */
    readonly consoleUrl: string | undefined;
    /** Webhooks told of approval events (`approvals.notify`). */
    readonly notify: readonly WebhookReceiverConfig[];
    /** How this replica delivers them (`approvals.delivery`). */
    readonly delivery: NotificationDeliveryConfig;
  };
  readonly log: { readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  /** OpenTelemetry export (`telemetry`); undefined when the file has no such section: no SDK is loaded. */
  readonly telemetry: TelemetryConfig | undefined;
  readonly shutdownTimeoutMs: number;
}

/**
 * OpenTelemetry traces and metrics over OTLP/HTTP (`telemetry`), defaulted: where they go, how
 * traces are sampled, and the bounds that keep a slow or dead collector off the calls' path.
 */
export interface TelemetryConfig {
  /** The resource's `service.name`. */
  readonly serviceName: string;
  /** More resource attributes. */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  /** HTTP headers of every export (e.g. the collector's credentials). */
  readonly headers: Readonly<Record<string, string>>;
  /** The longest one export may take, retries included (ms). */
  readonly exportTimeoutMs: number;
  /** Exports in flight at once per signal. */
  readonly maxConcurrentExports: number;
  /** Traces, unless `traces.enabled` is false. */
  readonly traces: TraceExportConfig | undefined;
  /** Metrics, unless `metrics.enabled` is false. */
  readonly metrics: { readonly url: string; readonly intervalMs: number } | undefined;
}

/** How spans are sampled, queued and sent (`telemetry.traces`), defaulted. */
export interface TraceExportConfig {
  /** The full URL spans are posted to. */
  readonly url: string;
  /** Share of new traces recorded (0–1). */
  readonly sampleRatio: number;
  /** Whether an agent's `traceparent` sampled flag decides if its call is recorded. */
  readonly followAgentSampling: boolean;
  /** Spans waiting for export; beyond that new ones are dropped. */
  readonly maxQueueSize: number;
  /** Spans per export. */
  readonly maxExportBatchSize: number;
  /** How long finished spans wait to be exported together (ms). */
  readonly scheduleDelayMs: number;
  /** Put `tollgate.arguments.sha256` on a call's span. */
  readonly argumentsSha256: boolean;
}

/** Policies read from a directory: upstream `<name>` is governed by `<dir>/<name>/policy.json|yaml`. */
export interface DirectoryPolicyConfig {
  readonly kind: 'dir';
  /** Absolute. */
  readonly dir: string;
}

/** A public key whose signatures on a bundle count (DESIGN §6). */
export interface TrustedKeyConfig {
  /** Hex SHA-256 of the key's DER SPKI encoding; checked against `public_key` when given. */
  readonly keyid?: string;
  /** PEM, or base64 of the DER SPKI encoding. */
  readonly public_key: string;
}

/** Policies from a signed bundle committed in a Git repository (DESIGN §4, `policy.git`). */
export interface GitPolicyConfig {
  readonly kind: 'git';
  readonly git: {
    /** An absolute path (a local repository) or a remote URL. */
    readonly repo: string;
    /** True for a URL (cloned into `stateDir` and fetched), false for a local repository read in place. */
    readonly remote: boolean;
    /** The branch, tag or commit to read. */
    readonly ref: string;
    /** The bundle's path inside the repository. */
    readonly path: string;
    /** Milliseconds between checks; 0 = no polling (watch only). */
    readonly pollMs: number;
    /** Watch the local repository's refs for commits. */
    readonly watch: boolean;
  };
  readonly trust: { readonly keys: readonly TrustedKeyConfig[]; readonly threshold: number };
  /** Absolute: the last good bundle, the highest activated revision, the clone of a remote. */
  readonly stateDir: string;
}

/** One of the gateway's policy sources. */
export type PolicySourceConfig = DirectoryPolicyConfig | GitPolicyConfig;

/** Argument values the ledger stores as `"[REDACTED]"`. */
export interface RedactRule {
  readonly server?: string;
  readonly tool?: string;
  readonly pointers: readonly string[];
}

/** Default bounds on agents' messages, and the default decision deadline of a tool call (ms). */
export const DEFAULT_REQUEST_LIMITS = Object.freeze({ maxBytes: 1_048_576, maxDepth: 64, decisionTimeoutMs: 5000 });

/**
 * Bounds on the agent-facing HTTP listener's connections (`listen.http`): how long a request
 * may take to arrive, how long a keep-alive connection may idle, and how many connections and
 * sessions there may be, in all and per agent. Responses themselves are never timed: a held
 * call or an SSE stream stays open as long as it needs.
 */
export interface HttpConnectionLimits {
  /** Longest time to receive a request's headers (ms); `headers_timeout`. */
  readonly headersTimeoutMs: number;
  /** Longest time to receive a whole request, headers and body (ms); `request_timeout`. */
  readonly requestTimeoutMs: number;
  /** Longest wait for the next request on a keep-alive connection (ms); `idle_timeout`. */
  readonly idleTimeoutMs: number;
  /** Most connections open at once; `max_connections`. */
  readonly maxConnections: number;
  /** Most connections one authenticated agent may hold; `max_connections_per_agent`. */
  readonly maxConnectionsPerAgent: number;
  /** Most open MCP sessions per agent; `max_sessions_per_agent`. */
  readonly maxSessionsPerAgent: number;
}

/** The defaults of {@link HttpConnectionLimits}. */
export const DEFAULT_HTTP_CONNECTION_LIMITS: HttpConnectionLimits = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  // Longer than the 60 s idle timeout of common load balancers, so they close first.
  idleTimeoutMs: 65_000,
  maxConnections: 1024,
  maxConnectionsPerAgent: 128,
  maxSessionsPerAgent: 64,
});

/**
 * Bounds on the admin API's connections (`admin`): how long a request may take to arrive, how
 * long a keep-alive connection may idle, and how many connections there may be.
 */
export interface AdminConnectionLimits {
  /** Longest time to receive a request's headers (ms); `headers_timeout`. */
  readonly headersTimeoutMs: number;
  /** Longest time to receive a whole request, headers and body (ms); `request_timeout`. */
  readonly requestTimeoutMs: number;
  /** Longest wait for the next request on a keep-alive connection (ms); `idle_timeout`. */
  readonly idleTimeoutMs: number;
  /** Most connections open at once; `max_connections`. */
  readonly maxConnections: number;
}

/** The defaults of {@link AdminConnectionLimits}. */
export const DEFAULT_ADMIN_CONNECTION_LIMITS: AdminConnectionLimits = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 65_000,
  maxConnections: 256,
});
