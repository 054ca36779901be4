import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseGatewayConfig } from '@tollgate/gateway';
import { connectLedger } from '@tollgate/ledger';
import { parseSourceDocument } from '@tollgate/policy';
import { simpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runCli, tempTree, type TempTree } from './cli-process.js';
import { DEMO_EXCHANGE } from './mcp-servers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const STANDALONE = join(ROOT, 'packages/cli/dist/standalone/bin/tollgate.js');
const ADMIN_TOKEN = 'deploy-test-admin';
const ADMIN_URL = process.env['TOLLGATE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

type Yaml = Record<string, unknown>;
async function yaml(file: string): Promise<Yaml> {
  const { document, diagnostics } = parseSourceDocument(await readFile(file, 'utf8'), file);
  expect(diagnostics).toEqual([]);
  return document!.value as Yaml;
}
/** A compose service with its `<<:` merge key applied (the YAML reader keeps merge keys as they are). */
function service(compose: Yaml, name: string): Yaml {
  const raw = (compose['services'] as Record<string, Yaml>)[name]!;
  const { '<<': merged, ...own } = raw as Yaml & { '<<'?: Yaml };
  return { ...(merged ?? {}), ...own };
}

function exec(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    execFile(file, args, { cwd, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return fail(error);
      done({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

describe('deploy/: the image and the compose file', () => {
  let dockerfile: string;
  let compose: Yaml;
  beforeAll(async () => {
    dockerfile = await readFile(join(DEPLOY, 'Dockerfile'), 'utf8');
    compose = await yaml(join(DEPLOY, 'compose.yaml'));
  });

  it('the Dockerfile passes dockerfilelint', () => {
    const lint = createRequire(import.meta.url)('dockerfilelint') as { run: (config: string, content: string) => unknown[] };
    expect(lint.run(DEPLOY, dockerfile)).toEqual([]);
    // The linter is live: an unknown instruction and a bad HEALTHCHECK are found.
    expect(lint.run(DEPLOY, `${dockerfile}\nHEALTHCHECK --intervl=5s CMD true\nFROBNICATE x\n`).length).toBeGreaterThanOrEqual(2);
  });

  it('multi-stage: the final gateway stage holds only the standalone CLI, runs as a non-root user, checks /readyz', () => {
    const stages = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]);
    expect(stages).toEqual(['build', 'demo-exchange', 'gateway']);
    const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(final).toContain('COPY --from=build /src/packages/cli/dist/standalone /opt/tollgate');
    expect([...final.matchAll(/^COPY .*$/gm)]).toHaveLength(1);
    const user = /^USER (\S+)$/m.exec(final)?.[1];
    expect(user).toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
    expect(final).toMatch(/useradd --system --uid 10001/);
    expect(final).toMatch(/^HEALTHCHECK .*\\\n\s+CMD \[.*\/readyz/m);
    expect(final).toContain('ENTRYPOINT ["/usr/bin/tini", "--", "tollgate"]');
    expect(final).toContain('CMD ["gateway", "--config", "/etc/tollgate/gateway.yaml"]');
  });

  it('compose: PostgreSQL 15, the migrations first, two gateway replicas of one image, admin ports on loopback only', () => {
    expect(service(compose, 'postgres')['image']).toBe('postgres:15');
    const migrate = service(compose, 'migrate');
    expect(migrate['command']).toEqual(['ledger', 'migrate']);
    expect(migrate['depends_on']).toEqual({ postgres: { condition: 'service_healthy' } });
    const [one, two] = [service(compose, 'gateway-1'), service(compose, 'gateway-2')];
    for (const gateway of [one, two]) {
      expect(gateway['image']).toBe(migrate['image']);
      expect(gateway['depends_on']).toMatchObject({ migrate: { condition: 'service_completed_successfully' } });
      expect(gateway['volumes']).toContain('./gateway.yaml:/etc/tollgate/gateway.yaml:ro');
      expect(gateway['read_only']).toBe(true);
    }
    expect(one['ports']).toEqual(['8080:8080', '127.0.0.1:8081:8081']);
    expect(two['ports']).toEqual(['8090:8080', '127.0.0.1:8091:8081']);
    expect(migrate['build']).toMatchObject({ context: '..', dockerfile: 'deploy/Dockerfile', target: 'gateway' });
  });

  it('compose: no secret is written in it — every password and credentialled URL comes from a required variable', async () => {
    const text = await readFile(join(DEPLOY, 'compose.yaml'), 'utf8');
    const values: Array<[string, string]> = [];
    const walk = (v: unknown, key: string): void => {
      if (typeof v === 'string') values.push([key, v]);
      else if (Array.isArray(v)) v.forEach((x) => walk(x, key));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
    };
    walk(compose, '');
    const secrets = values.filter(([key, value]) => /PASSWORD|SECRET|TOKEN/i.test(key) || /:\/\/.*@/.test(value));
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    for (const [key, value] of secrets) {
      const literal = value.replace(/\$\{[A-Z_]+:\?[^}]*\}/g, '');
      // What is left once the variables are taken out holds no password: `user:@host`, or nothing.
      expect(literal, key).not.toMatch(/:\/\/[^:@/]+:[^@]+@/);
      expect(value, key).toMatch(/\$\{[A-Z_]+:\?/);
    }
    expect(text).not.toMatch(/^\s*[\w-]*(password|secret|token)[\w-]*:\s*(?!\$\{)\S/im);
  });

  it('the gateway.yaml compose mounts is a valid configuration with no database URL; the URL from the environment makes the limits shared', async () => {
    const text = await readFile(join(DEPLOY, 'gateway.yaml'), 'utf8');
    expect(text).not.toMatch(/postgres:\/\//);
    const config = parseGatewayConfig(text, join(DEPLOY, 'gateway.yaml'));
    expect(config.ledger.databaseUrl).toBeUndefined();
    expect(config.admin).toMatchObject({ host: '0.0.0.0', port: 8081 });
    expect(config.listen.http).toMatchObject({ host: '0.0.0.0', port: 8080 });
    // As the containers run it: TOLLGATE_DATABASE_URL from compose. Its upstream and policy
    // directory exist only in the containers, so here only the configuration and limits are judged.
    const out = await runCli(['gateway', '--config', join(DEPLOY, 'gateway.yaml'), '--check', '--json'], ROOT, { TOLLGATE_DATABASE_URL: 'postgres://tollgate_gateway@127.0.0.1:1/tollgate' });
    expect(out.code).toBe(1);
    const checks = JSON.parse(out.stdout).checks as Array<{ what: string; status: string }>;
    expect(checks[0]).toMatchObject({ what: 'config', status: 'ok' });
    expect(checks.some((c) => c.what === 'upstream')).toBe(true);
  });
});

describe('deploy/: the database roles and the image health check, for real', () => {
  let tree: TempTree;
  let database: string;
  let databaseUrl: string;
  const role = `tollgate_gw_${randomBytes(4).toString('hex')}`;
  let gateway: ChildProcess | undefined;

  beforeAll(async () => {
    tree = await tempTree();
    database = `tollgate_test_${randomBytes(6).toString('hex')}`;
    const admin = await connectLedger({ databaseUrl: ADMIN_URL });
    try {
      await admin.execute(`CREATE DATABASE ${database}`);
    } finally {
      await admin.close();
    }
    const url = new URL(ADMIN_URL);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
  });
  afterAll(async () => {
    if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
    const admin = await connectLedger({ databaseUrl: ADMIN_URL });
    try {
      await admin.execute(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.execute(`DROP ROLE IF EXISTS ${role}`);
    } finally {
      await admin.close();
    }
    await tree?.remove();
  });

  it('postgres-init.sh makes a login role that, after ledger migrate, may append to the ledger and read it, never rewrite it', async () => {
    const { hostname, port, username } = new URL(ADMIN_URL);
    const env = { PGHOST: hostname, PGPORT: port || '5432', POSTGRES_USER: username, POSTGRES_DB: database, TOLLGATE_GATEWAY_DB_USER: role, TOLLGATE_GATEWAY_DB_PASSWORD: randomBytes(12).toString('hex') };
    const init = await exec('sh', [join(DEPLOY, 'postgres-init.sh')], env);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    // Again (a restarted container with its volume): nothing fails.
    expect((await exec('sh', [join(DEPLOY, 'postgres-init.sh')], env)).code).toBe(0);
    expect((await runCli(['ledger', 'migrate', '--database-url', databaseUrl], tree.root)).code).toBe(0);

    const asGateway = new URL(databaseUrl);
    asGateway.username = role;
    const connection = await connectLedger({ databaseUrl: asGateway.toString() });
    try {
      await connection.execute('SELECT count(*) FROM ledger_events');
      await expect(connection.execute('UPDATE ledger_events SET reason = reason')).rejects.toThrow(/permission denied/);
      await expect(connection.execute('DELETE FROM ledger_events')).rejects.toThrow(/permission denied/);
      await expect(connection.execute('TRUNCATE ledger_events')).rejects.toThrow(/permission denied/);
      await expect(connection.execute('CREATE TABLE sneaky (x int)')).rejects.toThrow(/permission denied/);
    } finally {
      await connection.close();
    }
    const check = await runCli(['gateway', '--check', '--json', '--config', await tree.write('check.json', { listen: { stdio: true }, agent: { id: 'a' }, upstreams: { ccxt: { command: process.execPath, args: [DEMO_EXCHANGE] } }, policy: { dir: join(ROOT, 'policies') }, ledger: { migrate: false }, limits: { store: 'postgres' } })], tree.root, { TOLLGATE_DATABASE_URL: asGateway.toString() });
    expect(check.code, check.stdout).toBe(0);
    expect(JSON.parse(check.stdout).checks.find((c: { what: string }) => c.what === 'ledger').status).toBe('ok');
  });

  it("the image's HEALTHCHECK command passes against a ready gateway (the standalone CLI, policy from a signed bundle in Git) and fails once it is gone", async () => {
    const command = JSON.parse(/^ {2}CMD (\[.*\])$/m.exec(await readFile(join(DEPLOY, 'Dockerfile'), 'utf8'))![1]!) as string[];
    expect(command[0]).toBe('node');
    const adminPort = await freePort();
    // The policy from a signed bundle in Git, as in production: the standalone gateway verifies
    // it in its bundle verifier thread (lib/git-bundle-check-worker.js) before it is ready.
    const repo = join(tree.root, 'policy-repo');
    await tree.write('policy-repo/policies/ccxt/policy.json', await readFile(join(ROOT, 'policies/ccxt/policy.json'), 'utf8'));
    await tree.write('policy-repo/policies/ccxt/catalog.json', await readFile(join(ROOT, 'policies/ccxt/catalog.json'), 'utf8'));
    const git = simpleGit(repo);
    await git.init(['--initial-branch=main']);
    await git.addConfig('user.name', 'T').addConfig('user.email', 't@example.com');
    await git.add('.').commit('policies');
    expect((await runCli(['keys', 'generate', '--out', join(tree.root, 'ci')], tree.root)).code).toBe(0);
    expect((await runCli(['bundle', 'build', '--out', 'bundles/bundle.json'], repo)).code).toBe(0);
    expect((await runCli(['bundle', 'sign', 'bundles/bundle.json', '--key', join(tree.root, 'ci.key')], repo)).code).toBe(0);
    await git.add('.').commit('bundle');
    const config = await tree.write('gateway.json', {
      listen: { http: { host: '127.0.0.1', port: 0 } },
      agents: [{ id: 'desk-bot', token_sha256: 'a'.repeat(64) }],
      upstreams: { ccxt: { command: process.execPath, args: [DEMO_EXCHANGE] } },
      policy: {
        git: { repo, ref: 'main', path: 'bundles/bundle.json' },
        trust: { keys: [{ public_key: await readFile(join(tree.root, 'ci.pub'), 'utf8') }], threshold: 1 },
        state_dir: join(tree.root, 'gateway-state'),
      },
      ledger: { database_url: databaseUrl, migrate: true },
      admin: { host: '127.0.0.1', port: adminPort, token_sha256: createHash('sha256').update(ADMIN_TOKEN).digest('hex') },
      log: { level: 'error' },
    });
    const probe = () => exec(process.execPath, command.slice(1), { TOLLGATE_ADMIN_PORT: String(adminPort) });
    expect((await probe()).code).toBe(1);
    gateway = spawn(process.execPath, [STANDALONE, 'gateway', '--config', config], { cwd: tree.root, env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let said = '';
    gateway.stderr!.on('data', (c: Buffer) => (said += c.toString()));
    const deadline = Date.now() + 30_000;
    let healthy = await probe();
    while (healthy.code !== 0 && Date.now() < deadline && gateway.exitCode === null) {
      await new Promise((r) => setTimeout(r, 200));
      healthy = await probe();
    }
    expect(healthy.code, said).toBe(0);
    const policy = await fetch(`http://127.0.0.1:${adminPort}/policy`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(((await policy.json()) as { source: { bundle: { revision: number; via: string } } }).source.bundle).toMatchObject({ revision: 1, via: 'repository' });
    gateway.kill('SIGTERM');
    await new Promise((done) => gateway!.once('exit', done));
    expect((await probe()).code).toBe(1);
  }, 60_000);
});
