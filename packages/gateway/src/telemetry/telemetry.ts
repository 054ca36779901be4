import type { Logger } from 'pino';
import type { TelemetryConfig } from '../config/gateway-config.js';
import type { GatewayEvent } from '../ledger/decision-sink.js';

/** How a peer is reached, in OpenTelemetry's terms: `pipe` for stdio, `tcp` for Streamable HTTP. */
export type NetworkTransport = 'pipe' | 'tcp';

/** What the span of an agent's `tools/call` is made from when the call arrives. */
export interface ToolCallStart {
  /** The tool name the agent called (prefixed when there are several upstreams). */
  readonly name: string;
  /**
   * Whether `name` is a tool of an upstream: only then is it put in the span's name (a name the
   * agent made up would make span names unbounded).
   */
  readonly known: boolean;
  /** The call's arguments: never recorded; digested only when `traces.arguments_sha256` is on. */
  readonly arguments: unknown;
  /** The request's `params._meta`: where an agent sends `traceparent` and `tracestate`. */
  readonly meta: unknown;
  /** The JSON-RPC request id. */
  readonly requestId: string | number;
  readonly sessionId: string;
  readonly agentId: string;
  readonly transport: NetworkTransport;
}

/** Where a forwarded `tools/call` goes: the upstream and how it is reached. */
export interface UpstreamCallStart {
  /** The upstream's name in the configuration. */
  readonly server: string;
  /** The tool's name at the upstream. */
  readonly tool: string;
  readonly transport: NetworkTransport;
  /** Host and port of a Streamable HTTP upstream. */
  readonly address?: string;
  readonly port?: number;
  /** The MCP protocol version the upstream negotiated. */
  readonly protocolVersion?: string;
}

/** The gateway's measurements as telemetry records them (the same ones Prometheus counts). */
export interface TelemetryMetrics {
  /** One decision: its upstream, tool, effect and code, and how long it took (s). */
  decision(server: string, tool: string, effect: string, code: string | null, seconds: number): void;
  /** One forwarded call's upstream time (s), by how it ended. */
  upstream(server: string, status: string, seconds: number): void;
  /** One ledger batch: how many events, and how long its commit took (s). */
  ledgerBatch(events: number, seconds: number): void;
}

/**
 * The gateway's OpenTelemetry instrumentation, as the rest of the gateway sees it: a span per
 * agent `tools/call` (kind SERVER, parented by the agent's `params._meta.traceparent` when it
 * sent one), the ledger commit of its decision and its upstream call as children (the upstream
 * call's trace context sent in its own `params._meta`), and metrics. The implementation
 * ({@link startTelemetry}) loads the SDK; with telemetry off, nothing here is called and no
 * SDK is loaded.
 *
 * Contract: nothing here waits for a collector. A span ends into a bounded queue and metrics
 * are read on a timer; exports happen in the background, each within the configured timeout.
 */
export interface Telemetry {
  /** Runs an agent's `tools/call` (`run`) inside its span, and records how it ended. */
  toolCall<T>(call: ToolCallStart, run: () => Promise<T>): Promise<T>;
  /**
   * Runs the upstream request of a forwarded `tools/call` as a child span (kind CLIENT) of the
   * call in progress: `run` gets `params` with that span's `traceparent` (and `tracestate`) in
   * `_meta`, replacing whatever the agent had put there.
   */
  upstreamCall<T>(call: UpstreamCallStart, params: Readonly<Record<string, unknown>> | undefined, run: (params: Record<string, unknown>) => Promise<T>): Promise<T>;
  /**
   * Appends a ledger event (`append` is called at once, so the sink's order is kept). An event of
   * the call in progress is put on its span (a decision's effect, rule, code, policy revision and
   * digest, approval id), and its commit timed as a child span.
   */
  ledgerAppend<T>(event: GatewayEvent, append: () => Promise<T>): Promise<T>;
  /** Where the gateway's measurements go (fed by {@link GatewayMetrics} as it counts them). */
  readonly metrics: TelemetryMetrics;
  /** Exports what is still queued (within the export timeout) and stops. Never rejects. */
  shutdown(): Promise<void>;
}

/** What {@link startTelemetry} needs besides the configuration. */
export interface TelemetryDependencies {
  readonly logger: Logger;
  /** The revision of the policy being served, for the `tollgate.policy.revision` gauge. */
  readonly policyRevision: () => number | null | undefined;
  /** Told of every export and whether it succeeded (Prometheus counts them). */
  readonly onexport?: (signal: 'traces' | 'metrics', ok: boolean) => void;
  /** The gateway's version, for the resource's `service.version`. */
  readonly serviceVersion: string;
}

/**
 * Starts the OpenTelemetry SDK with OTLP/HTTP exporters as `config` says. The SDK is loaded
 * here, on first use, so that a gateway without telemetry never loads it.
 *
 * @example
 * const telemetry = config.telemetry ? await startTelemetry(config.telemetry, { logger, policyRevision: () => 3, serviceVersion: '0.1.0' }) : undefined;
 */
export async function startTelemetry(config: TelemetryConfig, deps: TelemetryDependencies): Promise<Telemetry> {
  const { OtlpTelemetry } = await import('./otlp-telemetry.js');
  return new OtlpTelemetry(config, deps);
}
