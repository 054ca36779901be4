import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { canonicalDigest, sha256Hex } from '@tollgate/policy';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdSource, bodyArbitrary, postArbitrary, renderBody, type BodySpec, type PostSpec } from './agent-message-arbitraries.js';
import { expectedAnswer, idKey, type ExpectedAnswer } from './agent-message-oracle.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, recordingUpstream, type RecordingUpstream } from './fixtures.js';

// A property-based fuzz of everything an agent can send, against a real gateway process that
// serves one agent over stdio and others over Streamable HTTP, with a recording upstream and a
// PostgreSQL ledger. For every message, the answer must be what agent-message-oracle.ts says;
// after every run, every tools/call the upstream received must have an allow decision in the
// ledger for the same tool and arguments; at the end the gateway must still be up.
//
// A failure prints fast-check's seed and path. Replay exactly that run with
//   TOLLGATE_FUZZ_SEED=<seed> TOLLGATE_FUZZ_PATH=<path> pnpm exec vitest run packages/gateway/test/agent-surface-fuzz.test.ts
// (TOLLGATE_FUZZ_RUNS=<n> runs more; TOLLGATE_FUZZ_SHRINK=1 shrinks a failure first).

const LIMITS = { maxBytes: 32_768, maxDepth: 16 };
const TOKEN = 'fuzz-agent-token';
const OTHER_TOKEN = 'fuzz-other-agent-token';
const SEED = process.env.TOLLGATE_FUZZ_SEED === undefined ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : Number(process.env.TOLLGATE_FUZZ_SEED);
const PATH = process.env.TOLLGATE_FUZZ_PATH;
const RUNS = Number(process.env.TOLLGATE_FUZZ_RUNS ?? 120);
/** How long one run waits for its answers before it fails. */
const ANSWER_WAIT_MS = 10_000;

/** The recording upstream's policy: echo allowed unless its text starts with "deny", log-later denied, slow hidden. */
const POLICY = {
  version: '1',
  default: 'allow',
  hide: ['slow'],
  tools: {
    'log-later': { action: 'deny', reason: 'log-later is not for agents' },
    echo: { deny_if: [{ id: 'no-deny-text', conditions: [{ path: 'args.text', op: 'regex', value: '^deny' }], on_deny: 'no text starting with deny' }] },
  },
};

type Message = { jsonrpc?: unknown; id?: unknown; method?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };

/**
 * Runs a property with the fuzz's seed and number of runs; a failure says how to replay it.
 * Without TOLLGATE_FUZZ_SHRINK=1 the first failure is reported as found (shrinking re-runs
 * against the same, stateful gateway).
 */
async function assertFuzz<T>(property: fc.IAsyncProperty<T>): Promise<void> {
  try {
    await fc.assert(property, { seed: SEED, ...(PATH !== undefined ? { path: PATH } : {}), numRuns: RUNS, endOnFailure: process.env.TOLLGATE_FUZZ_SHRINK !== '1' });
  } catch (error) {
    const path = /path: "([^"]+)"/.exec((error as Error).message)?.[1];
    throw new Error(`${(error as Error).message}\nreplay with TOLLGATE_FUZZ_SEED=${SEED}${path ? ` TOLLGATE_FUZZ_PATH=${path}` : ''}`, { cause: error });
  }
}

