import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { OAuthProtectedResourceMetadataSchema, type OAuthClientInformationMixed, type OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, recordingUpstream, testLogger, type RecordingUpstream } from './fixtures.js';
import { configuredServices } from './gateway-services.js';

// The agent listener describes itself as an OAuth protected resource (RFC 9728) that takes
// static bearer tokens, so that MCP clients answer its 401 with "a token is needed" rather than
// an interactive OAuth flow against a gateway that issues no tokens.

const TOKEN = 'metadata-agent-token';

/** A fetch that writes down every request the client makes. */
function recordingFetch(seen: Array<{ method: string; url: string }>): typeof fetch {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    seen.push({ method: init?.method ?? (input instanceof Request ? input.method : 'GET'), url });
    return fetch(input, init);
  };
}

/** An interactive OAuth client with nothing stored yet, as an MCP client that supports OAuth starts out. */
class FirstTimeOAuthClient implements OAuthClientProvider {
  readonly redirects: URL[] = [];
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier = '';
  get redirectUrl(): string {
    return 'http://127.0.0.1:1/callback';
  }
  get clientMetadata() {
    return { client_name: 'metadata-test', redirect_uris: ['http://127.0.0.1:1/callback'] };
  }
  clientInformation() {
    return this.#client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.#client = info;
  }
  tokens() {
    return this.#tokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.#tokens = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.redirects.push(url);
  }
  saveCodeVerifier(verifier: string) {
    this.#verifier = verifier;
  }
  codeVerifier() {
    return this.#verifier;
  }
}

describe('the agent listener as an RFC 9728 protected resource', () => {
  let db: TestDatabase;
  let rec: RecordingUpstream;
  let gateway: RunningGateway;
  let proxied: RunningGateway;
  let url: string;
  let origin: string;

  const start = (http: Record<string, unknown>) => {
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { host: '127.0.0.1', port: 0, ...http } },
        agents: [{ id: 'agent', token_sha256: sha256Hex(TOKEN) }],
        upstreams: { rec: rec.config },
        policy: { dir: rec.policyDir },
        ledger: { database_url: db.url, migrate: true },
      }),
      join(ROOT, 'gateway.json'),
    );
    return startGateway(config, { logger: testLogger(), services: configuredServices(config) });
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    rec = await recordingUpstream();
    gateway = await start({});
    proxied = await start({ path: '/agents/mcp', public_origin: 'https://gateway.example.com/' });
    url = gateway.http!.url;
    origin = new URL(url).origin;
  }, 60_000);

  afterAll(async () => {
    await gateway?.shutdown('test over');
    await proxied?.shutdown('test over');
    await rec?.cleanup();
    await db?.drop();
  });

  it('serves metadata naming the endpoint, a bearer token in the header, and no authorization server — at both well-known paths, to anyone', async () => {
    const expected = { resource: url, bearer_methods_supported: ['header'], resource_name: 'Tollgate MCP gateway' };
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const res = await fetch(`${origin}${path}`, { headers: { origin: 'https://inspector.example' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      const body = await res.json();
      expect(body).toEqual(expected);
      expect(OAuthProtectedResourceMetadataSchema.parse(body).authorization_servers).toBeUndefined();
    }
    // The SDK finds it by RFC 9728's path-aware discovery.
    expect(await discoverOAuthProtectedResourceMetadata(new URL(url))).toEqual(expected);
    // A CORS preflight for a browser-based client.
    const preflight = await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('mcp-protocol-version');
    expect((await fetch(`${origin}/.well-known/oauth-protected-resource`, { method: 'POST', body: '{}' })).status).toBe(405);
  });

  it('names the public origin behind a proxy, and the endpoint\'s own path', async () => {
    const local = new URL(proxied.http!.url).origin;
    const res = await fetch(`${local}/.well-known/oauth-protected-resource/agents/mcp`);
    expect(await res.json()).toEqual({ resource: 'https://gateway.example.com/agents/mcp', bearer_methods_supported: ['header'], resource_name: 'Tollgate MCP gateway' });
    const refused = await fetch(proxied.http!.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="tollgate", resource_metadata="https://gateway.example.com/.well-known/oauth-protected-resource/agents/mcp"');
  });

  it('points its 401 at the metadata, and says invalid_token only when a token was presented', async () => {
    const post = (headers: Record<string, string>) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: '{}' });
    const none = await post({});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(`Bearer realm="tollgate", resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`);
    expect(extractWWWAuthenticateParams(none).resourceMetadataUrl?.href).toBe(`${origin}/.well-known/oauth-protected-resource/mcp`);
    expect(await none.json()).toMatchObject({ error: { code: -32001, message: expect.stringContaining('the gateway is no OAuth authorization server') } });
    const wrong = await post({ authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(401);
    expect(extractWWWAuthenticateParams(wrong)).toMatchObject({ error: 'invalid_token', resourceMetadataUrl: new URL(`${origin}/.well-known/oauth-protected-resource/mcp`) });
  });

  it('answers where OAuth clients look for an authorization server with a 404 saying that tokens are static', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server/mcp', '/.well-known/openid-configuration', '/mcp/.well-known/openid-configuration', '/register', '/authorize', '/token']) {
      const res = await fetch(`${origin}${path}`, { method: path === '/register' || path === '/token' ? 'POST' : 'GET' });
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toEqual({ error: 'not_found', error_description: expect.stringContaining('is not an OAuth authorization server and issues no tokens') });
    }
  });

  it('makes the SDK client without a token fail with 401 at once, asking for nothing else', async () => {
    const seen: Array<{ method: string; url: string }> = [];
    const client = new Client({ name: 'no-token', version: '1' }, { capabilities: {} });
    const failure = await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: recordingFetch(seen) })).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(StreamableHTTPError);
    expect((failure as StreamableHTTPError).code).toBe(401);
    expect((failure as Error).message).toContain('Unauthorized: present a valid bearer token');
    expect(seen).toEqual([{ method: 'POST', url }]);
    await client.close();
  });

  it('makes an OAuth-capable SDK client stop before any authorization: no redirect, no /authorize, and the reason in its error', async () => {
    const seen: Array<{ method: string; url: string }> = [];
    const provider = new FirstTimeOAuthClient();
    const client = new Client({ name: 'oauth-client', version: '1' }, { capabilities: {} });
    const failure = await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: recordingFetch(seen) })).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(Error);
    // What the client reports is the gateway's word: a static token, no OAuth.
    expect(failure!.message).toContain('is not an OAuth authorization server and issues no tokens');
    expect(provider.redirects).toEqual([]);
    expect(await provider.tokens()).toBeUndefined();
    const paths = seen.map((r) => `${r.method} ${new URL(r.url).pathname}`);
    // It read the metadata the 401 pointed at; finding no authorization server there, the SDK
    // (1.32) falls back to the resource's own origin, as the 2025-03-26 revision of MCP had it:
    // discovery finds nothing, and its one registration attempt is refused with the reason
    // above. Nothing is registered, no authorization URL is opened, no token is asked for.
    expect(paths).toEqual([
      'POST /mcp',
      'GET /.well-known/oauth-protected-resource/mcp',
      'GET /.well-known/oauth-authorization-server',
      'GET /.well-known/openid-configuration',
      'POST /register',
    ]);
    expect(await provider.clientInformation()).toBeUndefined();
    await client.close();
  });

  it('still serves an agent that presents its token', async () => {
    const client = new Client({ name: 'with-token', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
    expect((await client.callTool({ name: 'echo', arguments: { text: 'in' } })).content).toEqual([{ type: 'text', text: 'in' }]);
    await client.close();
  });
});
