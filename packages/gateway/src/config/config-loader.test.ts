import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey } from '@tollgate/policy';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../gateway-error.js';
import { loadGatewayConfig, parseGatewayConfig } from './config-loader.js';

const HEX = 'a'.repeat(64);

function problemsOf(text: string, file = '/cfg/gateway.json'): string[] {
  try {
    parseGatewayConfig(text, file);
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    const e = error as GatewayError;
    expect(e.code).toBe('config.invalid');
    return e.problems.map((p) => `${p.line}:${p.column} ${p.message}`);
  }
  throw new Error('expected the configuration to be refused');
}

describe('gateway configuration', () => {
  it('accepts the DESIGN §4 example and applies defaults', () => {
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { stdio: true, http: { host: '127.0.0.1', port: 8080 } },
        agent: { id: 'desk-bot', labels: { team: 'desk' } },
        agents: [{ id: 'trader-1', token_sha256: HEX, labels: { role: 'trader' } }],
        upstreams: {
          ccxt: { command: 'node', args: ['packages/demo-exchange/dist/main.js'], env: {} },
          remote: { url: 'http://127.0.0.1:9000/mcp', headers: {} },
        },
        policy: { dir: 'policies' },
        ledger: { database_url: 'postgres://postgres@127.0.0.1:5432/tollgate' },
        admin: { host: '127.0.0.1', port: 8081, token_sha256: HEX },
        approvals: { mode: 'hold', timeout: '10m' },
      }),
      '/srv/tollgate/gateway.json',
    );
    expect(config.listen).toEqual({
      stdio: true,
      http: {
        host: '127.0.0.1',
        port: 8080,
        path: '/mcp',
        allowedOrigins: [],
        sessionIdleTimeoutMs: 1_800_000,
        connections: { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 65_000, maxConnections: 1024, maxConnectionsPerAgent: 128, maxSessionsPerAgent: 64 },
      },
    });
    expect(config.upstreams).toEqual([
      { kind: 'stdio', name: 'ccxt', command: 'node', args: ['packages/demo-exchange/dist/main.js'], env: {}, cwd: '/srv/tollgate', timeoutMs: 60_000 },
      { kind: 'http', name: 'remote', url: 'http://127.0.0.1:9000/mcp', headers: {}, timeoutMs: 60_000 },
    ]);
    expect(config.policy).toEqual({ kind: 'dir', dir: '/srv/tollgate/policies' });
    expect(config.ledger.dataDir).toBe('/srv/tollgate/.tollgate/ledger');
    expect(config.limits.store).toBe('postgres');
    expect(config.requests).toEqual({ maxBytes: 1_048_576, maxDepth: 64, decisionTimeoutMs: 5000 });
    expect(config.approvals).toEqual({
      mode: 'hold',
      timeoutMs: 600_000,
      holdMaxMs: 45_000,
      progressIntervalMs: 15_000,
      approvers: [],
      consoleUrl: undefined,
      notify: [],
      delivery: { concurrency: 4, queue: 1000, sweepMs: 10_000 },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.upstreams[0])).toBe(true);
  });

  it('reads YAML and keeps limit counters in the ledger (the embedded one without a database URL)', () => {
    const config = parseGatewayConfig(
      ['listen:', '  stdio: true', 'agent:', '  id: bot', 'upstreams:', '  x:', '    command: node', 'policy:', '  dir: ./p', 'requests:', '  max_bytes: 2048', '  max_depth: 8', ''].join('\n'),
      '/etc/t/gateway.yaml',
    );
    expect(config.agent).toEqual({ id: 'bot', labels: {} });
    expect(config.limits.store).toBe('postgres');
    expect(config.requests).toEqual({ maxBytes: 2048, maxDepth: 8, decisionTimeoutMs: 5000 });
    expect(config.policy).toEqual({ kind: 'dir', dir: '/etc/t/p' });
  });

  it('names every problem with its line and column', () => {
    const text = [
      '{',
      '  "listen": { "http": { "port": "80" } },',
      '  "agents": [ { "id": "a", "token_sha256": "nothex" } ],',
      '  "upstreams": { "a__b": { "command": "x" }, "web": { "url": "ftp://x", "colour": 1 } },',
      '  "policy": { "dir": "p" },',
      '  "extra": true',
      '}',
    ].join('\n');
    const problems = problemsOf(text);
    expect(problems).toContain('2:33 listen.http.port must be of type integer (got "80")');
    expect(problems).toContain('3:44 agents.0.token_sha256 must be 64 lower-case hex digits (the SHA-256 of the token) (got "nothex")');
    expect(problems).toContain('4:18 "a__b" is not a valid upstream name: use letters, digits, "-" and single "_" (never "__", the tool-name prefix separator)');
    expect(problems).toContain('4:62 upstreams.web.url must be an http:// or https:// URL (got "ftp://x")');
    expect(problems).toContain('4:73 unknown key "colour" in upstreams.web');
    expect(problems).toContain('6:3 unknown key "extra" in the configuration');
  });

  it('asks for an agent when stdio is on and for tokens when HTTP is on', () => {
    expect(problemsOf('{"listen":{"stdio":true},"upstreams":{"x":{"command":"y"}},"policy":{"dir":"p"}}')).toEqual([
      expect.stringContaining('the configuration is missing the required key "agent": a stdio gateway runs as one configured agent'),
    ]);
    expect(problemsOf('{"listen":{"http":{}},"upstreams":{"x":{"command":"y"}},"policy":{"dir":"p"}}')).toEqual([
      expect.stringContaining('missing the required key "agents"'),
    ]);
  });

  it('reads the bounds on agents\' HTTP connections and checks how they relate', () => {
    const http = (extra: Record<string, unknown>) =>
      JSON.stringify({ listen: { http: { port: 0, ...extra } }, agents: [{ id: 'a', token_sha256: HEX }], upstreams: { x: { command: 'y' } }, policy: { dir: 'p' } });
    const set = parseGatewayConfig(
      http({ headers_timeout: '2s', request_timeout: '1m', idle_timeout: '500ms', max_connections: 300, max_connections_per_agent: 20, max_sessions_per_agent: 5 }),
      '/cfg/gateway.json',
    );
    expect(set.listen.http!.connections).toEqual({ headersTimeoutMs: 2000, requestTimeoutMs: 60_000, idleTimeoutMs: 500, maxConnections: 300, maxConnectionsPerAgent: 20, maxSessionsPerAgent: 5 });
    // A lower max_connections lowers the default per-agent bound with it; a longer headers_timeout raises the default request_timeout.
    const implied = parseGatewayConfig(http({ max_connections: 50, headers_timeout: '45s' }), '/cfg/gateway.json').listen.http!.connections;
    expect(implied).toMatchObject({ maxConnections: 50, maxConnectionsPerAgent: 50, headersTimeoutMs: 45_000, requestTimeoutMs: 45_000 });

    expect(problemsOf(http({ headers_timeout: '20s', request_timeout: '5s' }))).toEqual([
      expect.stringContaining('listen.http.request_timeout ("5s") must be at least listen.http.headers_timeout ("20s"): the headers are part of the request'),
    ]);
    expect(problemsOf(http({ request_timeout: '5s' }))).toEqual([expect.stringContaining('listen.http.request_timeout ("5s") must be at least listen.http.headers_timeout (10s by default)')]);
    expect(problemsOf(http({ max_connections: 10, max_connections_per_agent: 11 }))).toEqual([
      expect.stringContaining('listen.http.max_connections_per_agent (11) must not be more than listen.http.max_connections (10)'),
    ]);
    expect(problemsOf(http({ idle_timeout: '50ms' }))).toEqual([expect.stringContaining('listen.http.idle_timeout must be at least 100ms (got "50ms")')]);
    expect(problemsOf(http({ headers_timeout: 'soon', max_sessions_per_agent: 0 }))).toEqual([
      expect.stringContaining('listen.http.headers_timeout must be a duration like "500ms", "30s", "10m" or "1h" (got "soon")'),
      expect.stringContaining('listen.http.max_sessions_per_agent must be >= 1'),
    ]);
  });

  it('reads listen.http.public_origin, an origin without a path', () => {
    const http = (public_origin: string) =>
      JSON.stringify({ listen: { http: { port: 0, public_origin } }, agents: [{ id: 'a', token_sha256: HEX }], upstreams: { x: { command: 'y' } }, policy: { dir: 'p' } });
    expect(parseGatewayConfig(http('https://gateway.example.com/'), '/cfg/gateway.json').listen.http!.publicOrigin).toBe('https://gateway.example.com');
    expect(parseGatewayConfig(http('http://10.0.0.5:8443'), '/cfg/gateway.json').listen.http!.publicOrigin).toBe('http://10.0.0.5:8443');
    for (const bad of ['https://gateway.example.com/mcp', 'gateway.example.com', 'ftp://x', 'https://x?y=1']) {
      expect(problemsOf(http(bad)), bad).toEqual([expect.stringContaining('listen.http.public_origin must be an origin like "https://gateway.example.com" (scheme, host and port; no path)')]);
    }
  });

  it('reads the bounds on the admin API\'s connections and checks how they relate', () => {
    const admin = (extra: Record<string, unknown>) =>
      JSON.stringify({ listen: { stdio: true }, agent: { id: 'a' }, upstreams: { x: { command: 'y' } }, policy: { dir: 'p' }, admin: { token_sha256: HEX, ...extra } });
    expect(parseGatewayConfig(admin({}), '/cfg/gateway.json').admin!.connections).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 65_000, maxConnections: 256 });
    expect(parseGatewayConfig(admin({ headers_timeout: '2s', request_timeout: '5s', idle_timeout: '1s', max_connections: 16 }), '/cfg/gateway.json').admin!.connections).toEqual({
      headersTimeoutMs: 2000,
      requestTimeoutMs: 5000,
      idleTimeoutMs: 1000,
      maxConnections: 16,
    });
    expect(problemsOf(admin({ headers_timeout: '20s', request_timeout: '5s' }))).toEqual([
      expect.stringContaining('admin.request_timeout ("5s") must be at least admin.headers_timeout ("20s"): the headers are part of the request'),
    ]);
    expect(problemsOf(admin({ idle_timeout: '50ms', max_connections: 0 }))).toEqual([
      expect.stringContaining('admin.max_connections must be >= 1'),
    ]);
    expect(problemsOf(admin({ idle_timeout: '50ms' }))).toEqual([expect.stringContaining('admin.idle_timeout must be at least 100ms (got "50ms")')]);
  });

  it('refuses duplicate tokens, a listener-less config and a postgres limit store without a database', () => {
    const problems = problemsOf(
      JSON.stringify({
        listen: { stdio: false },
        agents: [
          { id: 'a', token_sha256: HEX },
          { id: 'a', token_sha256: HEX },
        ],
        upstreams: { x: { command: 'y' } },
        policy: { dir: 'p' },
        limits: { store: 'postgres' },
      }),
    );
    expect(problems.map((p) => p.replace(/^\d+:\d+ /, ''))).toEqual([
      'agents[1] has the same token as agents[0]: every agent needs its own token',
      'agents[1] repeats the id "a" of agents[0]',
      'listen must enable stdio (true) or http, or both',
    ]);
  });

  it('reports syntax errors and unreadable files', async () => {
    expect(problemsOf('{ "listen": ', '/x/g.json')[0]).toMatch(/^1:13 /);
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-config-'));
    try {
      await expect(loadGatewayConfig(join(dir, 'missing.json'))).rejects.toThrow(/cannot read the gateway configuration .*missing\.json/);
      await writeFile(join(dir, 'g.json'), '{"listen":{"stdio":true},"agent":{"id":"a"},"upstreams":{"x":{"command":"y"}},"policy":{"dir":"p"}}');
      expect((await loadGatewayConfig(join(dir, 'g.json'))).policy).toEqual({ kind: 'dir', dir: join(dir, 'p') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('policy from Git', () => {
    const key = generateSigningKey();
    const other = generateSigningKey();
    const withPolicy = (policy: unknown): string => JSON.stringify({ listen: { stdio: true }, agent: { id: 'bot' }, upstreams: { x: { command: 'node' } }, policy }, null, 2);

    it('defaults ref, path, poll, watch and state_dir for a local repository', () => {
      const config = parseGatewayConfig(withPolicy({ git: { repo: '../policies' }, trust: { keys: [{ public_key: key.publicKeyPem }] } }), '/srv/gw/gateway.json');
      expect(config.policy).toEqual({
        kind: 'git',
        git: { repo: '/srv/policies', remote: false, ref: 'main', path: 'bundles/bundle.json', pollMs: 2000, watch: true },
        trust: { keys: [{ public_key: key.publicKeyPem }], threshold: 1 },
        stateDir: '/srv/gw/.tollgate/policy',
      });
    });

    it('polls a remote URL and never watches it', () => {
      for (const repo of ['file:///srv/policies.git', 'https://github.com/acme/policies.git', 'git@github.com:acme/policies.git']) {
        const config = parseGatewayConfig(
          withPolicy({ git: { repo, ref: 'release', path: 'out/b.json', poll: '30s' }, trust: { keys: [{ keyid: key.keyid, public_key: key.publicKeyPem }, { public_key: other.publicKeyPem }], threshold: 2 }, state_dir: '/var/lib/tg' }),
          '/srv/gw/gateway.json',
        );
        expect(config.policy).toMatchObject({ kind: 'git', git: { repo, remote: true, ref: 'release', path: 'out/b.json', pollMs: 30_000, watch: false }, trust: { threshold: 2 }, stateDir: '/var/lib/tg' });
      }
    });

    it('reads approvers and refuses a token an agent or the admin also holds', () => {
      const base = {
        listen: { http: { port: 0 } },
        agents: [{ id: 'bot', token_sha256: 'b'.repeat(64) }],
        upstreams: { x: { command: 'y' } },
        policy: { dir: 'p' },
        admin: { token_sha256: 'c'.repeat(64) },
      };
      const ok = parseGatewayConfig(
        JSON.stringify({ ...base, approvals: { mode: 'retry', hold_max: '30s', progress_interval: '5s', approvers: [{ id: 'alice', token_sha256: 'd'.repeat(64), groups: ['risk'] }] } }),
        '/cfg/gateway.json',
      );
      expect(ok.approvals).toMatchObject({ mode: 'retry', timeoutMs: 600_000, holdMaxMs: 30_000, progressIntervalMs: 5_000, approvers: [{ id: 'alice', token_sha256: 'd'.repeat(64), groups: ['risk'] }] });
      const approvers = (list: unknown[]) => JSON.stringify({ ...base, approvals: { approvers: list } }, null, 1);
      expect(problemsOf(approvers([{ id: 'alice', token_sha256: 'b'.repeat(64) }]))).toEqual([expect.stringMatching(/approvals.approvers\[0\] has the same token as agents\[0\]: an agent's token must never decide approvals/)]);
      expect(problemsOf(approvers([{ id: 'alice', token_sha256: 'c'.repeat(64) }]))).toEqual([expect.stringMatching(/has the admin token/)]);
      expect(problemsOf(approvers([{ id: 'alice', token_sha256: 'd'.repeat(64) }, { id: 'bob', token_sha256: 'd'.repeat(64) }]))).toEqual([expect.stringMatching(/approvals.approvers\[1\] has the same token as approvals.approvers\[0\]/)]);
      expect(problemsOf(approvers([{ id: 'alice', token_sha256: 'd'.repeat(64) }, { id: 'alice', token_sha256: 'e'.repeat(64) }]))).toEqual([expect.stringMatching(/repeats the id "alice"/)]);
      expect(problemsOf(JSON.stringify({ ...base, approvals: { hold_max: 'soon' } }))).toEqual([expect.stringMatching(/approvals.hold_max must be a duration/)]);
    });

    it('refuses what could never work, at the line of the problem', () => {
      const trust = { keys: [{ public_key: key.publicKeyPem }] };
      expect(problemsOf(withPolicy({ dir: 'p', git: { repo: 'r' }, trust }))).toEqual([expect.stringMatching(/^13:13 policy takes either "dir" .* or "git"/)]);
      expect(problemsOf(withPolicy({ git: { repo: 'r' } }))).toEqual([expect.stringMatching(/policy.git needs policy.trust/)]);
      expect(problemsOf(withPolicy({}))).toEqual([expect.stringMatching(/policy needs "dir" .* or "git"/)]);
      expect(problemsOf(withPolicy({ dir: 'p', trust }))).toEqual([expect.stringMatching(/policy.trust belongs to a Git policy source/)]);
      expect(problemsOf(withPolicy({ git: { repo: 'file:///r', watch: true }, trust }))).toEqual([expect.stringMatching(/policy.git.watch needs a local repository/)]);
      expect(problemsOf(withPolicy({ git: { repo: 'file:///r', poll: 'off' }, trust }))).toEqual([expect.stringMatching(/the gateway would never see a new bundle/)]);
      expect(problemsOf(withPolicy({ git: { repo: 'r', poll: 'often' }, trust }))).toEqual([expect.stringMatching(/policy.git.poll must be a duration like "500ms", "2s" or "1m", or "0"\/"off"/)]);
      expect(problemsOf(withPolicy({ git: { repo: 'r' }, trust: { keys: [{ public_key: key.publicKeyPem }], threshold: 2 } }))).toEqual([expect.stringMatching(/threshold 2 is more than the 1 distinct trusted key/)]);
      expect(problemsOf(withPolicy({ git: { repo: 'r' }, trust: { keys: [{ keyid: other.keyid, public_key: key.publicKeyPem }] } }))).toEqual([expect.stringMatching(/keyid .* is not the id of its public key/)]);
      expect(problemsOf(withPolicy({ git: { repo: 'r' }, trust: { keys: [{ public_key: 'not a key' }] } }))).toEqual([expect.stringMatching(/policy.trust: trusted key 1/)]);
    });
  });
});
