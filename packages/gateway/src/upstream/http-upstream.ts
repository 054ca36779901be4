import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from 'pino';
import type { HttpUpstreamConfig } from '../config/gateway-config.js';
import { abortIsolatingFetch, type FetchLike } from './abort-isolating-fetch.js';
import { ClientUpstream } from './client-upstream.js';

/**
 * An upstream MCP server reached over Streamable HTTP, with the configured headers
 * (e.g. its own `Authorization`) on every request.
 *
 * @example
 * const upstream = new HttpUpstream({ kind: 'http', name: 'remote', url: 'http://127.0.0.1:9000/mcp', headers: {}, timeoutMs: 60_000 }, logger);
 */
export class HttpUpstream extends ClientUpstream {
  readonly config: HttpUpstreamConfig;

  constructor(config: HttpUpstreamConfig, logger: Logger) {
    super(config.name, config.timeoutMs, logger);
    this.config = config;
  }

  protected createTransport(): Transport {
    return new StreamableHTTPClientTransport(new URL(this.config.url), {
      requestInit: { headers: { ...this.config.headers } },
      fetch: this.transportFetch(),
    });
  }

  /**
   * The fetch the transport uses: one `AbortController` per request, bridged from the
   * connection's signal, so abort listeners do not pile up on that signal under load
   * (see {@link abortIsolatingFetch}).
   */
  protected transportFetch(): FetchLike {
    return abortIsolatingFetch(fetch);
  }

  protected describe(): string {
    return this.config.url;
  }
}
