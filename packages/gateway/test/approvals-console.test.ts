import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { sha256Hex } from '@tollgate/policy';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config/config-loader.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { buildConsolePage, DOCS_IMAGES, launchConsoleBrowser, type ConsoleBrowser } from './console-browser.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { demoExchangeStdio, testLogger } from './fixtures.js';
import { configuredServices } from './gateway-services.js';

const ADMIN_TOKEN = 'console-admin-token';
const AGENT_TOKEN = 'console-agent-token-bot';
const DESK_LEAD_TOKEN = 'console-desk-lead-token';
const TREASURER_TOKEN = 'console-treasurer-token';

/** The policy the console is shown with: reads and small orders allowed, cancels held for a desk lead, withdrawals for treasury. */
const POLICY = {
  version: '1',
  default: 'deny',
  hide: ['set_trading_leverage'],
  tools: {
    fetch_account_balance: {},
    create_spot_limit_order: {
      approve_if: [{ id: 'large-resting-order', conditions: [{ path: 'args.amount', op: 'gte', value: 1 }], reason: 'Large resting orders need a desk lead and treasury.', approvers: ['desk-leads', 'treasury'], min_approvals: 2 }],
    },
    create_spot_market_order: { deny_if: [{ id: 'order-too-large', conditions: [{ path: 'args.amount', op: 'gt', value: 2 }], on_deny: 'Orders above 2 units are refused.' }] },
    cancel_order: { action: 'approve', reason: 'Cancelling an order needs a desk lead.', approvers: ['desk-leads'], timeout: '10m' },
    withdraw_cryptocurrency: {
      approve_if: [
        { id: 'dust-withdrawal', conditions: [{ path: 'args.amount', op: 'lt', value: 0.3 }], reason: 'Withdrawals need a treasury approval (dust expires fast).', approvers: ['treasury'], timeout: '2s' },
        { id: 'withdrawal', conditions: [], reason: 'Withdrawals need a treasury approval.', approvers: ['treasury'], timeout: '10m' },
      ],
    },
  },
};

const WITHDRAWAL = { exchange_id: 'binance', code: 'SOL', amount: 0.25, address: 'So1ana1111111111111111111111111111111111111' };

