import type { Notification, Result } from '@modelcontextprotocol/sdk/types.js';
import type { NetworkTransport, Telemetry } from '../telemetry/telemetry.js';
import type { Upstream, UpstreamInfo, UpstreamRequest, UpstreamRequestOptions } from './upstream.js';

/** How an upstream is reached, for its spans. */
export interface UpstreamPeer {
  readonly transport: NetworkTransport;
  /** Host and port of a Streamable HTTP upstream. */
  readonly address?: string;
  readonly port?: number;
}

/**
 * An {@link Upstream} whose forwarded `tools/call` requests are traced: each is a child span of
 * the agent's call, and carries that span's W3C trace context to the upstream in
 * `params._meta.traceparent` (and `tracestate`), where MCP puts it. Every other request,
 * notification and event passes through to the upstream it wraps unchanged.
 */
export class TracedUpstream implements Upstream {
  readonly #upstream: Upstream;
  readonly #telemetry: Telemetry;
  readonly #peer: UpstreamPeer;

  constructor(upstream: Upstream, telemetry: Telemetry, peer: UpstreamPeer) {
    this.#upstream = upstream;
    this.#telemetry = telemetry;
    this.#peer = peer;
  }

  get name(): string {
    return this.#upstream.name;
  }

  get info(): UpstreamInfo | undefined {
    return this.#upstream.info;
  }

  get connected(): boolean {
    return this.#upstream.connected;
  }

  get onnotification(): ((notification: Notification) => void) | undefined {
    return this.#upstream.onnotification;
  }

  set onnotification(listener: ((notification: Notification) => void) | undefined) {
    this.#upstream.onnotification = listener;
  }

  get onreconnect(): (() => void) | undefined {
    return this.#upstream.onreconnect;
  }

  set onreconnect(listener: (() => void) | undefined) {
    this.#upstream.onreconnect = listener;
  }

  connect(): Promise<UpstreamInfo> {
    return this.#upstream.connect();
  }

  request(request: UpstreamRequest, options?: UpstreamRequestOptions): Promise<Result> {
    if (request.method !== 'tools/call') return this.#upstream.request(request, options);
    const tool = typeof request.params?.name === 'string' ? request.params.name : '';
    const protocolVersion = this.#upstream.info?.protocolVersion;
    return this.#telemetry.upstreamCall({ ...this.#peer, server: this.name, tool, ...(protocolVersion ? { protocolVersion } : {}) }, request.params, (params) =>
      this.#upstream.request({ method: request.method, params }, options),
    );
  }

  notify(notification: Notification): Promise<void> {
    return this.#upstream.notify(notification);
  }

  close(): Promise<void> {
    return this.#upstream.close();
  }
}
