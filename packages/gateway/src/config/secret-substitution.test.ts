import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, sha256Hex } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../gateway-error.js';
import { loadGatewayConfig, parseGatewayConfig } from './config-loader.js';
import { MAX_SECRET_FILE_BYTES, PROCESS_SUBSTITUTION_SOURCES, substituteSecrets, type SubstitutionSources } from './secret-substitution.js';

const HEX = 'a'.repeat(64);
const sources = (env: Record<string, string>): SubstitutionSources => ({ env, readFile: PROCESS_SUBSTITUTION_SOURCES.readFile });

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('config.invalid');
    return (error as GatewayError).problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`);
  }
  throw new Error('expected the configuration to be refused');
}

describe('secrets in the gateway configuration', () => {
  let dir: string;
  let pem: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-secrets-'));
    await mkdir(join(dir, 'secrets'));
    await writeFile(join(dir, 'secrets', 'db-url'), 'postgres://tollgate:s3cret@db:5432/tollgate\n');
    await writeFile(join(dir, 'secrets', 'crlf'), 'line\r\n');
    await writeFile(join(dir, 'secrets', 'two-newlines'), 'kept\n\n');
    pem = generateSigningKey().publicKeyPem;
    await writeFile(join(dir, 'secrets', 'trust.pem'), pem.endsWith('\n') ? pem : `${pem}\n`);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A stdio gateway configuration with `extra` merged in. */
  const config = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ listen: { stdio: true }, agent: { id: 'bot' }, upstreams: { x: { command: 'node' } }, policy: { dir: 'p' }, ...extra }, null, 2);

  it('takes ${NAME} from the environment and ${file:path} from a file, relative to the configuration, without its trailing newline', async () => {
    const file = join(dir, 'gateway.json');
    await writeFile(
      file,
      JSON.stringify(
        {
          listen: { http: { port: 0 } },
          agents: [{ id: 'trader', token_sha256: '${TRADER_TOKEN_SHA256}' }],
          upstreams: {
            local: { command: 'node', env: { API_KEY: 'key=${API_KEY}', PLAIN: '$HOME stays' } },
            remote: { url: 'https://mcp.example.com/mcp', headers: { authorization: 'Bearer ${file:secrets/../secrets/upstream-token}' } },
          },
          policy: { git: { repo: 'https://git.example.com/policies.git' }, trust: { keys: [{ public_key: '${file:secrets/trust.pem}' }] } },
          ledger: { database_url: '${file:secrets/db-url}' },
          admin: { token_sha256: '${ADMIN_TOKEN_SHA256}' },
        },
        null,
        2,
      ),
    );
    await writeFile(join(dir, 'secrets', 'upstream-token'), 'upstream-bearer\n');
    const loaded = await loadGatewayConfig(file, sources({ TRADER_TOKEN_SHA256: sha256Hex('t'), API_KEY: 'k-123', ADMIN_TOKEN_SHA256: HEX }));
    expect(loaded.agents[0]!.token_sha256).toBe(sha256Hex('t'));
    expect(loaded.upstreams[0]).toMatchObject({ env: { API_KEY: 'key=k-123', PLAIN: '$HOME stays' } });
    expect(loaded.upstreams[1]).toMatchObject({ headers: { authorization: 'Bearer upstream-bearer' } });
    expect(loaded.ledger.databaseUrl).toBe('postgres://tollgate:s3cret@db:5432/tollgate');
    expect(loaded.admin!.tokenSha256).toBe(HEX);
    // The key's own line breaks are kept; only the file's last newline goes.
    expect(loaded.policy.kind === 'git' && loaded.policy.trust.keys[0]!.public_key).toBe(pem.replace(/\n$/, ''));
  });

  it('removes exactly one trailing newline, \\n or \\r\\n', () => {
    const read = (name: string) => substituteSecrets(`\${file:secrets/${name}}`, dir, PROCESS_SUBSTITUTION_SOURCES).value;
    expect(read('crlf')).toBe('line');
    expect(read('two-newlines')).toBe('kept\n');
  });

  it('names an unset variable and an unreadable file, each at file:line:col, all at once', () => {
    const text = config({ ledger: { database_url: '${TOLLGATE_DB_URL}' }, admin: { token_sha256: '${file:missing/admin.sha256}' } });
    expect(problemsOf(() => parseGatewayConfig(text, join(dir, 'gateway.json'), dir, sources({})))).toEqual([
      `${join(dir, 'gateway.json')}:17:21: ledger.database_url refers to the environment variable TOLLGATE_DB_URL (\${TOLLGATE_DB_URL}), which is not set`,
      `${join(dir, 'gateway.json')}:20:21: admin.token_sha256 refers to the file ${join(dir, 'missing/admin.sha256')} (\${file:missing/admin.sha256}), which cannot be read: ENOENT: no such file or directory, open '${join(dir, 'missing/admin.sha256')}'`,
    ]);
  });

  it('names the place in YAML too, and refuses malformed references', () => {
    const yaml = ['listen:', '  stdio: true', 'agent:', '  id: "${AGENT"', 'upstreams:', '  x:', '    command: node', '    args: ["${1BAD}", "${file:}", "${ OK }"]', 'policy:', '  dir: p', ''].join('\n');
    expect(problemsOf(() => parseGatewayConfig(yaml, '/etc/t/gateway.yaml', '/etc/t', sources({ OK: 'x' })))).toEqual([
      '/etc/t/gateway.yaml:4:7: agent.id has a "${" with no closing "}": write ${NAME} for an environment variable, ${file:path} for a file, or $${ for a literal "${"',
      '/etc/t/gateway.yaml:8:12: upstreams.x.args.0 has "${1BAD}", which is neither an environment variable name (letters, digits and "_", not starting with a digit) nor file:path; write $${ for a literal "${"',
      '/etc/t/gateway.yaml:8:23: upstreams.x.args.1 has "${file:}" without a path: write ${file:/run/secrets/name} (or a path relative to the configuration file)',
      '/etc/t/gateway.yaml:8:35: upstreams.x.args.2 has "${ OK }", which is neither an environment variable name (letters, digits and "_", not starting with a digit) nor file:path; write $${ for a literal "${"',
    ]);
  });

  it('reads $${ as a literal ${ and takes what a reference holds literally, never substituting again', () => {
    const loaded = parseGatewayConfig(
      config({ upstreams: { x: { command: 'node', args: ['$${NOT_A_REFERENCE}', '${INDIRECT}', 'a$b$', '$$${TWO}'] } } }),
      join(dir, 'gateway.json'),
      dir,
      sources({ INDIRECT: '${SECRET}', SECRET: 'never read', TWO: 'two' }),
    );
    expect(loaded.upstreams[0]).toMatchObject({ args: ['${NOT_A_REFERENCE}', '${SECRET}', 'a$b$', '$${TWO}'] });
  });

  it('cannot change the document\'s structure: a secret is one string, whatever it holds', () => {
    const injected = 'postgres://x@db/t", "admin": { "token_sha256": "' + HEX + '" }, "x": "';
    const json = parseGatewayConfig(config({ ledger: { database_url: '${DB_URL}' } }), join(dir, 'gateway.json'), dir, sources({ DB_URL: injected }));
    expect(json.ledger.databaseUrl).toBe(injected);
    expect(json.admin).toBeUndefined();
    const yaml = ['listen:', '  stdio: true', 'agent:', '  id: "${AGENT_ID}"', 'upstreams:', '  x: { command: node }', 'policy:', '  dir: p', ''].join('\n');
    const loaded = parseGatewayConfig(yaml, '/etc/t/gateway.yaml', '/etc/t', sources({ AGENT_ID: 'bot\nadmin:\n  token_sha256: ' + HEX }));
    expect(loaded.agent!.id).toBe('bot\nadmin:\n  token_sha256: ' + HEX);
    expect(loaded.admin).toBeUndefined();
    // Keys are never substituted, and a number cannot come from a reference.
    expect(problemsOf(() => parseGatewayConfig(config({ upstreams: { '${NAME}': { command: 'node' } } }), '/c/g.json', '/c', sources({ NAME: 'ok' })))).toEqual([
      expect.stringContaining('"${NAME}" is not a valid upstream name'),
    ]);
    expect(problemsOf(() => parseGatewayConfig(config({ admin: { port: '${PORT}', token_sha256: HEX } }), '/c/g.json', '/c', sources({ PORT: '8081' })))).toEqual([
      expect.stringContaining('admin.port must be of type integer (got "${PORT}") — after substituting ${PORT} (the value itself is not shown)'),
    ]);
  });

  it('never shows a substituted secret in an error', () => {
    const secret = 'hunter2-not-a-sha256';
    const problems = problemsOf(() => parseGatewayConfig(config({ admin: { token_sha256: '${ADMIN_SHA}' } }), '/c/g.json', '/c', sources({ ADMIN_SHA: secret })));
    expect(problems).toEqual([expect.stringContaining('admin.token_sha256 must be 64 lower-case hex digits (the SHA-256 of the token) (got "${ADMIN_SHA}") — after substituting ${ADMIN_SHA}')]);
    expect(problems.join('\n')).not.toContain(secret);
  });

  it('refuses a file larger than it takes', () => {
    const huge: SubstitutionSources = { env: {}, readFile: (_path, max) => 'x'.repeat(max + 1) };
    expect(substituteSecrets({ a: '${file:/dev/big}' }, '/', huge).problems).toEqual([
      { pointer: '/a', message: `refers to the file /dev/big (\${file:/dev/big}), which is larger than ${MAX_SECRET_FILE_BYTES} bytes` },
    ]);
    // The file system reader stops reading past the bound.
    expect(PROCESS_SUBSTITUTION_SOURCES.readFile('/dev/zero', 16)).toHaveLength(17);
  });
});
