import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalDigest } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApi, approvalGatewayConfig, approvalPolicyDir, callTool, refusalOf, textOf } from './approvals-support.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-harness.js';

// The same approval path on the embedded ledger (PGlite: approval state and notifications in
// the gateway's own process), in both modes: retry (answered at once, the repeat runs) and hold.

describe('approvals on the embedded ledger', () => {
  let policies: Awaited<ReturnType<typeof approvalPolicyDir>>;
  let dataDirs: string;
  const gateways: GatewayProcess[] = [];

  beforeAll(async () => {
    policies = await approvalPolicyDir();
    dataDirs = await mkdtemp(join(tmpdir(), 'tollgate-approvals-pglite-'));
  });

  afterAll(async () => {
    for (const g of gateways) await g.stop().catch(() => undefined);
    await policies?.remove();
    await rm(dataDirs, { recursive: true, force: true });
  }, 60_000);

  const start = async (mode: 'hold' | 'retry') => {
    const g = await startGatewayProcess('http', approvalGatewayConfig(policies.dir, { data_dir: join(dataDirs, mode), await_outcome: true }, { mode }));
    gateways.push(g);
    return g;
  };
  const restingOrder = async (g: GatewayProcess, price: number) => {
    const id = (JSON.parse(textOf(await callTool(g.client, 'create_spot_limit_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 0.1, price }))) as { id: string }).id;
    return { exchange_id: 'binance', id, symbol: 'SOL/USDT' };
  };

  it('retry mode: answered at once with the approval id; after a grant the identical repeat runs once; after a denial it is refused', async () => {
    const g = await start('retry');
    const admin = adminApi(await g.adminUrl());
    const cancel = await restingOrder(g, 45);
    const t0 = Date.now();
    const first = await callTool(g.client, 'cancel_order', cancel);
    expect(Date.now() - t0).toBeLessThan(1000);
    const pending = refusalOf(first)!;
    expect(pending).toMatchObject({ code: 'approval.required', args_sha256: canonicalDigest(cancel) });
    expect(textOf(first)).toMatch(/^\[APPROVAL REQUIRED\] A desk lead approves cancellations\. — approval [0-9a-f-]{36} is pending until /);
    // The same call before anyone decided joins the same request.
    expect(refusalOf(await callTool(g.client, 'cancel_order', cancel))!.approval_id).toBe(pending.approval_id);

    expect((await admin.vote(pending.approval_id as string, 'alice', 'approve')).status).toBe(200);
    const ran = await callTool(g.client, 'cancel_order', cancel);
    expect(refusalOf(ran)).toBeUndefined();
    expect(textOf(ran)).toContain('canceled by user');
    // Used once: the next identical call asks anew.
    const anew = refusalOf(await callTool(g.client, 'cancel_order', cancel))!;
    expect(anew.code).toBe('approval.required');
    expect(anew.approval_id).not.toBe(pending.approval_id);

    expect((await admin.vote(anew.approval_id as string, 'alice', 'deny', 'not now')).status).toBe(200);
    const denied = await callTool(g.client, 'cancel_order', cancel);
    expect(refusalOf(denied)).toMatchObject({ code: 'approval.denied', approval_id: anew.approval_id });
    expect(textOf(denied)).toContain('denied by alice: not now');
    // The denial was reported once; the next call opens a new request.
    expect(refusalOf(await callTool(g.client, 'cancel_order', cancel))).toMatchObject({ code: 'approval.required' });
    await g.stop();
    gateways.length = 0;
  }, 90_000);

  it('hold mode: the held call runs as soon as it is granted', async () => {
    const g = await start('hold');
    const admin = adminApi(await g.adminUrl());
    const cancel = await restingOrder(g, 44);
    const held = callTool(g.client, 'cancel_order', cancel);
    const request = await admin.awaitPending('cancel_order', [], cancel);
    expect((await admin.vote(request.id, 'alice', 'approve')).status).toBe(200);
    expect(textOf(await held)).toContain('canceled by user');
  }, 90_000);
});
