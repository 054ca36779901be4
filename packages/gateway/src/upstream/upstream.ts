import type { Implementation, Notification, Result, ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';

/** A JSON-RPC request as the gateway forwards it: a method and its params, unchanged. */
export interface UpstreamRequest {
  readonly method: string;
  readonly params?: Record<string, unknown>;
}

/** Per-request options of {@link Upstream.request}. */
export interface UpstreamRequestOptions {
  /** Aborting it sends `notifications/cancelled` upstream and rejects the request. */
  readonly signal?: AbortSignal;
  /** Called for each `notifications/progress` the upstream sends about this request. */
  readonly onprogress?: (progress: { progress: number; total?: number; message?: string }) => void;
  /** Overrides the upstream's configured request timeout (milliseconds). */
  readonly timeoutMs?: number;
}

/** What an upstream told the gateway when it connected. */
export interface UpstreamInfo {
  readonly capabilities: ServerCapabilities;
  readonly serverInfo: Implementation | undefined;
  readonly instructions: string | undefined;
  readonly protocolVersion: string | undefined;
}

/**
 * One MCP server behind the gateway, reached as an MCP client. The gateway forwards
 * requests and notifications through it unchanged; implementations differ only in the
 * transport (`StdioUpstream`, `HttpUpstream`).
 *
 * Contract:
 * - `connect()` opens the transport and completes `initialize`; it rejects with a
 *   `GatewayError` (`upstream.unavailable`) naming the server when that fails.
 * - `request()` resolves with the upstream's result exactly as sent, or rejects with the
 *   upstream's JSON-RPC error (an `McpError`), or with `upstream.unavailable` when the
 *   connection is gone. A lost connection is reopened on the next request.
 * - Notifications the upstream sends (other than progress, which goes to the request's
 *   `onprogress`) reach `onnotification`.
 */
export interface Upstream {
  /** The upstream's name in the gateway configuration. */
  readonly name: string;
  /** What the server said when it connected (undefined before the first connect). */
  readonly info: UpstreamInfo | undefined;
  /** True while the connection is open. */
  readonly connected: boolean;
  /** Called for every notification the upstream sends (list changes, log messages, resource updates, …). */
  onnotification: ((notification: Notification) => void) | undefined;
  /** Called after a lost connection was reopened (the tool list may have changed). */
  onreconnect: (() => void) | undefined;
  /** Opens the connection and initializes the session. */
  connect(): Promise<UpstreamInfo>;
  /** Sends one request and returns its result unchanged. */
  request(request: UpstreamRequest, options?: UpstreamRequestOptions): Promise<Result>;
  /** Sends one notification. */
  notify(notification: Notification): Promise<void>;
  /** Closes the connection (and stops a stdio server). */
  close(): Promise<void>;
}
