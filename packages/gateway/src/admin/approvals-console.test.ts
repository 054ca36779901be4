import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '@tollgate/policy';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApproverDirectory } from '../approvals/approver-directory.js';
import { DecisionFeed } from '../metrics/decision-feed.js';
import { ApprovalsConsole } from './approvals-console.js';
import { loadConsoleAssets } from './console-assets.js';
import { ConsoleSessions } from './console-sessions.js';

const TOKEN = 'approver-token-for-stream-tests';

/** Reads server-sent events from a fetch response, one `{ event, data }` at a time. */
function events(body: ReadableStream<Uint8Array>): { next(): Promise<{ event: string; data: unknown } | 'closed'> } {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    async next() {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) return { event, data: JSON.parse(data) };
          continue;
        }
        const { value, done } = await reader.read();
        if (done) return 'closed';
        buffer += decoder.decode(value, { stream: true });
      }
    },
  };
}

describe('the console event stream', () => {
  let now = Date.UTC(2026, 0, 1, 9, 0, 0);
  let server: Server;
  let url: string;
  let dir: string;
  let approvals: ApprovalsConsole;
  const feed = new DecisionFeed({ clock: () => now });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-console-assets-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>t</title>');
    await writeFile(join(dir, 'console.js'), 'export {};');
    approvals = new ApprovalsConsole({
      directory: new ApproverDirectory([{ id: 'desk-lead', groups: ['desk-leads'], token_sha256: sha256Hex(TOKEN) }], [], undefined),
      decisions: feed,
      assets: await loadConsoleAssets(dir),
      sessions: new ConsoleSessions({ idleMs: 60_000, maxAgeMs: 10 * 60_000, clock: () => now }),
      logger: pino({ level: 'silent' }),
      heartbeatMs: 25,
      maxStreams: 3,
      clock: () => now,
    });
    server = createServer((req, res) => void approvals.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    approvals.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const signIn = async (): Promise<{ cookie: string; csrf: string }> => {
    const res = await fetch(`${url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin: url }, body: JSON.stringify({ token: TOKEN }) });
    expect(res.status).toBe(201);
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    return { cookie, csrf: ((await res.json()) as { csrf_token: string }).csrf_token };
  };
  const open = async (cookie: string) => {
    const res = await fetch(`${url}/console/api/events`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    return events(res.body!);
  };

  it('starts with a snapshot, then sends each recorded decision as it happens', async () => {
    feed.record({ type: 'decision', callId: 'a', agentId: 'bot', server: 'ccxt', tool: 'fetch_ticker', args: {}, effect: 'allow', rule: null, reason: 'allowed', policyRevision: null, policyDigest: 'd' });
    const { cookie } = await signIn();
    const stream = await open(cookie);
    const first = (await stream.next()) as { event: string; data: { decisions: unknown[]; identity: unknown; approvals_enabled: boolean; server_time: string } };
    expect(first.event).toBe('snapshot');
    expect(first.data.identity).toEqual({ kind: 'approver', id: 'desk-lead', groups: ['desk-leads'] });
    expect(first.data.approvals_enabled).toBe(false);
    expect(first.data.server_time).toBe(new Date(now).toISOString());
    expect(first.data.decisions).toHaveLength(1);
    feed.record({ type: 'decision', callId: 'b', agentId: 'bot', server: 'ccxt', tool: 'cancel_order', args: { id: '1' }, effect: 'deny', rule: 'r', reason: 'no', policyRevision: null, policyDigest: 'd' });
    expect(await stream.next()).toMatchObject({ event: 'decision', data: { call_id: 'b', effect: 'deny', tool: 'cancel_order' } });
  });

  it('ends every stream of a session that signs out elsewhere, with a signed-out event', async () => {
    const { cookie, csrf } = await signIn();
    const one = await open(cookie);
    const two = await open(cookie);
    expect((await one.next()) as { event: string }).toMatchObject({ event: 'snapshot' });
    expect((await two.next()) as { event: string }).toMatchObject({ event: 'snapshot' });
    const out = await fetch(`${url}/console/api/session`, { method: 'DELETE', headers: { cookie, origin: url, 'x-csrf-token': csrf } });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/tollgate_console=; .*Max-Age=0/);
    for (const stream of [one, two]) {
      expect(await stream.next()).toEqual({ event: 'signed-out', data: { reason: 'you were signed out' } });
      expect(await stream.next()).toBe('closed');
    }
  });

  it('ends a stream once its session is past its maximum age, although the open stream kept it from idling', async () => {
    const { cookie } = await signIn();
    const stream = await open(cookie);
    expect((await stream.next()) as { event: string }).toMatchObject({ event: 'snapshot' });
    // Idle time passes in steps shorter than the idle timeout: the heartbeats keep the session alive.
    for (let i = 0; i < 3; i++) {
      now += 50_000;
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    expect((await fetch(`${url}/console/api/session`, { headers: { cookie } })).status).toBe(200);
    now += 10 * 60_000;
    expect(await stream.next()).toEqual({ event: 'signed-out', data: { reason: 'your session has expired' } });
    expect(await stream.next()).toBe('closed');
    expect((await fetch(`${url}/console/api/events`, { headers: { cookie } })).status).toBe(401);
  });

  it('keeps the number of open streams bounded', async () => {
    const { cookie } = await signIn();
    const opened = [await open(cookie), await open(cookie), await open(cookie)];
    for (const s of opened) expect((await s.next()) as { event: string }).toMatchObject({ event: 'snapshot' });
    const refused = await fetch(`${url}/console/api/events`, { headers: { cookie } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
  });
});