describe('the approvals console, in Chromium', () => {
  let db: TestDatabase;
  let dir: string;
  let gateway: RunningGateway;
  let agent: Client;
  let browser: ConsoleBrowser;
  let page: Page;
  let admin: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'tollgate-console-'));
    await mkdir(join(dir, 'policies/ccxt'), { recursive: true });
    await writeFile(join(dir, 'policies/ccxt/policy.json'), JSON.stringify(POLICY));
    const upstream = demoExchangeStdio('ccxt');
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { port: 0 } },
        agents: [{ id: 'bot', token_sha256: sha256Hex(AGENT_TOKEN), labels: { team: 'desk' } }],
        upstreams: { ccxt: { command: upstream.command, args: upstream.args, cwd: upstream.cwd } },
        policy: { dir: 'policies' },
        ledger: { database_url: db.url, migrate: true },
        limits: { store: 'memory' },
        admin: { port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
        approvals: {
          mode: 'hold',
          approvers: [
            { id: 'desk-lead', groups: ['desk-leads'], token_sha256: sha256Hex(DESK_LEAD_TOKEN) },
            { id: 'treasurer', groups: ['treasury'], token_sha256: sha256Hex(TREASURER_TOKEN) },
          ],
        },
      }),
      join(dir, 'gateway.json'),
      dir,
    );
    // Built first: the admin server reads the page's files when it starts.
    await buildConsolePage();
    const [started, launched] = await Promise.all([startGateway(config, { logger: testLogger(), services: configuredServices(config) }), launchConsoleBrowser()]);
    gateway = started;
    browser = launched;
    admin = gateway.admin!.url;
    agent = new Client({ name: 'console-test-agent', version: '1' }, { capabilities: {} });
    await agent.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } } }));
    page = await browser.newPage();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.close().catch(() => undefined);
    await gateway?.shutdown('test over');
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const call = (name: string, args: Record<string, unknown>): Promise<CallToolResult> => agent.callTool({ name, arguments: args }, undefined, { timeout: 60_000 }) as Promise<CallToolResult>;
  const text = (r: CallToolResult): string => String((r.content[0] as { text?: string } | undefined)?.text ?? '');
  const restingOrder = async (): Promise<string> => {
    const r = await call('create_spot_limit_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 0.1, price: 50 });
    expect(r.isError, text(r)).toBeFalsy();
    return (JSON.parse(text(r)) as { id: string }).id;
  };
  const card = (tool: string) => page.locator(`#pending article.approval[data-tool="${tool}"]`);
  /** The session cookie the browser holds, and the CSRF token the page got for it. */
  const browserSession = async (): Promise<{ cookie: string; csrf: string }> => {
    const cookies = await browser.context.cookies(`${admin}/console`);
    const value = cookies.find((c) => c.name === 'tollgate_console')!.value;
    const res = await fetch(`${admin}/console/api/session`, { headers: { cookie: `tollgate_console=${value}` } });
    expect(res.status).toBe(200);
    return { cookie: `tollgate_console=${value}`, csrf: ((await res.json()) as { csrf_token: string }).csrf_token };
  };
  const approvalStatus = async (id: string): Promise<string> =>
    ((await (await fetch(`${admin}/approvals/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { status: string }).status;

  it('serves the page with a strict Content-Security-Policy and its companion headers', async () => {
    const res = await fetch(`${admin}/console`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    // No inline script or style, nothing from another origin.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|style=/);
    expect(html).not.toMatch(/https?:\/\//);
    const js = await fetch(`${admin}/console/assets/console.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('content-security-policy')).toBe(csp);
    const etag = js.headers.get('etag')!;
    expect((await fetch(`${admin}/console/assets/console.js`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    // Only the built files are served: no path reaches anything else.
    for (const path of ['/console/assets/..%2F..%2Fpackage.json', '/console/assets/../../package.json', '/console/assets/nope.js', '/console/assets/']) {
      expect((await fetch(`${admin}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${admin}/console/api/events`)).status).toBe(401);
    expect((await fetch(`${admin}/console/api/session`)).status).toBe(401);
  });

  it("refuses a wrong token and an agent's token at sign-in, with a clear message", async () => {
    await page.goto(`${admin}/console`);
    await page.getByLabel('Token').fill('not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: "not an approver's or the admin's token" }).waitFor();
    await page.getByLabel('Token').fill(AGENT_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'This is the token of agent "bot"' }).waitFor();
    expect(await page.locator('#app').isHidden()).toBe(true);
    expect(await browser.context.cookies(`${admin}/console`)).toEqual([]);
    // The same from outside the page: 401 for an unknown token, 403 for an agent's.
    const signIn = (token: string) => fetch(`${admin}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin: admin }, body: JSON.stringify({ token }) });
    expect((await signIn('nope')).status).toBe(401);
    const refused = await signIn(AGENT_TOKEN);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('set-cookie')).toBeNull();
  });

  it('signs in with an approver token: an HttpOnly, SameSite=Strict session cookie that is not the token', async () => {
    await page.getByLabel('Token').fill(DESK_LEAD_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#who-name', { hasText: 'desk-lead (approver)' }).waitFor();
    await page.locator('#live[data-state="live"]').waitFor();
    expect(await page.getByLabel('Token').inputValue()).toBe('');
    const cookies = await browser.context.cookies(`${admin}/console`);
    expect(cookies).toHaveLength(1);
    const c = cookies[0]!;
    expect(c).toMatchObject({ name: 'tollgate_console', httpOnly: true, sameSite: 'Strict', path: '/console' });
    expect(c.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(c.value).not.toContain(DESK_LEAD_TOKEN);
    expect(c.value).not.toBe(sha256Hex(DESK_LEAD_TOKEN));
    // Out of the page's reach.
    expect(await page.evaluate('document.cookie')).toBe('');
  });

  it('shows a held call within a second, with everything an approver needs; approving it runs the call', async () => {
    const order = await restingOrder();
    const started = Date.now();
    const held = call('cancel_order', { exchange_id: 'binance', id: order, symbol: 'SOL/USDT' });
    const c = card('cancel_order');
    await c.waitFor({ timeout: 1000 });
    expect(Date.now() - started).toBeLessThan(1000);
    const body = await c.innerText();
    expect(body).toContain('cancel_order');
    expect(body).toContain('ccxt');
    expect(body).toMatch(/bot\s*\(team=desk\)/);
    expect(body).toContain('tools.cancel_order.action');
    expect(body).toContain('Cancelling an order needs a desk lead.');
    expect(body).toContain('desk-leads');
    expect(body).toContain('none yet (1 needed)');
    expect(JSON.parse(await c.locator('pre.args').innerText())).toEqual({ exchange_id: 'binance', id: order, symbol: 'SOL/USDT' });
    expect(await c.locator('.countdown').innerText()).toMatch(/^(9|10):\d\d left$/);
    await c.locator('input.vote-reason').fill('stale order');
    await c.getByRole('button', { name: 'Approve' }).click();
    const result = await held;
    expect(result.isError, text(result)).toBeFalsy();
    expect(text(result)).toContain('"status":"canceled"');
    await c.waitFor({ state: 'detached' });
    const item = page.locator('#history li.history-item').first();
    await item.locator('.outcome', { hasText: 'the call ran' }).waitFor();
    expect(await item.innerText()).toMatch(/Approved by desk-lead at [\d:]+ \(“stale order”\)/);
  });

  it('denies a held call with a reason: the agent is told, and the history says who and why', async () => {
    const order = await restingOrder();
    const held = call('cancel_order', { exchange_id: 'binance', id: order });
    const c = card('cancel_order');
    await c.waitFor();
    await c.locator('input.vote-reason').fill('the desk still needs this order');
    await c.getByRole('button', { name: 'Deny' }).click();
    const result = await held;
    expect(result.isError).toBe(true);
    expect((result.structuredContent as { code?: string } | undefined)?.code ?? JSON.stringify(result._meta)).toContain('approval.denied');
    expect(text(result)).toContain('the desk still needs this order');
    const item = page.locator('#history li.history-item[data-status="denied"]').first();
    await item.waitFor();
    expect(await item.innerText()).toMatch(/Denied by desk-lead at [\d:]+ \(“the desk still needs this order”\)/);
    expect(await page.locator('#pending-count').innerText()).toBe('0');
  });

  it('shows what the approver may not decide without buttons; an expired request moves to the history', async () => {
    const held = call('withdraw_cryptocurrency', WITHDRAWAL);
    const c = card('withdraw_cryptocurrency');
    await c.waitFor();
    expect(await c.locator('.cannot').innerText()).toMatch(/You cannot decide this: the rule allows only "treasury"/);
    expect(await c.getByRole('button').count()).toBe(0);
    const id = (await c.getAttribute('data-id'))!;
    // The API refuses it anyway.
    const { cookie, csrf } = await browserSession();
    const vote = await fetch(`${admin}/console/api/approvals/${id}/approve`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, origin: admin, 'content-type': 'application/json' }, body: '{}' });
    expect(vote.status).toBe(403);
    const result = await held;
    expect(text(result)).toContain('expired');
    await c.waitFor({ state: 'detached', timeout: 5000 });
    const item = page.locator(`#history li.history-item[data-id="${id}"]`);
    await item.waitFor();
    expect(await item.getAttribute('data-status')).toBe('expired');
    expect(await item.innerText()).toMatch(/Expired at [\d:]+ without a decision/);
  });

  it('refuses a state change without the CSRF token, from another origin, or without an Origin (403)', async () => {
    const order = await restingOrder();
    const held = call('cancel_order', { exchange_id: 'binance', id: order, symbol: 'SOL/USDT' });
    const c = card('cancel_order');
    await c.waitFor();
    const id = (await c.getAttribute('data-id'))!;
    // From the signed-in page itself, with its cookie, but without the token.
    const statuses = await page.evaluate(async (approval) => {
      const post = (headers: Record<string, string>) => fetch(`/console/api/approvals/${approval}/approve`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' }).then((r) => r.status);
      return [await post({}), await post({ 'x-csrf-token': 'forged-token-forged-token-forged-token-abcd' })];
    }, id);
    expect(statuses).toEqual([403, 403]);
    const { cookie, csrf } = await browserSession();
    const raw = (headers: Record<string, string>) => fetch(`${admin}/console/api/approvals/${id}/approve`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...headers }, body: '{}' });
    expect((await raw({ origin: admin })).status).toBe(403);
    expect((await raw({ 'x-csrf-token': csrf })).status).toBe(403);
    expect((await raw({ 'x-csrf-token': csrf, origin: 'http://evil.example' })).status).toBe(403);
    expect((await raw({ 'x-csrf-token': csrf, origin: admin, 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    const signOut = await fetch(`${admin}/console/api/session`, { method: 'DELETE', headers: { cookie, origin: admin } });
    expect(signOut.status).toBe(403);
    expect(await approvalStatus(id)).toBe('pending');
    // With the session's token, from its origin, the same request decides it.
    const allowed = await raw({ 'x-csrf-token': csrf, origin: admin });
    expect(allowed.status).toBe(200);
    expect(((await allowed.json()) as { status: string }).status).toBe('granted');
    expect((await held).isError).toBeFalsy();
    await c.waitFor({ state: 'detached' });
  });

  it('counts the votes of a two-person rule; after voting, the approver cannot vote again, and the second vote (elsewhere) runs the call', async () => {
    const held = call('create_spot_limit_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 1, price: 40 });
    const c = card('create_spot_limit_order');
    await c.waitFor();
    expect(await c.locator('.approvers').innerText()).toBe('desk-leads, treasury · 2 distinct approvers');
    await c.getByRole('button', { name: 'Approve' }).click();
    await c.locator('.votes', { hasText: /^1 of 2 granted: desk-lead at [\d:]+$/ }).waitFor();
    await c.locator('.cannot', { hasText: 'you have already voted on it; it needs other approvers' }).waitFor();
    expect(await c.getByRole('button').count()).toBe(0);
    const id = (await c.getAttribute('data-id'))!;
    const second = await fetch(`${admin}/approvals/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${TREASURER_TOKEN}` } });
    expect(second.status).toBe(200);
    const result = await held;
    expect(result.isError, text(result)).toBeFalsy();
    await c.waitFor({ state: 'detached' });
    expect(await page.locator(`#history li.history-item[data-id="${id}"]`).innerText()).toMatch(/Approved by desk-lead at [\d:]+, treasurer at [\d:]+ · the call ran/);
  });

  it('streams the live record: every decision, filterable by agent, tool and effect, and a chart per minute', async () => {
    await call('fetch_account_balance', { exchange_id: 'binance' });
    await call('create_spot_market_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 5 });
    await expect(call('set_trading_leverage', { exchange_id: 'binance', leverage: 5 })).rejects.toThrow(/Unknown tool/);
    const rows = page.locator('#decisions li.decision');
    await page.locator('#decisions li.decision[data-effect="hidden"]').waitFor();
    await page.locator('#decisions li.decision[data-effect="deny"][data-tool="create_spot_market_order"]').waitFor();
    const newest = await rows.first().innerText();
    expect(newest).toContain('set_trading_leverage');
    expect(newest).toMatch(/bot\s*\(team=desk\)/);
    const effects = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-effect')));
    expect(new Set(effects)).toEqual(new Set(['allow', 'deny', 'approval_required', 'hidden']));
    expect(await page.locator('#decisions li.decision[data-effect="deny"]').first().innerText()).toContain('Orders above 2 units are refused.');

    await page.locator('#filter-effect').selectOption('deny');
    await page.waitForFunction(`[...document.querySelectorAll('#decisions li.decision')].every((e) => e.getAttribute('data-effect') === 'deny')`);
    expect(await rows.count()).toBeGreaterThan(0);
    await page.locator('#filter-effect').selectOption('');
    await page.locator('#filter-tool').selectOption('ccxt/cancel_order');
    await page.waitForFunction(`[...document.querySelectorAll('#decisions li.decision')].every((e) => e.getAttribute('data-tool') === 'cancel_order')`);
    // Held, then allowed or denied by its approval: both decisions of each cancel are there.
    expect(await rows.evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-effect')))].sort())).toEqual(['allow', 'approval_required', 'deny']);
    await page.locator('#filter-tool').selectOption('');
    await page.locator('#filter-agent').selectOption('bot');
    expect(await rows.count()).toBeGreaterThan(5);
    await page.locator('#filter-agent').selectOption('');

    // The chart counts what the feed recorded this hour.
    const recorded = gateway.decisions.recent().length;
    await page.waitForFunction(`Number(document.querySelector('svg.decision-chart')?.getAttribute('data-total')) === ${recorded}`);
    expect(await page.locator('svg.decision-chart g.bar rect.fill-hidden').count()).toBeGreaterThan(0);
  });

  it('reads well on a desktop and on a phone (screenshots for docs/approvals.md)', async () => {
    await mkdir(DOCS_IMAGES, { recursive: true });
    const withdrawal = call('withdraw_cryptocurrency', { ...WITHDRAWAL, amount: 0.5 });
    await card('withdraw_cryptocurrency').waitFor();
    const order = await restingOrder();
    const held = call('cancel_order', { exchange_id: 'binance', id: order, symbol: 'SOL/USDT' });
    await card('cancel_order').waitFor();
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: join(DOCS_IMAGES, 'console-desktop.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    // Nothing wider than the phone's screen.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(DOCS_IMAGES, 'console-phone.png'), fullPage: false });
    await page.setViewportSize({ width: 1280, height: 900 });
    await card('cancel_order').getByRole('button', { name: 'Approve' }).click();
    expect((await held).isError).toBeFalsy();
    // Decided by treasury through the admin API: the console follows that too.
    const id = (await card('withdraw_cryptocurrency').getAttribute('data-id'))!;
    const denied = await fetch(`${admin}/approvals/${id}/deny`, { method: 'POST', headers: { authorization: `Bearer ${TREASURER_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'not today' }) });
    expect(denied.status).toBe(200);
    await page.locator(`#history li.history-item[data-id="${id}"][data-status="denied"]`, { hasText: 'Denied by treasurer' }).waitFor();
    expect(text(await withdrawal)).toContain('not today');
  });

  it('signs out: the session ends on the server, and its cookie opens nothing any more', async () => {
    const { cookie } = await browserSession();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Token').waitFor();
    expect(await page.locator('#app').isHidden()).toBe(true);
    expect((await fetch(`${admin}/console/api/session`, { headers: { cookie } })).status).toBe(401);
    expect((await fetch(`${admin}/console/api/events`, { headers: { cookie } })).status).toBe(401);
    // A reload stays signed out.
    await page.reload();
    await page.getByLabel('Token').waitFor();
    expect(await page.locator('#app').isHidden()).toBe(true);
  });

  it('loaded nothing from another origin and broke none of its CSP', () => {
    expect(browser.requests.length).toBeGreaterThan(0);
    expect(browser.requests.filter((url) => !url.startsWith(`${admin}/`) && url !== 'about:blank')).toEqual([]);
    // Refused sign-ins answer 401/403, which the browser logs as failed loads; nothing else.
    expect(browser.errors.filter((e) => !/status of 40[13]/.test(e))).toEqual([]);
  });

  it('slows down token guessing: after ten refused tokens a client must wait', async () => {
    const signIn = (token: string) => fetch(`${admin}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin: admin }, body: JSON.stringify({ token }) });
    let last = 0;
    for (let i = 0; i < 12 && last !== 429; i++) last = (await signIn(`guess-${i}`)).status;
    expect(last).toBe(429);
    // Even the right token waits: the guesser cannot tell.
    const res = await signIn(DESK_LEAD_TOKEN);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
