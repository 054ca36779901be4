/** How much harm one call of a tool can do: `critical` moves money, `low` only reads. */
export type RiskLevel = 'critical' | 'high' | 'medium' | 'low';

/** What kind of effect a tool has; each category has one {@link RiskLevel}. */
export type RiskCategory = 'financial' | 'destructive' | 'write' | 'execute' | 'read';

/** A tool's risk class, as `tollgate catalog pull` stores it in `catalog.json`. */
export interface RiskClass {
  readonly level: RiskLevel;
  readonly category: RiskCategory;
}

/**
 * The behaviour hints of an MCP tool (`tools/list` → `annotations`). They are hints from
 * the server, not guarantees, so the classifier lets them raise a tool's risk; only
 * `readOnlyHint` can make a tool count as a read, and never over a financial name.
 */
export interface ToolAnnotations {
  readonly title?: string;
  readonly readOnlyHint?: boolean;
  readonly destructiveHint?: boolean;
  readonly idempotentHint?: boolean;
  readonly openWorldHint?: boolean;
}

/** What {@link classifyTool} needs to know about a tool. */
export interface ClassifiableTool {
  readonly name: string;
  readonly annotations?: ToolAnnotations;
}

/** The level each category carries. */
export const RISK_LEVEL_OF: Readonly<Record<RiskCategory, RiskLevel>> = Object.freeze({
  financial: 'critical',
  destructive: 'high',
  execute: 'high',
  write: 'medium',
  read: 'low',
});

/** Every level, most severe first. */
export const RISK_LEVELS: readonly RiskLevel[] = Object.freeze(['critical', 'high', 'medium', 'low'] as const);

/** Every category, most severe first: when several apply, the first one wins. */
export const RISK_CATEGORIES: readonly RiskCategory[] = Object.freeze(['financial', 'destructive', 'execute', 'write', 'read'] as const);

// Verbs that move money or exposure: any of these in a name makes the tool financial.
const FINANCIAL_VERBS = new Set([
  'withdraw', 'transfer', 'pay', 'payout', 'buy', 'sell', 'trade', 'swap', 'deposit', 'fund', 'refund', 'charge',
  'purchase', 'borrow', 'lend', 'repay', 'stake', 'unstake', 'liquidate', 'wire', 'remit', 'mint', 'bridge', 'hedge',
  'invest', 'redeem', 'settle', 'bet',
]);
// Nouns of money: they make a writing or executing verb financial (create_order, set_leverage),
// but not a destructive one (cancel_order stops money from moving; see classifyTool).
const FINANCIAL_NOUNS = new Set([
  'order', 'payment', 'leverage', 'margin', 'loan', 'invoice', 'withdrawal', 'payroll', 'salary', 'money', 'funds',
  'wallet', 'crypto', 'cryptocurrency', 'futures', 'derivative', 'collateral', 'bank', 'iban',
]);
const DESTRUCTIVE = new Set([
  'delete', 'del', 'remove', 'rm', 'drop', 'destroy', 'purge', 'truncate', 'cancel', 'kill', 'terminate', 'wipe',
  'revoke', 'erase', 'unlink', 'reset', 'clear', 'overwrite', 'uninstall', 'shutdown', 'disable', 'ban', 'evict',
  'expunge', 'shred', 'nuke', 'void', 'rollback', 'abort',
]);
const EXECUTE = new Set([
  'exec', 'execute', 'run', 'eval', 'evaluate', 'shell', 'command', 'cmd', 'script', 'spawn', 'invoke', 'bash', 'sh',
  'zsh', 'powershell', 'terminal', 'subprocess', 'deploy', 'launch', 'trigger', 'sudo', 'ssh', 'python',
  'javascript', 'sql', 'compile', 'install', 'restart', 'reboot',
]);
const WRITE = new Set([
  'create', 'update', 'set', 'put', 'post', 'write', 'insert', 'add', 'edit', 'modify', 'upload', 'move', 'rename',
  'send', 'patch', 'save', 'store', 'append', 'replace', 'copy', 'change', 'assign', 'attach', 'register', 'submit',
  'publish', 'push', 'commit', 'merge', 'apply', 'enable', 'toggle', 'import', 'mark', 'tag', 'configure', 'schedule',
  'reply', 'comment', 'archive', 'restore', 'sync', 'place', 'open', 'close', 'make', 'new', 'upsert', 'grant',
  'invite', 'approve', 'reject', 'start', 'stop', 'pause', 'resume', 'email', 'message', 'notify', 'mkdir', 'touch',
  'gzip', 'zip', 'unzip', 'subscribe', 'unsubscribe', 'lock', 'unlock', 'transition', 'label', 'link',
]);
const READ = new Set([
  'get', 'fetch', 'list', 'read', 'search', 'query', 'describe', 'calculate', 'find', 'show', 'view', 'lookup', 'look',
  'check', 'inspect', 'count', 'compute', 'summarize', 'summarise', 'echo', 'status', 'stat', 'retrieve', 'load',
  'download', 'browse', 'scan', 'watch', 'peek', 'preview', 'explain', 'analyze', 'analyse', 'validate', 'verify',
  'estimate', 'quote', 'ping', 'info', 'whoami', 'resolve', 'diff', 'compare', 'lint', 'test', 'convert', 'parse', 'render', 'print', 'explore', 'locate', 'poll',
]);

