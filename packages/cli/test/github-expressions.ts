/**
 * The part of GitHub Actions' expression language (`${{ … }}`) the policy-review workflow and
 * the Tollgate action use, evaluated as a runner does, so tests can run the action's steps with
 * their real `if:` conditions, `env:` values and outputs: literals ('text', numbers, true,
 * false, null), context paths (`inputs.mode`, `steps.diff.outputs.status`,
 * `github.event.pull_request.labels.*.name`), `!`, `==`, `!=`, `&&`, `||`, parentheses, and the
 * functions `success()`, `failure()`, `always()`, `cancelled()`, `toJSON()`, `contains()`,
 * `hashFiles()` (evaluated by the caller). An expression outside that subset throws, so the
 * tests cannot silently run a condition they misread.
 */
export type ExpressionValue = string | number | boolean | null | ExpressionValue[] | { [key: string]: ExpressionValue };

/** What an expression can read: the contexts by name, and the job's status so far. */
export interface ExpressionScope {
  readonly contexts: Readonly<Record<string, ExpressionValue>>;
  /** True once a step of the job (or composite action) has failed. */
  readonly failed: boolean;
}

type Token = { kind: 'string' | 'number' | 'name' | 'op' | 'paren' | 'comma'; text: string };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let text = '';
      i++;
      for (;;) {
        if (i >= source.length) throw new Error(`unterminated string in ${source}`);
        if (source[i] === "'" && source[i + 1] === "'") {
          text += "'";
          i += 2;
        } else if (source[i] === "'") {
          i++;
          break;
        } else text += source[i++];
      }
      tokens.push({ kind: 'string', text });
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(source.slice(i))!;
      tokens.push({ kind: 'number', text: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*(\.([A-Za-z_][A-Za-z0-9_-]*|\*))*/.exec(source.slice(i))!;
      tokens.push({ kind: 'name', text: m[0] });
      i += m[0].length;
    } else if (source.startsWith('&&', i) || source.startsWith('||', i) || source.startsWith('==', i) || source.startsWith('!=', i)) {
      tokens.push({ kind: 'op', text: source.slice(i, i + 2) });
      i += 2;
    } else if (c === '!') {
      tokens.push({ kind: 'op', text: '!' });
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: 'paren', text: c });
      i++;
    } else if (c === ',') {
      tokens.push({ kind: 'comma', text: c });
      i++;
    } else throw new Error(`unsupported character "${c}" in expression: ${source}`);
  }
  return tokens;
}

function truthy(v: ExpressionValue | undefined): boolean {
  return !(v === undefined || v === null || v === false || v === '' || v === 0);
}

function text(v: ExpressionValue | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v, null, 2);
  return String(v);
}

function loose(a: ExpressionValue | undefined, b: ExpressionValue | undefined): boolean {
  // GitHub compares strings case-insensitively and coerces null to ''.
  if ((a === undefined || a === null) && (b === undefined || b === null)) return true;
  if (typeof a === 'object' || typeof b === 'object') return a === b;
  return text(a).toLowerCase() === text(b).toLowerCase();
}

function lookup(path: string, scope: ExpressionScope): ExpressionValue | undefined {
  const [head, ...rest] = path.split('.');
  let values: Array<ExpressionValue | undefined> = [scope.contexts[head!]];
  let star = false;
  for (const key of rest) {
    if (key === '*') {
      star = true;
      values = values.flatMap((v) => (Array.isArray(v) ? v : v && typeof v === 'object' ? Object.values(v) : []));
      continue;
    }
    values = values.map((v) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, ExpressionValue>)[key] : undefined));
  }
  return star ? (values.filter((v) => v !== undefined) as ExpressionValue[]) : values[0];
}

/** Evaluates one expression (the text inside `${{ }}`, or a bare `if:`). */
export function evaluate(source: string, scope: ExpressionScope, hashFiles: (pattern: string) => string = () => ''): ExpressionValue {
  const tokens = tokenize(source);
  let at = 0;
  const peek = (): Token | undefined => tokens[at];
  const next = (): Token => {
    const t = tokens[at++];
    if (!t) throw new Error(`unexpected end of expression: ${source}`);
    return t;
  };
  const or = (): ExpressionValue | undefined => {
    let left = and();
    while (peek()?.text === '||') {
      next();
      const right = and();
      left = truthy(left) ? left : right;
    }
    return left;
  };
  const and = (): ExpressionValue | undefined => {
    let left = equality();
    while (peek()?.text === '&&') {
      next();
      const right = equality();
      left = truthy(left) ? right : left;
    }
    return left;
  };
  const equality = (): ExpressionValue | undefined => {
    let left = unary();
    while (peek()?.text === '==' || peek()?.text === '!=') {
      const op = next().text;
      const right = unary();
      left = op === '==' ? loose(left, right) : !loose(left, right);
    }
    return left;
  };
  const unary = (): ExpressionValue | undefined => {
    if (peek()?.text === '!') {
      next();
      return !truthy(unary());
    }
    return primary();
  };
  const primary = (): ExpressionValue | undefined => {
    const t = next();
    if (t.kind === 'string') return t.text;
    if (t.kind === 'number') return Number(t.text);
    if (t.kind === 'paren' && t.text === '(') {
      const v = or();
      if (next().text !== ')') throw new Error(`expected ) in ${source}`);
      return v;
    }
    if (t.kind !== 'name') throw new Error(`unexpected "${t.text}" in ${source}`);
    if (t.text === 'true') return true;
    if (t.text === 'false') return false;
    if (t.text === 'null') return null;
    if (peek()?.text === '(') {
      next();
      const args: Array<ExpressionValue | undefined> = [];
      while (peek()?.text !== ')') {
        args.push(or());
        if (peek()?.kind === 'comma') next();
      }
      next();
      switch (t.text) {
        case 'success':
          return !scope.failed;
        case 'failure':
          return scope.failed;
        case 'always':
          return true;
        case 'cancelled':
          return false;
        case 'toJSON':
          return JSON.stringify(args[0] ?? null, null, 2);
        case 'contains': {
          const [hay, needle] = args;
          return Array.isArray(hay) ? hay.some((v) => loose(v, needle)) : text(hay).toLowerCase().includes(text(needle).toLowerCase());
        }
        case 'hashFiles':
          return hashFiles(text(args[0]));
        default:
          throw new Error(`unsupported function ${t.text}() in ${source}`);
      }
    }
    return lookup(t.text, scope) ?? null;
  };
  const value = or();
  if (at !== tokens.length) throw new Error(`unexpected "${tokens[at]!.text}" in ${source}`);
  return value ?? null;
}

/** Whether a step's `if:` holds. Without a status function, `success() &&` is implied, as on GitHub. */
export function condition(source: string | undefined, scope: ExpressionScope): boolean {
  if (source === undefined) return !scope.failed;
  const bare = source.trim().replace(/^\$\{\{([\s\S]*)\}\}$/, '$1');
  const statusAware = /\b(success|failure|always|cancelled)\(\)/.test(bare);
  return truthy(evaluate(bare, scope)) && (statusAware || !scope.failed);
}

/** A string with every `${{ … }}` replaced by its value, as a runner expands `env:` and `with:`. */
export function interpolate(template: string, scope: ExpressionScope): string {
  return template.replace(/\$\{\{([\s\S]*?)\}\}/g, (_m, expression: string) => text(evaluate(expression, scope)));
}
