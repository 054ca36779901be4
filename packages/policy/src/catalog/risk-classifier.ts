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
 * `readOnlyHint` can make a tool count as a read, and never over a financial name;
 * `openWorldHint` on a tool that is not read-only raises it to at least high.
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
  /** The tool's own title and description (`tools/list`): read for tools that return secrets. */
  readonly title?: string;
  readonly description?: string;
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

// Words that name a secret wherever they appear in a tool's name (get_secret, list_credentials, dump_passwords).
const SECRET_WORDS = new Set([
  'secret', 'credential', 'password', 'passwd', 'passphrase', 'apikey', 'privatekey', 'keychain', 'keystore', 'mnemonic',
  'cookie', 'getenv', 'printenv', 'environ', 'dotenv',
]);
// Words that name a secret only after one of these: access_token, api_key, ssh_key — not count_tokens or list_keys.
const SECRET_TOKEN_QUALIFIERS = new Set(['access', 'auth', 'api', 'bearer', 'refresh', 'session', 'oauth', 'jwt', 'personal', 'id']);
const SECRET_KEY_QUALIFIERS = new Set(['api', 'private', 'secret', 'ssh', 'signing', 'access', 'encryption', 'gpg', 'pgp']);
// A description that says the tool hands secrets out: "Returns all environment variables", "Lists the stored API keys".
const SECRET_PHRASE =
  '(?:environment\\s+variables?|env(?:ironment)?\\s+vars?|secrets?|credentials?|passwords?|passphrases?|api[\\s_-]?keys?|private\\s+keys?|secret\\s+keys?|signing\\s+keys?|ssh\\s+keys?|(?:access|auth|authentication|bearer|refresh|session|oauth|api)\\s+tokens?|client\\s+secrets?|(?:\\.|dot)?env\\s+files?|session\\s+cookies?)';
const HANDS_OUT = '(?:returns?|returning|lists?|listing|shows?|prints?|reveals?|exposes?|dumps?|reads?|retrieves?|gets?|fetch(?:es)?|outputs?|displays?|exports?|contains|includes)';
// At most five words between the verb and the secret, within one sentence (no period, colon or newline between).
const SECRET_DESCRIPTION = new RegExp(`\\b${HANDS_OUT}\\b(?:[ \\t,'"()/]+[\\w'-]+){0,5}?[ \\t,'"()/]+${SECRET_PHRASE}\\b`, 'gi');
const NEGATION = /\b(?:not|never|no|without|nor|cannot)\b|n't\b/i;

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

function riskClass(category: RiskCategory, atLeast?: RiskLevel): RiskClass {
  const level = RISK_LEVEL_OF[category];
  return { level: atLeast !== undefined && RISK_LEVELS.indexOf(atLeast) < RISK_LEVELS.indexOf(level) ? atLeast : level, category };
}

/**
 * Whether a tool hands out secrets — environment variables, credentials, passwords, keys,
 * tokens: its name names one (`get-env`, `list_secrets`, `get_api_key`, `read_access_token`;
 * not `count_tokens` or `list_keys`), or its title or description says it returns, lists,
 * prints… one ("Returns all environment variables"), unless that is negated ("never returns
 * credentials"). A description that only mentions a secret (a tool that *uses* an API key)
 * does not count.
 */
export function handsOutSecrets(tool: ClassifiableTool): boolean {
  const raw = splitToolName(tool.name);
  const words = raw.map((w) => (w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w));
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const previous = i > 0 ? words[i - 1]! : '';
    if (SECRET_WORDS.has(w)) return true;
    if (w === 'token' && SECRET_TOKEN_QUALIFIERS.has(previous)) return true;
    if (w === 'key' && SECRET_KEY_QUALIFIERS.has(previous)) return true;
    // "env" names the process environment after a read verb (get-env, print_env, dump_env) or before
    // "var(iable)s"; create_env, or list_envs of a package manager (named environments), are not secrets.
    if ((w === 'env' || w === 'environment') && (words[i + 1] === 'var' || words[i + 1] === 'variable')) return true;
    if (raw[i] === 'env' && i > 0 && (classifyWord(previous) === 'read' || previous === 'dump')) return true;
  }
  for (const text of [tool.title, tool.annotations?.title, tool.description]) {
    if (typeof text !== 'string') continue;
    for (const m of text.matchAll(SECRET_DESCRIPTION)) {
      // The clause before the verb: "Does not return secrets", "never prints passwords".
      const before = text.slice(0, m.index).split(/[.;:!?\n]/).at(-1)!.split(/\s+/).slice(-3).join(' ');
      if (!NEGATION.test(before) && !NEGATION.test(m[0])) return true;
    }
  }
  return false;
}

/**
 * Classifies a tool's risk from its name, its title and description, and every one of its MCP
 * annotations, for `tollgate catalog pull` and for lint (TG204). Annotations are hints from the
 * server, so they can raise a tool's risk but never lower it below what its name says. The
 * category, in order:
 *
 * 1. A name that starts with a read verb (`fetch_order_history`, `get_balance`) is a read,
 *    unless `destructiveHint` is true or `readOnlyHint` is false (`get_or_create_user`).
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
 * The level is the category's, raised to at least `high` for a tool that:
 * - hands out secrets ({@link handsOutSecrets}: `get-env`, "Returns all environment
 *   variables") — a read of credentials is as dangerous as a write;
 * - acts on the outside world: `openWorldHint: true` and not `readOnlyHint: true` (sends mail,
 *   posts, fetches any URL from inside the network) — its effects leave the system and cannot be
 *   taken back. A read-only tool of an open world (`fetch_ohlcv` of an exchange) stays a read.
 *
 * `idempotentHint` never changes the class: repeating a harmful call is still harmful, and a
 * harmless one is not made harmful by being repeatable.
 *
 * @example classifyTool({ name: 'withdraw_cryptocurrency' }) // { level: 'critical', category: 'financial' }
 * @example classifyTool({ name: 'get-env', description: 'Returns all environment variables' }) // { level: 'high', category: 'read' }
 */
export function classifyTool(tool: ClassifiableTool): RiskClass {
  const words = splitToolName(tool.name);
  const a = tool.annotations ?? {};
  const destructiveHint = a.destructiveHint === true;
  const classes = words.map(classifyWord);
  const read = classes[0] === 'read' && !destructiveHint && a.readOnlyHint !== false;
  const actsOnOpenWorld = a.openWorldHint === true && a.readOnlyHint !== true && !read;
  const atLeast: RiskLevel | undefined = actsOnOpenWorld || handsOutSecrets(tool) ? 'high' : undefined;
  if (read) return riskClass('read', atLeast);
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
  for (const category of RISK_CATEGORIES) if (found.has(category)) return riskClass(category, atLeast);
  return riskClass('write', atLeast);
}

/**
 * A catalog tool's risk: the class stored in the catalog when it has one (a reviewed
 * decision), else {@link classifyTool}'s.
 */
export function toolRisk(tool: ClassifiableTool & { readonly risk?: RiskClass }): RiskClass & { readonly source: 'catalog' | 'classifier' } {
  if (tool.risk) return { level: tool.risk.level, category: tool.risk.category, source: 'catalog' };
  return { ...classifyTool(tool), source: 'classifier' };
}
