import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';
import { ROOT, everythingEntry } from './fixtures.js';
import { DOWNSTREAM_TRANSPORTS, startGatewayProcess, type GatewayProcess } from './gateway-harness.js';

// server-everything sends a log message and resource updates at once when its toggles are
// called; the repository's policy keeps those toggles from agents, so this suite allows them.
for (const transport of DOWNSTREAM_TRANSPORTS) {
  describe(`upstream notifications reach the agent over ${transport}`, () => {
    let db: TestDatabase;
    let dir: string;
    let gateway: GatewayProcess;

    beforeAll(async () => {
      db = await createTestDatabase();
      dir = await mkdtemp(join(tmpdir(), 'tollgate-notify-'));
      const policy = JSON.parse(await readFile(resolve(ROOT, 'policies/everything/policy.json'), 'utf8')) as { tools: Record<string, unknown>; $schema?: string };
      delete policy.$schema;
      policy.tools['toggle-simulated-logging'] = {};
      policy.tools['toggle-subscriber-updates'] = {};
      await mkdir(join(dir, 'everything'));
      await writeFile(join(dir, 'everything/policy.json'), JSON.stringify(policy));
      gateway = await startGatewayProcess(transport, {
        upstreams: { everything: { command: process.execPath, args: [everythingEntry(), 'stdio'] } },
        policy: { dir },
        ledger: { database_url: db.url, migrate: true },
      });
    }, 120_000);

    afterAll(async () => {
      let code: number | null | undefined;
      try {
        code = await gateway?.stop();
      } finally {
        await rm(dir, { recursive: true, force: true });
        await db?.drop();
      }
      if (gateway) expect(code).toBe(0);
    }, 60_000);

    it('relays log messages at the agent\'s level and updates of the resources it subscribed to', async () => {
      const { client } = gateway;
      const logs: Array<{ level: string }> = [];
      const updates: string[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        logs.push(n.params as { level: string });
      });
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
        updates.push(n.params.uri);
      });
      await client.setLoggingLevel('debug');
      const uri = (await client.listResources()).resources[0]!.uri;
      await client.subscribeResource({ uri });
      expect((await client.callTool({ name: 'toggle-simulated-logging', arguments: {} })).isError).toBeFalsy();
      expect((await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} })).isError).toBeFalsy();
      for (let i = 0; i < 100 && (logs.length === 0 || updates.length === 0); i++) await new Promise((r) => setTimeout(r, 50));
      expect(logs.length).toBeGreaterThan(0);
      expect(typeof logs[0]!.level).toBe('string');
      expect(updates).toContain(uri);
      await client.unsubscribeResource({ uri });
    }, 30_000);
  });
}
