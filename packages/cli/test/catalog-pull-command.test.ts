import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCatalog } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { DEMO_EXCHANGE_COMMAND, closedPortUrl, everythingCommand, startHttpDemoExchange, type HttpDemoExchange } from './mcp-servers.js';

const CATALOG = 'policies/demo-exchange/catalog.json';

describe('tollgate catalog pull', () => {
  let dir: TempTree;
  let http: HttpDemoExchange;

  beforeAll(async () => {
    dir = await tempTree();
    http = await startHttpDemoExchange();
  });
  afterAll(async () => {
    await http?.stop();
    await dir?.remove();
  });

  it('snapshots a stdio server into policies/<name>/catalog.json, sorted, with each tool\'s risk', async () => {
    const out = await runCli(['catalog', 'pull', DEMO_EXCHANGE_COMMAND], dir.root);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^19 tools of demo-exchange \d+\.\d+\.\d+ /);
    expect(out.stdout).toMatch(/^ {2}critical {2}financial {4}withdraw_cryptocurrency$/m);
    expect(out.stdout).toMatch(/^ {2}high {6}destructive {2}cancel_order$/m);
    expect(out.stdout).toMatch(/^ {2}low {7}read {9}fetch_ohlcv$/m);
    expect(out.stdout.trim().split('\n').at(-1)).toBe(`Wrote ${CATALOG}`);

    const text = await readFile(join(dir.root, CATALOG), 'utf8');
    const { catalog, diagnostics } = parseCatalog(text, CATALOG);
    expect(diagnostics).toEqual([]);
    expect(catalog!.server).toBe('demo-exchange');
    const names = catalog!.tools.map((t) => t.name);
    expect(names).toHaveLength(19);
    expect(names).toEqual([...names].sort());
    expect(catalog!.tools.find((t) => t.name === 'withdraw_cryptocurrency')?.risk).toEqual({ level: 'critical', category: 'financial' });
    // Annotations are kept verbatim, input schemas too (keys sorted).
    const order = catalog!.tools.find((t) => t.name === 'create_spot_market_order')!;
    expect(order.inputSchema['required']).toEqual(expect.arrayContaining(['exchange_id', 'symbol', 'side', 'amount']));
    expect(text).toMatch(/^ {2}"server": "demo-exchange",$/m);
    expect(text.endsWith('}\n')).toBe(true);
  });

  it('re-pulling an unchanged server writes identical bytes and leaves the file alone', async () => {
    const file = join(dir.root, CATALOG);
    const before = await readFile(file, 'utf8');
    const mtime = (await stat(file)).mtimeMs;
    const out = await runCli(['catalog', 'pull', DEMO_EXCHANGE_COMMAND], dir.root);
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n').at(-1)).toBe(`Unchanged: ${CATALOG}`);
    expect(await readFile(file, 'utf8')).toBe(before);
    expect((await stat(file)).mtimeMs).toBe(mtime);
  });

  it('pulls the same catalog over Streamable HTTP', async () => {
    const out = await runCli(['catalog', 'pull', http.url, '--out', 'http/catalog.json'], dir.root);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(await readFile(join(dir.root, 'http/catalog.json'), 'utf8')).toBe(await readFile(join(dir.root, CATALOG), 'utf8'));
  });

  it('keeps reviewed risk classes, reports added, removed and changed tools, and --reclassify starts afresh', async () => {
    const file = join(dir.root, CATALOG);
    const doc = JSON.parse(await readFile(file, 'utf8')) as { tools: Array<{ name: string; description?: string; risk: unknown }> };
    doc.tools.find((t) => t.name === 'fetch_ohlcv')!.risk = { level: 'medium', category: 'read' };
    doc.tools.find((t) => t.name === 'fetch_funding_rate')!.description = 'an older description';
    doc.tools = doc.tools.filter((t) => t.name !== 'fetch_market_ticker');
    doc.tools.push({ name: 'retired_tool', risk: { level: 'low', category: 'read' }, inputSchema: { type: 'object' } } as never);
    await writeFile(file, JSON.stringify(doc, null, 2));

    const out = await runCli(['catalog', 'pull', DEMO_EXCHANGE_COMMAND, '--json'], dir.root);
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout) as { status: string; file: string; tools: Array<{ name: string; level: string; source: string }>; changes: { added: string[]; removed: string[]; changed: string[] } };
    expect(report.status).toBe('overwritten');
    expect(report.file).toBe(CATALOG);
    expect(report.tools.find((t) => t.name === 'fetch_ohlcv')).toMatchObject({ level: 'medium', source: 'kept' });
    expect(report.changes).toEqual({ added: ['fetch_market_ticker'], removed: ['retired_tool'], changed: ['fetch_funding_rate'] });
    const kept = parseCatalog(await readFile(file, 'utf8'), CATALOG).catalog!;
    expect(kept.tools.find((t) => t.name === 'fetch_ohlcv')?.risk).toEqual({ level: 'medium', category: 'read' });

    const fresh = await runCli(['catalog', 'pull', DEMO_EXCHANGE_COMMAND, '--reclassify', '--json'], dir.root);
    expect(fresh.code).toBe(0);
    expect(JSON.parse(fresh.stdout).tools.find((t: { name: string }) => t.name === 'fetch_ohlcv')).toMatchObject({ level: 'low', source: 'classified' });
  });

  it('pulls @modelcontextprotocol/server-everything and names it from what it reports', async () => {
    const out = await runCli(['catalog', 'pull', everythingCommand(), '--json'], dir.root);
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout) as { server: string; file: string; tools: Array<{ name: string; level: string; category: string }> };
    expect(report.server).toBe('everything');
    expect(report.file).toBe('policies/everything/catalog.json');
    const reviewed = parseCatalog(await readFile(new URL('../../../policies/everything/catalog.json', import.meta.url), 'utf8'), 'x').catalog!;
    expect(report.tools.map((t) => t.name)).toEqual(reviewed.tools.map((t) => t.name).sort());
    expect(report.tools.find((t) => t.name === 'echo')).toMatchObject({ level: 'low', category: 'read' });
    // Classified afresh from the live server, every class agrees with the reviewed catalog's.
    for (const t of report.tools) expect({ name: t.name, level: t.level, category: t.category }).toEqual({ name: t.name, ...reviewed.tools.find((r) => r.name === t.name)!.risk });
    expect(report.tools.find((t) => t.name === 'get-env')).toMatchObject({ level: 'high', category: 'read' });
    expect(report.tools.find((t) => t.name === 'gzip-file-as-resource')).toMatchObject({ level: 'high', category: 'write' });
  });

  it('a command that exits is an input error (exit 2) that quotes its stderr, and writes nothing', async () => {
    const command = `"${process.execPath}" -e "console.error('missing API key'); process.exit(3)"`;
    const out = await runCli(['catalog', 'pull', command, '--name', 'broken'], dir.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('Error: cannot read the tools of');
    expect(out.stderr).toContain('missing API key');
    expect(existsSync(join(dir.root, 'policies/broken'))).toBe(false);
  });

  it('an unreachable URL is an input error (exit 2), with --json too, and writes nothing', async () => {
    const url = await closedPortUrl();
    const out = await runCli(['catalog', 'pull', url, '--name', 'gone', '--json'], dir.root);
    expect(out.code).toBe(2);
    expect(JSON.parse(out.stdout).error).toMatchObject({ code: 'server.unreachable', exit: 2 });
    expect(existsSync(join(dir.root, 'policies/gone'))).toBe(false);
  });

  it('refuses a server name that is not a directory name, an empty command and a non-HTTP URL', async () => {
    const bad = await runCli(['catalog', 'pull', DEMO_EXCHANGE_COMMAND, '--name', '../x'], dir.root);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--name "../x"');
    const empty = await runCli(['catalog', 'pull', '  '], dir.root);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('the server command is empty');
    const ftp = await runCli(['catalog', 'pull', 'ftp://example.com/mcp'], dir.root);
    expect(ftp.code).toBe(2);
    expect(ftp.stderr).toContain('only http:// and https:// URLs');
  });
});
