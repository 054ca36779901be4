import { findCatalogTool } from '../../catalog/catalog.js';
import { pointerOf } from '../../parse/source-document.js';
import { closestName } from '../name-suggestion.js';
import type { LintContext, LintRuleFamily } from '../lint-context.js';

/** TG200: tools named in `tools` or `hide` that the server's catalog does not have. */
export const catalogRules: LintRuleFamily = { activity: 'checking the catalog', codes: ['TG200'], check: checkCatalog };

function checkCatalog(ctx: LintContext): void {
  const catalog = ctx.catalog;
  if (!catalog) return;
  const names = catalog.tools.map((t) => t.name);
  const unknown = (name: string, pointer: string, at: 'key' | 'value', where: string): void => {
    const suggestion = closestName(name, names);
    ctx.report('TG200', pointer, `tool "${name}" in ${where} is not in ${ctx.catalogName}`, {
      at,
      hint: suggestion ? `did you mean "${suggestion}"?` : `check the name, or refresh the catalog with \`tollgate catalog pull\`${catalog.server ? ` (server "${catalog.server}")` : ''}`,
    });
  };
  for (const v of ctx.views) if (!findCatalogTool(catalog, v.name)) unknown(v.name, v.pointer, 'key', 'tools');
  (ctx.policy.hide ?? []).forEach((name, i) => {
    if (name !== '*' && !findCatalogTool(catalog, name)) unknown(name, pointerOf('hide', i), 'value', 'hide');
  });
}