/**
 * Splits a tool name into lower-case words on `_`, `-`, `.`, `/`, spaces, camelCase and
 * letter-digit boundaries: `createSpotOrder` → create, spot, order; `get_HTTPStatus` → get, http, status.
 */
export function splitToolName(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .replace(/([A-Za-z])([0-9])/g, '$1 $2')
    .replace(/([0-9])([A-Za-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w.length > 0)
    .map((w) => w.toLowerCase());
}

/** The word and the stems it may be an inflection of: trading → trade, orders → order, running → run. */
function forms(word: string): string[] {
  const out = [word];
  const add = (w: string): void => {
    if (w.length >= 2 && !out.includes(w)) out.push(w);
  };
  if (word.endsWith('ies')) add(word.slice(0, -3) + 'y');
  if (word.endsWith('es')) add(word.slice(0, -2));
  if (word.endsWith('s') && !word.endsWith('ss')) add(word.slice(0, -1));
  for (const suffix of ['ing', 'ed']) {
    if (word.endsWith(suffix) && word.length > suffix.length + 2) {
      const stem = word.slice(0, -suffix.length);
      add(stem);
      add(stem + 'e');
      if (stem.length >= 2 && stem.at(-1) === stem.at(-2)) add(stem.slice(0, -1));
    }
  }
  if (word.endsWith('al') && word.length > 5) add(word.slice(0, -2));
  return out;
}

type WordClass = RiskCategory | 'financial-noun';

function classifyWord(word: string): WordClass | undefined {
  for (const f of forms(word)) {
    if (FINANCIAL_VERBS.has(f)) return 'financial';
    if (FINANCIAL_NOUNS.has(f)) return 'financial-noun';
    if (DESTRUCTIVE.has(f)) return 'destructive';
    if (EXECUTE.has(f)) return 'execute';
    if (WRITE.has(f)) return 'write';
    if (READ.has(f)) return 'read';
  }
  return undefined;
}

function riskClass(category: RiskCategory): RiskClass {
  return { level: RISK_LEVEL_OF[category], category };
}

/**
 * Classifies a tool's risk from its name and its MCP annotations, for `tollgate catalog
 * pull` and for lint (TG204). The rules, in order:
 *
 * 1. A name that starts with a read verb (`fetch_order_history`, `get_balance`) is a read
 *    (low), unless `destructiveHint` is true.
 * 2. Otherwise every word of the name and every annotation proposes a category, and the most
 *    severe wins (financial > destructive > execute > write > read):
 *    - financial verbs (withdraw, transfer, pay, buy, sell, trade, swap, …) → financial;
 *    - financial nouns (order, payment, leverage, margin, …) → financial, except after a
 *      destructive verb: `cancel_order` is high/destructive, since cancelling stops money
 *      from moving rather than moving it (the CCXT catalog records it the same way);
 *    - `destructiveHint: true` → destructive; `readOnlyHint: false` or (not read-only and)
 *      `openWorldHint: true` → write; `readOnlyHint: true` → read.
 * 3. With no evidence at all, a tool is medium/write: unknown effects are not assumed safe.
 *
 * `idempotentHint` never changes the class: repeating a harmful call is still harmful.
 *
 * @example classifyTool({ name: 'withdraw_cryptocurrency' }) // { level: 'critical', category: 'financial' }
 */
export function classifyTool(tool: ClassifiableTool): RiskClass {
  const words = splitToolName(tool.name);
  const a = tool.annotations ?? {};
  const destructiveHint = a.destructiveHint === true;
  const classes = words.map(classifyWord);
  if (classes[0] === 'read' && !destructiveHint) return riskClass('read');
  const found = new Set<RiskCategory>();
  const hasDestructiveVerb = classes.includes('destructive');
  for (const c of classes) {
    if (c === 'financial-noun') {
      // A money noun alone (e.g. `order`) is still financial; under a destructive verb it is the object destroyed.
      if (!hasDestructiveVerb) found.add('financial');
    } else if (c !== undefined) {
      found.add(c);
    }
  }
  if (destructiveHint) found.add('destructive');
  if (a.readOnlyHint === false || (a.readOnlyHint !== true && a.openWorldHint === true)) found.add('write');
  if (a.readOnlyHint === true) found.add('read');
  for (const category of RISK_CATEGORIES) if (found.has(category)) return riskClass(category);
  return riskClass('write');
}

/**
 * A catalog tool's risk: the class stored in the catalog when it has one (a reviewed
 * decision), else {@link classifyTool}'s.
 */
export function toolRisk(tool: ClassifiableTool & { readonly risk?: RiskClass }): RiskClass & { readonly source: 'catalog' | 'classifier' } {
  if (tool.risk) return { level: tool.risk.level, category: tool.risk.category, source: 'catalog' };
  return { ...classifyTool(tool), source: 'classifier' };
}
