import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../gateway-error.js';
import { parseGatewayConfig } from './config-loader.js';

const SECRET = 'whsec-0123456789abcdef';

function configWith(approvals: Record<string, unknown>, file = '/srv/tollgate/gateway.json') {
  return parseGatewayConfig(
    JSON.stringify({ listen: { stdio: true }, agent: { id: 'bot' }, upstreams: { ccxt: { command: 'node' } }, policy: { dir: 'policies' }, approvals }, null, 2),
    file,
  );
}

function problemsOf(approvals: Record<string, unknown>, file?: string): string[] {
  try {
    configWith(approvals, file);
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('config.invalid');
    return (error as GatewayError).problems.map((p) => `${p.line}:${p.column} ${p.message}`);
  }
  throw new Error('expected the configuration to be refused');
}

describe('approvals.notify configuration', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-notify-config-'));
    await writeFile(join(dir, 'hook.secret'), `${SECRET}\n`);
    await writeFile(join(dir, 'short.secret'), 'abc\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('defaults every receiver: all events, signed JSON, 6 attempts over about 10 minutes', () => {
    const config = configWith({ console_url: 'https://tollgate.example.com/', notify: [{ url: 'https://hooks.example.com/tollgate', secret: SECRET }] });
    expect(config.approvals.consoleUrl).toBe('https://tollgate.example.com');
    expect(config.approvals.notify).toEqual([
      {
        id: expect.stringMatching(/^hooks\.example\.com-[0-9a-f]{8}$/),
        url: 'https://hooks.example.com/tollgate',
        secret: SECRET,
        events: ['requested', 'granted', 'denied', 'expired'],
        format: 'json',
        timeoutMs: 5000,
        attempts: 6,
        backoffMs: 20_000,
        maxBackoffMs: 300_000,
      },
    ]);
    expect(config.approvals.delivery).toEqual({ concurrency: 4, queue: 1000, sweepMs: 10_000 });
    expect(Object.isFrozen(config.approvals.notify[0])).toBe(true);
  });

  it('reads secret_file relative to the configuration, and takes every setting', () => {
    const config = configWith(
      {
        notify: [
          { id: 'ops', url: 'http://127.0.0.1:9/hook', secret_file: 'hook.secret', events: ['requested', 'expired'], timeout: '300ms', attempts: 3, backoff: '50ms', max_backoff: '200ms' },
          { url: 'https://hooks.slack.com/services/T0/B0/XXXX', format: 'slack' },
        ],
        delivery: { concurrency: 2, queue: 10, sweep: '100ms' },
      },
      join(dir, 'gateway.json'),
    );
    expect(config.approvals.notify[0]).toEqual({ id: 'ops', url: 'http://127.0.0.1:9/hook', secret: SECRET, events: ['requested', 'expired'], format: 'json', timeoutMs: 300, attempts: 3, backoffMs: 50, maxBackoffMs: 200 });
    // A Slack webhook's URL is its secret: no signing secret is needed, and its id gives none of the URL's path away.
    expect(config.approvals.notify[1]).toMatchObject({ format: 'slack', secret: undefined, id: expect.stringMatching(/^hooks\.slack\.com-[0-9a-f]{8}$/) });
    expect(config.approvals.notify[1]!.id).not.toContain('XXXX');
    expect(config.approvals.delivery).toEqual({ concurrency: 2, queue: 10, sweepMs: 100 });
  });

  it('refuses unsigned JSON, short or unreadable secrets, and both kinds of secret at once, naming the place', () => {
    const problems = problemsOf(
      {
        notify: [
          { url: 'https://a.example.com/' },
          { url: 'https://b.example.com/', secret: 'short' },
          { url: 'https://c.example.com/', secret_file: 'missing.secret' },
          { url: 'https://d.example.com/', secret_file: 'short.secret' },
          { url: 'https://e.example.com/', secret: SECRET, secret_file: 'hook.secret' },
        ],
      },
      join(dir, 'gateway.json'),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^\d+:\d+ approvals\.notify\[0\] needs "secret" or "secret_file": JSON notifications are signed/),
      expect.stringMatching(/^\d+:\d+ approvals\.notify\[1\]'s secret is 5 characters long: use at least 16/),
      expect.stringMatching(/^\d+:\d+ approvals\.notify\[2\]\.secret_file: cannot read .*missing\.secret/),
      expect.stringMatching(/^\d+:\d+ approvals\.notify\[3\]'s secret is 3 characters long/),
      expect.stringMatching(/^\d+:\d+ approvals\.notify\[4\] takes "secret" or "secret_file", not both/),
    ]);
  });

  it('refuses URLs with credentials, repeated ids, unknown events and keys, and bad durations', () => {
    expect(problemsOf({ notify: [{ url: 'https://user:pw@hooks.example.com/', secret: SECRET }] })).toEqual([expect.stringContaining('must not carry credentials')]);
    expect(
      problemsOf({
        notify: [
          { id: 'ops', url: 'https://a.example.com/', secret: SECRET },
          { id: 'ops', url: 'https://b.example.com/', secret: SECRET },
          { url: 'https://a.example.com/x', secret: SECRET },
          { url: 'https://a.example.com/x', secret: SECRET },
        ],
      }),
    ).toEqual([expect.stringContaining('approvals.notify[1] has the id "ops" of approvals.notify[0]'), expect.stringContaining('approvals.notify[3] has the id')]);
    expect(problemsOf({ notify: [{ url: 'ftp://a.example.com/', secret: SECRET }] })).toEqual([expect.stringContaining('approvals.notify.0.url must be an http:// or https:// URL')]);
    expect(problemsOf({ notify: [{ url: 'https://a.example.com/', secret: SECRET, events: ['consumed'] }] })).toEqual([expect.stringContaining('approvals.notify.0.events.0')]);
    expect(problemsOf({ notify: [{ url: 'https://a.example.com/', secret: SECRET, headers: {} }] })).toEqual([expect.stringContaining('headers')]);
    expect(problemsOf({ notify: [{ url: 'https://a.example.com/', secret: SECRET, backoff: 'soon' }] })).toEqual([expect.stringContaining('approvals.notify.0.backoff must be a duration')]);
    expect(problemsOf({ notify: [{ url: 'https://a.example.com/', secret: SECRET, backoff: '10m', max_backoff: '1m' }] })).toEqual([expect.stringContaining('must not be longer than its max_backoff')]);
    expect(problemsOf({ notify: [{ url: 'https://a.example.com/', secret: SECRET, timeout: '2m' }] })).toEqual([expect.stringContaining('timeout must be at most 60s')]);
    expect(problemsOf({ notify: [{ id: '-x', url: 'https://a.example.com/', secret: SECRET }] })).toEqual([expect.stringContaining('approvals.notify.0.id must be letters, digits')]);
    expect(problemsOf({ console_url: 'https://x.example.com/?a=1' })).toEqual([expect.stringContaining('approvals.console_url must be an http:// or https:// URL with no query or fragment')]);
    expect(problemsOf({ delivery: { concurrency: 0 } })).toEqual([expect.stringContaining('approvals.delivery.concurrency')]);
  });
});
