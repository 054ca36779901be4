import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTool, refusalOf, textOf } from '../packages/gateway/test/approvals-support.js';
import { ROOT, demoExchangeStdio } from '../packages/gateway/test/fixtures.js';
import { startGatewayProcess, type GatewayProcess } from '../packages/gateway/test/gateway-harness.js';

// Two stdio gateways on one machine (as Claude Desktop and Cursor each start one) with the
// default embedded ledger in the same directory: the first serves it, the second is its client,
// and the CLI reads it while both run.

const RUN_JS = join(ROOT, 'packages/cli/bin/run.js');
const TICKERS = 5;

function cli(args: readonly string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN_JS, ...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: typeof error?.code === 'number' ? error.code : error ? -1 : 0, stdout, stderr });
    });
  });
}

const serverPid = (dataDir: string): number | undefined => {
  try {
    return (JSON.parse(readFileSync(join(dataDir, 'tollgate-server.json'), 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
};

describe('two stdio gateways sharing one embedded ledger', () => {
  let dir: string;
  let dataDir: string;
  const gateways: GatewayProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-shared-gw-'));
    dataDir = join(dir, '.tollgate', 'ledger');
    await mkdir(join(dir, 'policies', 'ccxt'), { recursive: true });
    await writeFile(join(dir, 'policies', 'ccxt', 'policy.json'), JSON.stringify({
        version: '1',
        default: 'deny',
        tools: {
          fetch_account_balance: {},
          // One counter for the machine: both gateways count in the shared ledger.
          fetch_market_ticker: { limits: [{ counter: 'tickers', max: TICKERS, window: 'day', scope: 'global' }] },
        },
      }),);
  });

  afterAll(async () => {
    for (const g of gateways) await g.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const start = async (): Promise<GatewayProcess> => {
    const ccxt = demoExchangeStdio('ccxt');
    const g = await startGatewayProcess('stdio', {
      upstreams: { ccxt: { command: ccxt.command, args: ccxt.args, cwd: ccxt.cwd } },
      policy: { dir: join(dir, 'policies') },
      ledger: { data_dir: dataDir },
    });
    gateways.push(g);
    return g;
  };
  const balance = (g: GatewayProcess) => callTool(g.client, 'fetch_account_balance', { exchange_id: 'binance' });
  const decisions = async (): Promise<Array<{ strand_id: string; effect: string }>> => {
    const out = await cli(['ledger', 'query', '--type', 'decision', '--data-dir', dataDir, '--limit', '10000', '--json'], dir);
    expect(out.code, out.stderr).toBe(0);
    return (JSON.parse(out.stdout) as { events: Array<{ strand_id: string; effect: string }> }).events;
  };

  it('both record, the CLI queries and verifies while they run, and the second keeps recording after the first is killed', { timeout: 240_000 }, async () => {
    const first = await start();
    const second = await start();
    for (let i = 0; i < 3; i++) {
      expect(refusalOf(await balance(first))).toBeUndefined();
      expect(refusalOf(await balance(second))).toBeUndefined();
    }
    const denied = await callTool(second.client, 'withdraw_cryptocurrency', { exchange_id: 'binance', code: 'BTC', amount: 1, address: 'x' });
    expect(textOf(denied)).toContain('[POLICY DENIED]');

    // A limit holds across both: its counter lives in the shared ledger, not in either process.
    const ticker = (g: GatewayProcess) => callTool(g.client, 'fetch_market_ticker', { exchange_id: 'binance', symbol: 'BTC/USDT' });
    const tickers = await Promise.all(Array.from({ length: TICKERS * 2 }, (_, i) => ticker(i % 2 === 0 ? first : second)));
    expect(tickers.filter((r) => refusalOf(r) === undefined)).toHaveLength(TICKERS);
    expect(tickers.filter((r) => refusalOf(r)?.code === 'rate_limited')).toHaveLength(TICKERS);

    // The CLI reads the ledger through whichever gateway serves it: two strands, both recorded.
    const recorded = await decisions();
    expect(recorded).toHaveLength(7 + TICKERS * 2);
    expect(new Set(recorded.map((e) => e.strand_id)).size).toBe(2);
    const verify = await cli(['ledger', 'verify', '--data-dir', dataDir], dir);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^OK: verified \d+ events in 2 strands/);

    // Kill the serving gateway outright; the other takes the ledger over and goes on.
    // The first gateway opened the directory, so it serves it.
    const owner = serverPid(dataDir)!;
    expect(owner).not.toBe(process.pid);
    process.kill(owner, 'SIGKILL');
    let ran = 0;
    const deadline = Date.now() + 60_000;
    while (ran < 5 && Date.now() < deadline) {
      // A call the ledger cannot record is refused (fail closed), never run unrecorded.
      const result = await balance(second);
      if (!refusalOf(result)) ran++;
      else expect(refusalOf(result)!.code).toBe('ledger.unavailable');
    }
    expect(ran).toBe(5);
    expect(serverPid(dataDir)).not.toBe(owner);

    const after = await decisions();
    // Every call the survivor ran after the takeover is on the record, in its same strand.
    expect(after.length).toBeGreaterThanOrEqual(7 + TICKERS * 2 + 5);
    expect(new Set(after.map((e) => e.strand_id)).size).toBe(2);
    const finalVerify = await cli(['ledger', 'verify', '--data-dir', dataDir, '--json'], dir);
    expect(finalVerify.code, finalVerify.stdout + finalVerify.stderr).toBe(0);
    expect((JSON.parse(finalVerify.stdout) as { ok: boolean; strands: unknown[] }).strands.length).toBe(2);
  });
});
