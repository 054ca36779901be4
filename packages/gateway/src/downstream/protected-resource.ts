import type { IncomingMessage } from 'node:http';

/** Where RFC 9728 puts a resource's metadata (before the resource's own path). */
export const PROTECTED_RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource';

/** What an agent is told when it looks for an OAuth authorization server at the gateway. */
export const NOT_AN_AUTHORIZATION_SERVER =
  'this gateway is not an OAuth authorization server and issues no tokens: agents present the static bearer token its operator gave them (Authorization: Bearer <token>)';

/**
 * The agent listener as an OAuth 2.0 protected resource (RFC 9728) that takes static bearer
 * tokens: the metadata it publishes names no authorization server, only that a bearer token
 * goes in the `Authorization` header, and the `401` challenge points at that metadata
 * (`resource_metadata`). An MCP client that reads it learns that a token is needed and that
 * nobody here issues one.
 *
 * The resource is `<origin><path>`: the origin is `publicOrigin` when set (a gateway behind a
 * proxy or TLS terminator), else `http://` and the request's `Host` header.
 *
 * @example
 * const resource = new ProtectedResource('/mcp', undefined, '127.0.0.1:8080');
 * resource.metadataPaths // ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']
 */
export class ProtectedResource {
  /** The paths the metadata is served at: RFC 9728's path-suffixed form for the endpoint, and the bare one. */
  readonly metadataPaths: readonly string[];
  readonly #path: string;
  readonly #publicOrigin: string | undefined;
  readonly #fallbackHost: string;

  /**
   * @param path the MCP endpoint's path (`listen.http.path`)
   * @param publicOrigin `listen.http.public_origin`, e.g. `https://gateway.example.com`
   * @param fallbackHost `host:port` the listener is bound to, for a request without a usable `Host`
   */
  constructor(path: string, publicOrigin: string | undefined, fallbackHost: string) {
    this.#path = path;
    this.#publicOrigin = publicOrigin?.replace(/\/+$/, '');
    this.#fallbackHost = fallbackHost;
    this.metadataPaths = [`${PROTECTED_RESOURCE_METADATA_PATH}${path === '/' ? '' : path}`, PROTECTED_RESOURCE_METADATA_PATH];
  }

  /** The resource identifier: the MCP endpoint's URL as agents reach it. */
  resource(req: IncomingMessage): string {
    return `${this.#origin(req)}${this.#path}`;
  }

  /** The URL of the resource's metadata (the path-suffixed form). */
  metadataUrl(req: IncomingMessage): string {
    return `${this.#origin(req)}${this.metadataPaths[0]}`;
  }

  /** The RFC 9728 metadata document. */
  metadata(req: IncomingMessage): Record<string, unknown> {
    return {
      resource: this.resource(req),
      // No authorization_servers: tokens are issued by the gateway's operator, not by OAuth.
      bearer_methods_supported: ['header'],
      resource_name: 'Tollgate MCP gateway',
    };
  }

  /**
   * The `WWW-Authenticate` of a `401` (RFC 6750 §3, RFC 9728 §5.1): `error="invalid_token"`
   * when a token was presented and is not one the gateway knows, nothing more when there was none.
   */
  challenge(req: IncomingMessage): string {
    const presented = typeof req.headers.authorization === 'string' && req.headers.authorization.trim() !== '';
    return `Bearer realm="tollgate", resource_metadata="${this.metadataUrl(req)}"${presented ? ', error="invalid_token", error_description="the bearer token is not one this gateway knows"' : ''}`;
  }

  /**
   * Whether `path` is where an OAuth client looks for an authorization server or its endpoints
   * (RFC 8414 and OpenID discovery, and the default `/authorize`, `/token`, `/register` of
   * clients that fall back to the resource's origin): answered 404 with
   * {@link NOT_AN_AUTHORIZATION_SERVER} in an OAuth error body, which such clients show.
   */
  isAuthorizationServerPath(path: string): boolean {
    return (
      path === '/authorize' ||
      path === '/token' ||
      path === '/register' ||
      /^\/\.well-known\/(?:oauth-authorization-server|openid-configuration)(?:\/|$)/.test(path) ||
      path.endsWith('/.well-known/openid-configuration')
    );
  }

  #origin(req: IncomingMessage): string {
    if (this.#publicOrigin) return this.#publicOrigin;
    const host = req.headers.host;
    // Only a well-formed host[:port] is echoed back; anything else gets the listener's own address.
    return `http://${host !== undefined && /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(host) ? host : this.#fallbackHost}`;
  }
}
