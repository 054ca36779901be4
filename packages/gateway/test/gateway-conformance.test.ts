import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { canonicalDigest } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, everythingEntry } from './fixtures.js';
import { DOWNSTREAM_TRANSPORTS, TEST_AGENT, startGatewayProcess, type GatewayProcess } from './gateway-harness.js';

// The tools of server-everything that policies/everything/policy.json allows, with arguments
// whose results are deterministic, so the gateway's answer can be compared with the server's own.
const ALLOWED_CALLS: ReadonlyArray<[string, Record<string, unknown>]> = [
  ['echo', { message: 'hello through the gateway' }],
  ['get-sum', { a: 2, b: 40 }],
  ['get-annotated-message', { messageType: 'success', includeImage: true }],
  ['get-tiny-image', {}],
  ['get-structured-content', { location: 'Chicago' }],
  ['get-resource-links', { count: 2 }],
  ['get-resource-reference', { resourceType: 'Text', resourceId: 3 }],
];

interface LedgerRow {
  call_id: string;
  event_type: string;
  tool: string;
  effect: string | null;
  rule: string | null;
  outcome_status: string | null;
  result_sha256: string | null;
  agent_id: string;
  session_id: string | null;
}

for (const transport of DOWNSTREAM_TRANSPORTS) {
  describe(`gateway conformance over ${transport}`, () => {
    let db: TestDatabase;
    let gateway: GatewayProcess;
    let direct: Client;
    let client: Client;
    // Calls that passed every rule count against policies/everything's 30-a-minute session limit.
    let admitted = 0;

    beforeAll(async () => {
      db = await createTestDatabase();
      gateway = await startGatewayProcess(transport, {
        upstreams: { everything: { command: process.execPath, args: [everythingEntry(), 'stdio'] } },
        policy: { dir: resolve(ROOT, 'policies') },
        ledger: { database_url: db.url, migrate: true },
        // Answer a call that needs approval at once (the approvals tests cover hold mode).
        approvals: { mode: 'retry' },
      });
      client = gateway.client;
      direct = new Client({ name: 'direct', version: '1' }, { capabilities: {} });
      await direct.connect(new StdioClientTransport({ command: process.execPath, args: [everythingEntry(), 'stdio'], stderr: 'ignore' }));
    }, 120_000);

    afterAll(async () => {
      let code: number | null | undefined;
      try {
        await direct?.close();
        code = await gateway?.stop();
      } finally {
        await db?.drop();
      }
      // A clean shutdown of the gateway process, once the suite is over.
      if (gateway) expect(code).toBe(0);
    }, 60_000);

    const call = async (name: string, args: Record<string, unknown>): Promise<CallToolResult> =>
      (await client.request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema)) as CallToolResult;

    it('introduces itself as tollgate with the upstream\'s capabilities', () => {
      expect(client.getServerVersion()?.name).toBe('tollgate');
      const caps = client.getServerCapabilities();
      expect(caps?.tools).toEqual({ listChanged: true });
      expect(caps?.resources).toBeDefined();
      expect(caps?.prompts).toBeDefined();
      expect(caps?.logging).toBeDefined();
      expect(caps?.completions).toBeDefined();
    });

    it('lists the upstream\'s tools minus hidden and always-denied ones, unchanged but for task support', async () => {
      const listed = (await client.listTools()).tools;
      const all = (await direct.listTools()).tools;
      const names = listed.map((t) => t.name).sort();
      expect(names).toEqual(
        ['echo', 'get-annotated-message', 'get-resource-links', 'get-resource-reference', 'get-structured-content', 'get-sum', 'get-tiny-image', 'gzip-file-as-resource', 'toggle-subscriber-updates', 'trigger-long-running-operation'].sort(),
      );
      // As the upstream lists them, and callable as MCP tasks through the gateway (never required).
      for (const tool of listed) {
        const upstream = all.find((t) => t.name === tool.name)!;
        expect(tool).toEqual({ ...upstream, execution: { ...upstream.execution, taskSupport: 'optional' } });
      }
    });

    it('answers every allowed tool exactly as the upstream does', async () => {
      for (const [name, args] of ALLOWED_CALLS) {
        // Resources made by get-resource-links/-reference carry the time to the second: a pair of
        // calls that straddles a second boundary is asked again.
        let through: unknown;
        let straight: unknown;
        for (let attempt = 0; attempt < 3; attempt++) {
          through = await call(name, args);
          admitted++;
          straight = await direct.callTool({ name, arguments: args });
          if (JSON.stringify(through) === JSON.stringify(straight)) break;
        }
        expect(through, name).toEqual(straight);
      }
    });

    it('relays progress notifications of a long-running call', async () => {
      const progress: number[] = [];
      const result = await client.request(
        { method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } } },
        CallToolResultSchema,
        { onprogress: (p) => progress.push(p.progress) },
      );
      admitted++;
      expect(result.isError).toBeFalsy();
      // The last step's notification may race the result (then the SDK drops it, directly too).
      expect(progress.length).toBeGreaterThanOrEqual(2);
      expect(progress).toEqual([1, 2, 3].slice(0, progress.length));
    });

    it('cancels the upstream call when the agent cancels, and records it', async () => {
      const controller = new AbortController();
      const pending = client.request(
        { method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 3, steps: 3 } } },
        CallToolResultSchema,
        { signal: controller.signal },
      );
      admitted++;
      setTimeout(() => controller.abort('the agent changed its mind'), 300);
      await expect(pending).rejects.toThrow();
      let rows: Array<{ outcome_status: string }> = [];
      for (let i = 0; i < 100 && rows.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        rows = await db.query("SELECT outcome_status FROM ledger_events WHERE event_type = 'outcome' AND outcome_status = 'cancelled'");
      }
      expect(rows).toEqual([{ outcome_status: 'cancelled' }]);
    });

    it('denies by rule with the reason, code and rule', async () => {
      const denied = await call('echo', { message: '-----BEGIN PRIVATE KEY-----' });
      expect(denied.isError).toBe(true);
      expect(denied.content).toEqual([{ type: 'text', text: '[POLICY DENIED] Messages may not carry private keys.' }]);
      expect(denied.structuredContent).toMatchObject({ code: 'policy.denied', rule: 'echo-no-private-keys' });
      expect(typeof (denied.structuredContent as { decision_id?: unknown }).decision_id).toBe('string');
      const unlisted = await call('toggle-simulated-logging', {});
      expect(unlisted.structuredContent).toMatchObject({ code: 'policy.denied', rule: 'tools.toggle-simulated-logging.action' });
      const ssrf = await call('gzip-file-as-resource', { name: 'x.gz', data: 'http://169.254.169.254/latest/meta-data' });
      expect(ssrf.structuredContent).toMatchObject({ code: 'policy.denied', rule: 'tools.gzip-file-as-resource.require[0]' });
    });

    it('answers a hidden tool exactly like one that does not exist', async () => {
      const hidden = await call('get-env', {}).then(() => undefined, (e: unknown) => e as { code: number; message: string });
      const missing = await call('no-such-tool', {}).then(() => undefined, (e: unknown) => e as { code: number; message: string });
      expect(hidden?.code).toBe(-32602);
      expect(missing?.code).toBe(-32602);
      expect(hidden?.message).toBe('MCP error -32602: Unknown tool: get-env');
      expect(missing?.message).toBe('MCP error -32602: Unknown tool: no-such-tool');
    });

    it('refuses invalid arguments before the policy runs', async () => {
      const invalid = await call('get-sum', { a: '2', b: 40 });
      expect(invalid.isError).toBe(true);
      expect(invalid.content).toEqual([{ type: 'text', text: '[POLICY DENIED] invalid arguments for get-sum: args.a must be number' }]);
      expect(invalid.structuredContent).toMatchObject({ code: 'invalid_arguments', rule: 'input_schema' });
    });

    it('a refusal of a tool with an output schema reaches the SDK\'s own callTool with its reason', async () => {
      // callTool validates structuredContent against the tool's outputSchema, errors included:
      // a refusal carries its machine-readable part in _meta for such a tool.
      await client.listTools();
      const result = (await client.callTool({ name: 'get-structured-content', arguments: { location: 42 } })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toBeUndefined();
      expect((result.content as Array<{ text: string }>)[0]!.text).toMatch(/^\[POLICY DENIED\] invalid arguments for get-structured-content: args\.location must be string/);
      expect(result._meta?.['tollgate/refusal']).toMatchObject({ code: 'invalid_arguments', rule: 'input_schema' });
      // A tool without an output schema still gets structuredContent as well.
      const plain = (await client.callTool({ name: 'get-sum', arguments: { a: 'x', b: 1 } })) as CallToolResult;
      expect(plain.structuredContent).toMatchObject({ code: 'invalid_arguments' });
      expect(plain._meta?.['tollgate/refusal']).toEqual(plain.structuredContent);
    });

    it('holds calls that need an approval', async () => {
      const held = await call('toggle-subscriber-updates', {});
      expect(held.isError).toBe(true);
      expect(held.structuredContent).toMatchObject({ code: 'approval.required', rule: 'tools.toggle-subscriber-updates.action' });
      expect((held.content as Array<{ text: string }>)[0]!.text).toMatch(
        /^\[APPROVAL REQUIRED\] Subscription updates affect every client of the server; a human must approve\. — approval [0-9a-f-]{36} is pending until /,
      );
      expect(held.structuredContent).toMatchObject({ approval_id: expect.any(String), args_sha256: canonicalDigest({}) });
    });

    it('passes resources, prompts, completion and logging through unchanged', async () => {
      expect(await client.listResources()).toEqual(await direct.listResources());
      expect(await client.listResourceTemplates()).toEqual(await direct.listResourceTemplates());
      const uri = (await direct.listResources()).resources[0]!.uri;
      expect(await client.readResource({ uri })).toEqual(await direct.readResource({ uri }));
      expect(await client.listPrompts()).toEqual(await direct.listPrompts());
      expect(await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Lyon' } })).toEqual(await direct.getPrompt({ name: 'args-prompt', arguments: { city: 'Lyon' } }));
      const ref = { type: 'ref/prompt' as const, name: 'completable-prompt' };
      expect(await client.complete({ ref, argument: { name: 'department', value: 'E' } })).toEqual(await direct.complete({ ref, argument: { name: 'department', value: 'E' } }));
      expect(await client.setLoggingLevel('error')).toEqual({});
      expect(await client.ping()).toEqual({});
    });

    it('answers an unknown method with -32601', async () => {
      const error = await client.request({ method: 'tools/frobnicate', params: {} }, CallToolResultSchema).then(() => undefined, (e: unknown) => e as { code: number });
      expect(error?.code).toBe(-32601);
    });

    it('rate-limits the session once its limit is used up', async () => {
      expect(admitted).toBeLessThan(30);
      // The limit's window is the current UTC minute, and the calls before may have fallen in the
      // previous one: call until the 30 a minute are used up (at most 30 more), then one more.
      let limited: CallToolResult | undefined;
      for (let i = 0; i <= 30 && limited === undefined; i++) {
        const r = await call('echo', { message: `n${i}` });
        if (r.isError) limited = r;
        else admitted++;
      }
      expect(limited?.isError).toBe(true);
      if (!limited) return;
      expect(limited.structuredContent).toMatchObject({ code: 'rate_limited', rule: 'all_tools.limits[0]' });
      expect((limited.structuredContent as { retry_after: number }).retry_after).toBeGreaterThan(0);
    });

    it('recorded a decision for every call and an outcome for every allowed one', async () => {
      // Outcomes are committed with the next batch: give the writer a moment.
      await new Promise((r) => setTimeout(r, 200));
      const rows = await db.query<LedgerRow>('SELECT call_id, event_type, tool, effect, rule, outcome_status, result_sha256, agent_id, session_id FROM ledger_events WHERE call_id IS NOT NULL ORDER BY strand_id, seq');
      const decisions = rows.filter((r) => r.event_type === 'decision');
      const outcomes = new Map(rows.filter((r) => r.event_type === 'outcome').map((r) => [r.call_id, r]));
      expect(decisions.every((d) => d.agent_id === TEST_AGENT.id && d.session_id)).toBe(true);
      const allowed = decisions.filter((d) => d.effect === 'allow');
      expect(allowed).toHaveLength(admitted);
      for (const d of allowed) expect(outcomes.get(d.call_id)?.outcome_status, d.tool).toBe(d.tool === 'trigger-long-running-operation' && outcomes.get(d.call_id)?.outcome_status === 'cancelled' ? 'cancelled' : 'ok');
      expect(allowed.filter((d) => outcomes.get(d.call_id)?.outcome_status === 'cancelled')).toHaveLength(1);
      expect(decisions.filter((d) => d.effect === 'hidden').map((d) => d.tool)).toEqual(['get-env']);
      expect(decisions.filter((d) => d.effect === 'approval_required').map((d) => d.tool)).toEqual(['toggle-subscriber-updates']);
      expect(decisions.filter((d) => d.effect === 'deny').map((d) => d.rule).sort()).toEqual(
        ['all_tools.limits[0]', 'echo-no-private-keys', 'input_schema', 'input_schema', 'input_schema', 'tools.gzip-file-as-resource.require[0]', 'tools.toggle-simulated-logging.action'].sort(),
      );
      const echo = allowed.find((d) => d.tool === 'echo')!;
      const straight = await direct.callTool({ name: 'echo', arguments: { message: 'hello through the gateway' } });
      expect(outcomes.get(echo.call_id)?.result_sha256).toBe(canonicalDigest(straight));
      const activated = await db.query<{ server: string }>("SELECT server FROM ledger_events WHERE event_type = 'policy.activated'");
      expect(activated).toEqual([{ server: 'everything' }]);
    });
  });
}