describe('the agent-facing surface, fuzzed', () => {
  let db: TestDatabase;
  let rec: RecordingUpstream;
  let dir: string;
  let child: ChildProcessWithoutNullStreams;
  let url: string;
  let session: string;
  const log: string[] = [];
  const ids = new IdSource();
  const sent = { lines: 0, posts: 0 };

  /** Every response the stdio agent got, by id (null: refusals). */
  const stdioAnswers = new Map<string, Message[]>();
  /** Whatever came on stdout that was not JSON-RPC. */
  const stdioGarbage: string[] = [];
  let stdioArrived: () => void = () => undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    rec = await recordingUpstream();
    await writeFile(join(rec.policyDir, 'rec', 'policy.json'), JSON.stringify(POLICY));
    dir = await mkdtemp(join(tmpdir(), 'tollgate-fuzz-'));
    const file = join(dir, 'gateway.json');
    await writeFile(
      file,
      JSON.stringify({
        listen: { stdio: true, http: { host: '127.0.0.1', port: 0 } },
        agent: { id: 'fuzz-stdio' },
        agents: [
          { id: 'fuzz-http', token_sha256: sha256Hex(TOKEN) },
          { id: 'fuzz-other', token_sha256: sha256Hex(OTHER_TOKEN) },
        ],
        upstreams: { rec: rec.config },
        policy: { dir: rec.policyDir },
        ledger: { database_url: db.url, migrate: true },
        requests: { max_bytes: LIMITS.maxBytes, max_depth: LIMITS.maxDepth },
        log: { level: 'info' },
      }),
    );
    child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'packages/gateway/test/gateway-process.ts'), file], { cwd: ROOT, stdio: 'pipe' });
    const started = new Promise<string>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`the gateway did not start:\n${log.join('\n')}`)), 60_000);
      createInterface({ input: child.stderr }).on('line', (line) => {
        if (log.length < 5000) log.push(line);
        const m = /"url":"([^"]+)".*serving agents over Streamable HTTP|serving agents over Streamable HTTP.*"url":"([^"]+)"/.exec(line);
        if (m) {
          clearTimeout(timer);
          done((m[1] ?? m[2])!);
        }
      });
      child.once('exit', (code) => fail(new Error(`the gateway exited with ${code}:\n${log.join('\n')}`)));
    });
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      let m: Message;
      try {
        m = JSON.parse(line) as Message;
      } catch {
        stdioGarbage.push(line.slice(0, 200));
        return;
      }
      if (m === null || typeof m !== 'object' || m.jsonrpc !== '2.0') stdioGarbage.push(line.slice(0, 200));
      // Notifications and requests from the gateway (log messages, list changes) answer nothing.
      else if (m.method === undefined) {
        const key = idKey(m.id ?? null);
        stdioAnswers.set(key, [...(stdioAnswers.get(key) ?? []), m]);
      }
      stdioArrived();
    });
    url = await started;
    stdioWrite(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } } })));
    await stdioUntil(() => stdioAnswers.has(idKey('init')), 'the stdio initialize answer', 60_000);
    stdioAnswers.delete(idKey('init'));
    stdioWrite(Buffer.from(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })));
    session = await openHttpSession(TOKEN);
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
    await rec?.cleanup();
    await db?.drop();
  });

  function stdioWrite(line: Buffer): void {
    child.stdin.write(Buffer.concat([line, Buffer.from('\n')]));
  }

  async function stdioUntil(done: () => boolean, what: string, ms = ANSWER_WAIT_MS): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        stdioArrived = r;
        setTimeout(r, 50);
      });
    }
  }

  const postHeaders = (token: string | null, sessionId: string | null): Record<string, string> => ({
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-06-18',
    ...(sessionId === null ? {} : { 'mcp-session-id': sessionId }),
  });

  async function openHttpSession(token: string): Promise<string> {
    const init = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } } };
    const res = await fetch(url, { method: 'POST', headers: postHeaders(token, null), body: JSON.stringify(init) });
    expect(res.status).toBe(200);
    await res.text();
    const id = res.headers.get('mcp-session-id')!;
    const ready = await fetch(url, { method: 'POST', headers: postHeaders(token, id), body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    expect(ready.status).toBe(202);
    return id;
  }

  /**
   * No call reached the upstream without a decision: every tools/call it received has an allow
   * decision for the same tool whose args_sha256 is the digest of the arguments it received, no
   * two calls share one decision, and nothing an unauthenticated POST carried was decided or run.
   */
  async function checkLedger(): Promise<void> {
    // The upstream's record first: a call is forwarded only after its decision was committed.
    const calls = await rec.toolCalls();
    const allowed = await db.query<{ tool: string; args_sha256: string }>("SELECT tool, args_sha256 FROM ledger_events WHERE event_type = 'decision' AND effect = 'allow'");
    const unused = new Map<string, number>();
    for (const row of allowed) unused.set(`${row.tool} ${row.args_sha256}`, (unused.get(`${row.tool} ${row.args_sha256}`) ?? 0) + 1);
    for (const call of calls) {
      const key = `${call.params.name} ${canonicalDigest(call.params.arguments ?? {})}`;
      const left = unused.get(key) ?? 0;
      expect(left, `the upstream received ${JSON.stringify(call).slice(0, 300)} with no allow decision left for it`).toBeGreaterThan(0);
      unused.set(key, left - 1);
    }
    expect(calls.length).toBeLessThanOrEqual(allowed.length);
    expect(JSON.stringify(calls)).not.toContain('unauthenticated-');
    const [leak] = await db.query<{ n: string }>("SELECT count(*) AS n FROM ledger_events WHERE args::text LIKE '%unauthenticated-%'");
    expect(Number(leak!.n)).toBe(0);
  }

  it('answers every stdio line as JSON-RPC says, and forwards no call without a recorded decision', async () => {
    /** Lines refused so far, and the ids their refusals may carry besides null. */
    let refusedLines = 0;
    const refusalIds = new Set<string>();
    /** Every request id sent so far that must be answered. */
    const requested = new Set<string>();

    await assertFuzz(
      fc.asyncProperty(fc.array(bodyArbitrary(LIMITS), { minLength: 1, maxLength: 30, size: 'max' }), async (specs: BodySpec[]) => {
        const lines = specs.map((spec) => renderBody(spec, ids, LIMITS));
        sent.lines += lines.length;
        const expected = lines.map((line) => expectedAnswer(line, 'stdio', LIMITS));
        const requests: string[] = [];
        for (const e of expected) {
          if (e.kind === 'refused') {
            refusedLines++;
            for (const id of e.ids) refusalIds.add(idKey(id));
          }
          if (e.kind === 'accepted') for (const id of e.requests) requests.push(idKey(id));
        }
        for (const key of requests) requested.add(key);
        child.stdin.write(Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')])));

        const strays = (): Message[] => [...stdioAnswers].filter(([key]) => !requested.has(key)).flatMap(([, ms]) => ms);
        const shown = (): string => explain(specs, lines, expected);
        await stdioUntil(() => requests.every((k) => stdioAnswers.has(k)) && strays().length >= refusedLines, `the answers to ${shown()}`).catch((error: Error) => {
          const missing = requests.filter((k) => !stdioAnswers.has(k));
          throw new Error(`${error.message}\nunanswered requests: ${missing.join(', ')}\nrefusals: ${strays().length} of ${refusedLines}`);
        });
        // A ping after the run: anything the gateway answered twice, or answered without being
        // asked, has arrived by the time the ping's answer does (stdio answers in order).
        const barrier = ids.fresh('string', 'barrier');
        requested.add(idKey(barrier));
        stdioWrite(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: barrier, method: 'ping' })));
        await stdioUntil(() => stdioAnswers.has(idKey(barrier)), 'the barrier ping');

        expect(stdioGarbage, 'stdout carried something that is not JSON-RPC').toEqual([]);
        for (const key of requests) {
          const answers = stdioAnswers.get(key)!;
          expect(answers, `request ${key} was answered ${answers.length} times in ${shown()}`).toHaveLength(1);
          expect(answers[0]!.result !== undefined || answers[0]!.error !== undefined).toBe(true);
        }
        // Each refused line got exactly one error; nothing else was answered.
        const stray = strays();
        expect(stray.length, `refusals in ${shown()}`).toBe(refusedLines);
        for (const m of stray) {
          expect(m.error, `an answer nobody asked for: ${JSON.stringify(m).slice(0, 300)}`).toBeDefined();
          expect(m.id === null || refusalIds.has(idKey(m.id)), `a refusal under an id no refused line carried: ${JSON.stringify(m).slice(0, 300)}`).toBe(true);
        }
        expect(stdioAnswers.get(idKey(barrier))).toHaveLength(1);
        await checkLedger();
      }),
    );
  }, 240_000);

  it('answers every HTTP POST as Streamable HTTP and JSON-RPC say, authenticated or not, and forwards no call without a recorded decision', async () => {
    await assertFuzz(
      fc.asyncProperty(fc.array(postArbitrary(LIMITS), { minLength: 1, maxLength: 24, size: 'max' }), async (posts: PostSpec[]) => {
        await Promise.all(posts.map((post) => sendPost(post)));
        await checkLedger();
      }),
    );
  }, 240_000);

  async function sendPost(post: PostSpec): Promise<void> {
    sent.posts++;
    const authed = post.auth === 'valid';
    // What an unauthenticated POST carries is marked: it must never be decided or run.
    const marked = { jsonrpc: '2.0', id: ids.fresh('integer'), method: 'tools/call', params: { name: 'echo', arguments: { text: `unauthenticated-${ids.never()}` } } };
    const body = !authed && post.body.t === 'message' ? Buffer.from(JSON.stringify(marked)) : renderBody(post.body, ids, LIMITS);
    const h = post.headers;
    const headers: Record<string, string> = {
      'content-type': h.contentType === 'json' ? 'application/json' : 'text/plain',
      'mcp-session-id': session,
      ...(h.accept === 'both' ? { accept: 'application/json, text/event-stream' } : h.accept === 'json-only' ? { accept: 'application/json' } : {}),
      ...(h.protocolVersion === 'current' ? { 'mcp-protocol-version': '2025-06-18' } : h.protocolVersion === 'unknown' ? { 'mcp-protocol-version': '1999-01-01' } : {}),
    };
    const authorization = {
      valid: `Bearer ${TOKEN}`,
      none: undefined,
      'unknown-token': 'Bearer not-a-known-token',
      'no-scheme': TOKEN,
      basic: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
      'empty-bearer': 'Bearer ',
    }[post.auth];
    if (authorization !== undefined) headers.authorization = authorization;
    const expected: ExpectedAnswer = expectedAnswer(body, 'http', LIMITS, {
      acceptsBoth: h.accept === 'both',
      jsonContentType: h.contentType === 'json',
      knownProtocolVersion: h.protocolVersion !== 'unknown',
    });
    const what = `POST (${post.auth}, ${JSON.stringify(h)}) ${describeBody(body)} — expected ${JSON.stringify(expected).slice(0, 300)}`;
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(ANSWER_WAIT_MS) });
    const text = await res.text();

    if (!authed) {
      expect(res.status, what).toBe(401);
      expect(res.headers.get('www-authenticate'), what).toMatch(/^Bearer /);
      expect(JSON.parse(text), what).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32001 } });
      return;
    }
    if (expected.kind === 'refused') {
      expect(res.status, what).toBeGreaterThanOrEqual(400);
      expect(res.status, what).toBeLessThan(500);
      if (expected.why === 'too large') expect(res.status, what).toBe(413);
      const answer = JSON.parse(text) as Message;
      expect(Array.isArray(answer), what).toBe(false);
      expect(answer.jsonrpc, what).toBe('2.0');
      expect(typeof answer.error?.code, what).toBe('number');
      expect(answer.id === null || expected.ids.some((id) => idKey(id) === idKey(answer.id)), what).toBe(true);
      return;
    }
    expect(expected.kind, what).toBe('accepted');
    if (expected.kind !== 'accepted') return;
    if (expected.requests.length === 0) {
      expect(res.status, what).toBe(202);
      expect(text, what).toBe('');
      return;
    }
    expect(res.status, what).toBe(200);
    let answers: Message[];
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      answers = text
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => JSON.parse(line.slice(6)) as Message)
        .filter((m) => m.method === undefined);
    } else {
      const parsed = JSON.parse(text) as Message | Message[];
      expect(Array.isArray(parsed), what).toBe(expected.batch);
      answers = Array.isArray(parsed) ? parsed : [parsed];
    }
    // Exactly one answer per request, under its id, and nothing else.
    expect(answers.map((a) => idKey(a.id)).sort(), what).toEqual(expected.requests.map(idKey).sort());
    for (const a of answers) expect(a.result !== undefined || a.error !== undefined, what).toBe(true);
  }

  it('is still up afterwards: the process runs and answers a ping on stdio and over HTTP', async () => {
    expect(child.exitCode).toBeNull();
    const id = ids.fresh('string', 'final');
    stdioWrite(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' })));
    await stdioUntil(() => stdioAnswers.has(idKey(id)), 'the final ping');
    expect(stdioAnswers.get(idKey(id))).toEqual([{ jsonrpc: '2.0', id, result: {} }]);
    const res = await fetch(url, { method: 'POST', headers: postHeaders(TOKEN, session), body: JSON.stringify({ jsonrpc: '2.0', id: 'final', method: 'ping' }) });
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: 'final', result: {} });
    // A new agent session still opens and runs a governed call.
    const other = await openHttpSession(OTHER_TOKEN);
    const call = await fetch(url, { method: 'POST', headers: postHeaders(OTHER_TOKEN, other), body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'still here' } } }) });
    expect(await call.json()).toMatchObject({ id: 1, result: { content: [{ type: 'text', text: 'still here' }] } });
    await checkLedger();
    // The runs reached every part of the pipeline: calls were allowed and run, denied and hidden.
    if (PATH === undefined && RUNS >= 50) {
      const effects = await db.query<{ effect: string }>("SELECT DISTINCT effect FROM ledger_events WHERE event_type = 'decision'");
      expect(effects.map((r) => r.effect).sort()).toEqual(['allow', 'deny', 'hidden']);
      expect(sent.lines + sent.posts).toBeGreaterThan(RUNS * 10);
    }
  });
});

function describeBody(body: Buffer): string {
  const text = body.toString('utf8');
  return text.length > 300 ? `${JSON.stringify(text.slice(0, 300))}… (${body.length} bytes)` : JSON.stringify(text);
}

function explain(specs: readonly BodySpec[], lines: readonly Buffer[], expected: readonly ExpectedAnswer[]): string {
  return `${specs.length} lines:\n${lines.map((line, i) => `  ${describeBody(line)} -> ${JSON.stringify(expected[i]).slice(0, 200)}`).join('\n')}`;
}
