#!/usr/bin/env node
// Regenerates policies/everything/catalog.json: starts @modelcontextprotocol/server-everything
// over stdio, lists its tools with a real MCP client, classifies each tool's risk and writes the
// snapshot (temp file, then rename, so a failed run never leaves half a catalog behind).
//
//   node scripts/snapshot-everything-catalog.mjs [--out policies/everything/catalog.json]
//
// The client advertises no capabilities, exactly like a gateway upstream connection, so the
// server's capability-dependent tools (sampling, elicitation, roots) are not offered and not listed.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const options = { out: resolve(root, 'policies/everything/catalog.json') };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--out' && argv[i + 1] !== undefined) options.out = resolve(argv[++i]);
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write('usage: node scripts/snapshot-everything-catalog.mjs [--out <file>]\n');
      process.exit(0);
    } else {
      process.stderr.write(`snapshot-everything-catalog: unknown argument "${arg}" (expected --out <file>)\n`);
      process.exit(2);
    }
  }
  return options;
}

/** The server's stdio entry point, from the installed package's `bin`. */
function serverEntry() {
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('@modelcontextprotocol/server-everything/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const bin = typeof manifest.bin === 'string' ? manifest.bin : Object.values(manifest.bin ?? {})[0];
  if (typeof bin !== 'string') throw new Error(`${manifestPath} declares no bin entry`);
  return { entry: resolve(dirname(manifestPath), bin), version: manifest.version };
}

// Reviewed classes of tools whose annotations understate what they do.
const overrides = {
  // Read-only, but it returns the server's whole environment, where credentials usually live.
  'get-env': { level: 'high', category: 'read' },
  // Annotated read-only, but each call triggers work that holds the server for `duration` seconds.
  'trigger-long-running-operation': { level: 'high', category: 'execute' },
};

// Every other tool is classified from its MCP annotations, as Tollgate's classifier does for
// this server's tools: destructive -> high, read-only -> low read, not read-only in an open world
// (acting on the outside world) -> high write, anything else -> medium write (unknown effects are
// not assumed safe).
function classify(tool) {
  const override = overrides[tool.name];
  if (override) return override;
  const a = tool.annotations ?? {};
  if (a.destructiveHint === true) return { level: 'high', category: 'destructive' };
  if (a.readOnlyHint === true) return { level: 'low', category: 'read' };
  if (a.openWorldHint === true) return { level: 'high', category: 'write' };
  return { level: 'medium', category: 'write' };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const { entry, version } = serverEntry();
  const transport = new StdioClientTransport({ command: process.execPath, args: [entry, 'stdio'], stderr: 'pipe' });
  const client = new Client({ name: 'tollgate-catalog-snapshot', version: '0.1.0' });
  await client.connect(transport);
  try {
    const tools = [];
    let cursor;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    const catalog = {
      server: 'everything',
      tools: tools.map((tool) => ({
        name: tool.name,
        description: tool.description ?? '',
        inputSchema: tool.inputSchema,
        annotations: tool.annotations ?? {},
        risk: classify(tool),
      })),
    };
    const temp = `${options.out}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(catalog, null, 2)}\n`);
    renameSync(temp, options.out);
    const server = client.getServerVersion();
    process.stdout.write(
      `wrote ${catalog.tools.length} tools of ${server?.name ?? 'server'} ${server?.version ?? ''} ` +
        `(@modelcontextprotocol/server-everything ${version}) to ${options.out}\n`,
    );
  } finally {
    await client.close();
  }
}

main().catch((error) => {
  process.stderr.write(`snapshot-everything-catalog: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
