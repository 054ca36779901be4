import type { CatalogFileReport, PulledTool } from '../scaffold/catalog-puller.js';
import type { ScaffoldResult } from '../scaffold/repository-scaffolder.js';

const LEVEL_ORDER = ['critical', 'high', 'medium', 'low'];

/** One line per tool, most severe first, then by name: `critical  financial    withdraw (kept)`. */
function riskLines(tools: readonly PulledTool[], note: (tool: PulledTool) => string): string[] {
  const sorted = [...tools].sort((a, b) => LEVEL_ORDER.indexOf(a.level) - LEVEL_ORDER.indexOf(b.level) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const width = Math.max(0, ...tools.map((t) => t.name.length));
  return sorted.map((t) => {
    const extra = note(t);
    return `  ${t.level.padEnd(8)}  ${t.category.padEnd(11)}  ${extra ? t.name.padEnd(width) : t.name}${extra}`.trimEnd();
  });
}

function serverLabel(report: Pick<CatalogFileReport, 'serverInfo' | 'target'>): string {
  return report.serverInfo ? `${report.serverInfo.name} ${report.serverInfo.version} (${report.target})` : report.target;
}

/** The pretty output of `tollgate catalog pull`. */
export function renderCatalogPull(report: CatalogFileReport): string {
  const lines = [`${report.tools.length} tool${report.tools.length === 1 ? '' : 's'} of ${serverLabel(report)}:`, ...riskLines(report.tools, (t) => (t.source === 'kept' ? '  (class kept from the previous catalog)' : ''))];
  const c = report.changes;
  const changes = c ? [c.added.length > 0 ? `added ${c.added.join(', ')}` : '', c.removed.length > 0 ? `removed ${c.removed.join(', ')}` : '', c.changed.length > 0 ? `changed ${c.changed.join(', ')}` : ''].filter((s) => s.length > 0) : [];
  const verb = report.status === 'created' ? 'Wrote' : report.status === 'overwritten' ? 'Updated' : 'Unchanged:';
  lines.push('', `${verb} ${report.file}${changes.length > 0 ? ` (${changes.join('; ')})` : ''}`);
  if (c && c.removed.length > 0) lines.push(`The server no longer lists ${c.removed.join(', ')}: \`tollgate lint\` reports policy rules that still name ${c.removed.length === 1 ? 'it' : 'them'}.`);
  return lines.join('\n');
}

/** The pretty output of `tollgate init`. */
export function renderInit(result: ScaffoldResult): string {
  const lines: string[] = [];
  if (result.pulled) {
    lines.push(`Pulled ${result.pulled.tools.length} tools of ${serverLabel(result.pulled)}; the starter policy:`);
    const byTool = new Map(result.plan.map((p) => [p.tool, p]));
    const treatment = (t: PulledTool): string => {
      const p = byTool.get(t.name)?.treatment;
      return `  -> ${p === 'approve' ? 'needs approval' : p === 'limit' ? 'rate-limited' : 'allowed'}`;
    };
    lines.push(...riskLines(result.pulled.tools, treatment));
    lines.push('');
  }
  lines.push(`${result.gitInitialized ? 'Initialized a Git repository and wrote' : 'Wrote'} a policy repository for "${result.server}" in ${result.dir}:`);
  for (const f of result.files) lines.push(`  ${f.status.padEnd(11)}  ${f.path}`);
  lines.push('', 'Next steps:', ...result.nextSteps.map((s) => `  ${s}`));
  return lines.join('\n');
}
