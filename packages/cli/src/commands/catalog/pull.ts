import { Args, Flags } from '@oclif/core';
import { TollgateCommand } from '../../base-command.js';
import type { CatalogFileReport } from '../../scaffold/catalog-puller.js';
import { connectFlags } from '../../scaffold/connect-flags.js';

/**
 * `tollgate catalog pull <server>`: snapshots a server's `tools/list` into `catalog.json` with
 * each tool's risk class. The work is done by `refreshCatalogFile`.
 */
export default class CatalogPull extends TollgateCommand {
  static override summary = "Snapshot an MCP server's tools/list into catalog.json and classify each tool's risk.";

  static override description = `Connects to the server — a command line started over stdio, or a Streamable HTTP URL — reads its whole tools/list (names, descriptions, input schemas, annotations) and writes it to policies/<name>/catalog.json with each tool's risk class (level critical|high|medium|low, category financial|destructive|execute|write|read) from its MCP annotations and name.

The output is stable: tools sorted by name, 2-space JSON, schema keys sorted, so pulling an unchanged server writes identical bytes. When the catalog exists, its risk classes are kept (they may have been reviewed) unless --reclassify.

Exit status: 0 written (or unchanged), 2 the server could not be started or reached, or exited (nothing is written).`;

  static override usage = 'catalog pull <SERVER> [--name <server>] [--out <file>] [--reclassify] [--timeout <s>] [--header "Name: value"] [--json]';

  static override examples = [
    '<%= config.bin %> catalog pull "node packages/demo-exchange/dist/main.js" --name ccxt',
    '<%= config.bin %> catalog pull "npx -y @modelcontextprotocol/server-everything" --name everything',
    '<%= config.bin %> catalog pull http://127.0.0.1:9000/mcp --name ccxt --header "Authorization: Bearer $TOKEN"',
  ];

  static override args = {
    server: Args.string({ required: true, description: 'the server: a command line (quote it) or an http(s):// Streamable HTTP URL' }),
  };

  static override flags = {
    name: Flags.string({ char: 'n', description: "the server's name, i.e. policies/<name>/ (default: the name the server reports)" }),
    out: Flags.string({ char: 'o', description: 'the catalog file to write (default: policies/<name>/catalog.json)' }),
    reclassify: Flags.boolean({ default: false, description: "classify every tool afresh instead of keeping the existing catalog's risk classes" }),
    ...connectFlags,
  };

  public async run(): Promise<CatalogFileReport> {
    const { args, flags } = await this.parse(CatalogPull);
    const { refreshCatalogFile } = await import('../../scaffold/catalog-puller.js');
    const { checkServerName } = await import('../../scaffold/server-target.js');
    const { parseHeaders } = await import('../../scaffold/connect-flags.js');
    const { progressReporter } = await import('../../render/progress-reporter.js');
    const progress = progressReporter({ json: this.jsonEnabled() });
    const report = await refreshCatalogFile(args.server, {
      onProgress: progress.step,
      cwd: process.cwd(),
      timeoutMs: flags.timeout * 1000,
      headers: parseHeaders(flags.header),
      reclassify: flags.reclassify,
      ...(flags.name !== undefined ? { name: checkServerName(flags.name, '--name') } : {}),
      ...(flags.out !== undefined ? { out: flags.out } : {}),
    }).finally(() => progress.stop());
    if (!this.jsonEnabled()) {
      const { renderCatalogPull } = await import('../../render/scaffold-report-renderer.js');
      const { writeStdout } = await import('../../report-output.js');
      writeStdout(renderCatalogPull(report));
    }
    return report;
  }
}
