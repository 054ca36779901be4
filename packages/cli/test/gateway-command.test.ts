import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectLedger } from '@tollgate/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_JS, cliEnv, runCli, tempTree, type TempTree } from './cli-process.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const TOKEN = 'cli-test-token';
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function everythingEntry(): string {
  const require = createRequire(import.meta.url);
  return resolve(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json', { paths: [ROOT] })), 'dist/index.js');
}

describe('tollgate gateway', () => {
  let tree: TempTree;
  const base = () => ({
    upstreams: { everything: { command: process.execPath, args: [everythingEntry(), 'stdio'] } },
    policy: { dir: join(ROOT, 'policies') },
    ledger: { data_dir: join(tree.root, 'ledger') },
  });

  beforeAll(async () => {
    tree = await tempTree();
  });
  afterAll(async () => {
    await tree?.remove();
  });

  it('refuses an invalid configuration with file:line:col and exit 2', async () => {
    const file = await tree.write('bad.json', '{\n  "listen": { "stdio": true },\n  "upstreams": {},\n  "policy": { "dir": "p" }\n}\n');
    const out = await runCli(['gateway', '--config', file], tree.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(`${file}:1:1: the configuration is missing the required key "agent"`);
    expect(out.stderr).toContain(`${file}:3:16: upstreams must name at least one MCP server`);
    const json = await runCli(['gateway', '--config', file, '--json'], tree.root);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'config.invalid', exit: 2 } });
  });

  it('says where to put a configuration when there is none', async () => {
    const out = await runCli(['gateway'], tree.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/no gateway configuration: pass --config <file> or create tollgate\.gateway\.yaml here/);
  });

  it('names an upstream without a policy', async () => {
    const file = await tree.write('nopolicy.json', { ...base(), listen: { stdio: true }, agent: { id: 'a' }, upstreams: { nothere: { command: 'true' } } });
    const out = await runCli(['gateway', '--config', file], tree.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('upstream "nothere" has no policy: expected');
  });

  it('serves a stdio agent and exits when it disconnects', async () => {
    const file = await tree.write('stdio.yaml', JSON.stringify({ ...base(), listen: { stdio: true }, agent: { id: 'stdio-bot' } }));
    const transport = new StdioClientTransport({ command: process.execPath, args: [RUN_JS, 'gateway', '--config', file], cwd: tree.root, env: cliEnv() as Record<string, string>, stderr: 'pipe' });
    const client = new Client({ name: 'cli-test', version: '1' }, { capabilities: {} });
    await client.connect(transport);
    const pid = transport.pid!;
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    expect(await client.callTool({ name: 'echo', arguments: { message: 'hi' } })).toEqual({ content: [{ type: 'text', text: 'Echo: hi' }] });
    await client.close();
    for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid)).toBe(false);
  }, 60_000);

  it('over HTTP: 401 without a token, and SIGTERM lets the call in flight finish and flushes the ledger', async () => {
    const file = await tree.write('http.json', { ...base(), listen: { http: { port: 0 } }, agents: [{ id: 'http-bot', token_sha256: sha256(TOKEN) }] });
    const child = spawn(process.execPath, [RUN_JS, 'gateway', '--config', file], { cwd: tree.root, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const url = await new Promise<string>((resolveUrl, reject) => {
      const lines: string[] = [];
      createInterface({ input: child.stderr }).on('line', (line) => {
        lines.push(line);
        const m = /tollgate gateway: serving (http:\/\/\S+);/.exec(line);
        if (m) resolveUrl(m[1]!);
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${lines.join('\n')}`)));
    });
    const anonymous = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(`Bearer realm="tollgate", resource_metadata="${new URL(url).origin}/.well-known/oauth-protected-resource/mcp"`);
    const wrong = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer nope', 'content-type': 'application/json' }, body: '{}' });
    expect(wrong.status).toBe(401);

    const client = new Client({ name: 'cli-test', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
    const inFlight = client.request({ method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } } }, CallToolResultSchema);
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const result = await inFlight;
    expect(result.isError).toBeFalsy();
    expect(JSON.stringify(result.content)).toContain('Long running operation completed');
    expect(await exited).toBe(0);

    const connection = await connectLedger({ dataDir: join(tree.root, 'ledger') });
    try {
      const { rows } = await connection.execute<{ event_type: string; outcome_status: string | null }>(
        "SELECT event_type, outcome_status FROM ledger_events WHERE tool = 'trigger-long-running-operation' ORDER BY seq",
      );
      expect(rows).toEqual([
        { event_type: 'decision', outcome_status: null },
        { event_type: 'outcome', outcome_status: 'ok' },
      ]);
    } finally {
      await connection.close();
    }
  }, 90_000);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
