import { ArgumentValidator } from '../evaluate/argument-validator.js';
import { findCatalogTool, type Catalog } from '../catalog/catalog.js';
import { INPUT_SCHEMA_RULE, type DecisionCode, type Effect } from '../evaluate/decision.js';
import { DIAGNOSTIC_CODES, sortDiagnostics, type Diagnostic, type DiagnosticCode } from '../diagnostic.js';
import type { Expectation, PolicyTestFile, ShadowExpectation, TestCall } from '../generated/test-file-types.js';
import { closestName } from './name-suggestion.js';
import type { CompiledPolicy } from '../evaluate/compiled-policy.js';
import type { RuleInfo } from '../compile/policy-rules.js';
import { pointerOf, type SourceDocument } from '../parse/source-document.js';

/** Options of {@link lintTestFile}. */
export interface TestFileLintOptions {
  /** The policy the file tests, compiled (the one `tollgate test` runs it against). */
  readonly policy: CompiledPolicy;
  /** Where the policy is, named in messages (default "the policy"). */
  readonly policyFile?: string;
  /** The server's catalog (`catalog.json` beside the policy); without it TG301 and TG302 are not checked. */
  readonly catalog?: Catalog;
  /** Where the catalog came from, named in messages (default: the catalog's own `file`). */
  readonly catalogFile?: string;
  /** Validates arguments against input schemas (default: a new one); the gateway's own. */
  readonly validator?: ArgumentValidator;
  /** Most diagnostics to return (default 200); a TG208 note says how many more there were. */
  readonly maxDiagnostics?: number;
}

const DEFAULT_MAX_DIAGNOSTICS = 200;
/** Most argument problems reported per call; the last one says how many more there were. */
const MAX_ISSUES_PER_CALL = 5;

/** The effects each decision code goes with (an allow carries no code). */
const EFFECT_OF_CODE: Readonly<Record<DecisionCode, Effect>> = {
  'policy.denied': 'deny',
  rate_limited: 'deny',
  'approval.denied': 'deny',
  'approval.expired': 'deny',
  invalid_arguments: 'deny',
  'approval.required': 'approval_required',
  'tool.hidden': 'hidden',
};

/** What a step expects, from the string or the object form. */
interface Expected {
  readonly effect: Effect;
  readonly rule?: string | null;
  readonly code?: DecisionCode;
  readonly shadow?: { readonly effect: Effect; readonly rule?: string | null };
}

function normalise(expect: Expectation): Expected {
  if (typeof expect === 'string') return { effect: expect };
  const { shadow, ...enforced } = expect;
  return shadow === undefined ? enforced : { ...enforced, shadow: normaliseShadow(shadow) };
}

function normaliseShadow(shadow: ShadowExpectation): { effect: Effect; rule?: string | null } {
  return typeof shadow === 'string' ? { effect: shadow } : shadow;
}

/**
 * Lints a schema-valid test file (`*.test.json`) against the policy it tests and the server's
 * catalog beside that policy, so that a case cannot test a call the gateway would never decide
 * that way (see `docs/lint-rules.md`): TG301 a call to a tool the catalog does not have (with
 * "did you mean"), unless the case expects rule `default` or `hide` — a deliberate test of a
 * tool the server may add later; TG302 arguments that fail the tool's input schema (or hold a
 * non-finite number) while the case expects anything but `deny` by rule `input_schema`, at the
 * failing argument; TG303 an expectation the policy can never meet for that call (an effect,
 * rule and code that never go together, a rule of another tool, a rule in shadow mode as the
 * enforced one, `input_schema` for valid arguments or a hidden tool, a shadow decision where
 * nothing is in shadow); TG304 a rule id the policy does not have. Pure, and it never throws.
 *
 * @example
 * const parsed = parseTestFile(text, 'policies/ccxt/orders.test.json');
 * if (parsed.tests && parsed.document) {
 *   const diagnostics = lintTestFile(parsed.tests, parsed.document, { policy, policyFile: 'policies/ccxt/policy.json', catalog });
 * }
 */
export function lintTestFile(tests: PolicyTestFile, document: SourceDocument, options: TestFileLintOptions): Diagnostic[] {
  const max = Math.max(1, options.maxDiagnostics ?? DEFAULT_MAX_DIAGNOSTICS);
  const linter = new TestFileLinter(document, options, max);
  try {
    linter.run(tests);
  } catch (error) {
    linter.diagnostics.push({
      code: 'TG209',
      severity: 'error',
      file: document.file,
      line: 1,
      column: 1,
      message: `lint failed while checking the test cases: ${error instanceof Error ? error.message : String(error)}`,
      hint: 'this is a bug in Tollgate; please report it with the test file that caused it',
    });
  }
  const sorted = sortDiagnostics(linter.diagnostics);
  if (sorted.length <= max) return sorted;
  const shown = sorted.slice(0, max);
  const last = shown[shown.length - 1]!;
  shown.push({
    code: 'TG208',
    severity: 'info',
    file: document.file,
    line: last.line,
    column: last.column,
    message: `${linter.overflowed ? 'more than ' : ''}${sorted.length - max} more findings not shown (at most ${max} are reported)`,
    hint: 'fix the findings above and lint again',
  });
  return shown;
}

class TestFileLinter {
  readonly diagnostics: Diagnostic[] = [];
  overflowed = false;
  readonly #doc: SourceDocument;
  readonly #policy: CompiledPolicy;
  readonly #policyName: string;
  readonly #catalog: Catalog | undefined;
  readonly #catalogName: string;
  readonly #validator: ArgumentValidator;
  readonly #limit: number;
  /** Rules by the id decisions report. */
  readonly #rules = new Map<string, RuleInfo>();
  /** Rules with an own id, by their positional id (a test naming the place gets a pointer to the id). */
  readonly #byPlace = new Map<string, RuleInfo>();
  readonly #hideList: ReadonlySet<string>;
  readonly #hideAll: boolean;

  constructor(document: SourceDocument, options: TestFileLintOptions, max: number) {
    this.#doc = document;
    this.#policy = options.policy;
    this.#policyName = options.policyFile ?? 'the policy';
    this.#catalog = options.catalog;
    this.#catalogName = options.catalogFile ?? options.catalog?.file ?? 'the catalog';
    this.#validator = options.validator ?? new ArgumentValidator();
    this.#limit = Math.max(max * 4, 2000);
    for (const r of options.policy.rules) {
      if (!this.#rules.has(r.id)) this.#rules.set(r.id, r);
      if (r.id !== r.positionalId) this.#byPlace.set(r.positionalId, r);
    }
    this.#hideList = new Set(options.policy.policy.hide ?? []);
    this.#hideAll = this.#hideList.has('*');
  }

  run(tests: PolicyTestFile): void {
    tests.cases.forEach((c, i) => {
      if (c.sequence) c.sequence.forEach((step, s) => this.#step(c.name, pointerOf('cases', i, 'sequence', s), step.call, step.expect));
      else if (c.call && c.expect) this.#step(c.name, pointerOf('cases', i), c.call, c.expect);
    });
  }

  #report(code: DiagnosticCode, pointer: string, message: string, hint?: string, at: 'key' | 'value' = 'value'): void {
    if (this.diagnostics.length >= this.#limit) {
      this.overflowed = true;
      return;
    }
    const pos = this.#doc.positionOf(pointer, at);
    this.diagnostics.push({
      code,
      severity: DIAGNOSTIC_CODES[code].severity,
      file: this.#doc.file,
      line: pos.line,
      column: pos.column,
      message,
      pointer,
      ...(hint ? { hint } : {}),
    });
  }

  /** One call of a case (the case itself, or a step of its sequence) at `at`. */
  #step(name: string, at: string, call: TestCall, expect: Expectation): void {
    const expected = normalise(expect);
    const field = (key: string): string => (typeof expect === 'string' ? `${at}/expect` : `${at}/expect/${key}`);
    const said = `case ${JSON.stringify(name)}`;
    const enforcedImpossible = this.#checkEnforced(said, call.tool, expected, field);
    if (expected.shadow !== undefined) this.#checkShadow(said, call.tool, expected, field('shadow'));
    this.#checkCatalog(said, at, call, expected, enforcedImpossible, field);
  }

  /** TG303/TG304 for the enforced part of an expectation; true when it can never be met. */
  #checkEnforced(said: string, tool: string, expected: Expected, field: (key: string) => string): boolean {
    const { effect, rule, code } = expected;
    if (code !== undefined && EFFECT_OF_CODE[code] !== effect) {
      const goes = effect === 'allow' ? 'an allow carries no code' : `code ${code} goes with effect "${EFFECT_OF_CODE[code]}"`;
      this.#report('TG303', field('code'), `${said} expects "${effect}" with code ${code}, which never go together: ${goes}`, effect === 'allow' ? 'remove code' : `expect "${EFFECT_OF_CODE[code]}", or the code of a ${effect} decision`);
      return true;
    }
    if (rule === undefined) return false;
    if (rule === null) {
      if (effect === 'allow') return false;
      this.#report('TG303', field('rule'), `${said} expects "${effect}" by rule null, but only a plain allow has no rule: every ${effect} decision names the rule that made it`, 'name the rule, or leave "rule" out');
      return true;
    }
    if (rule === INPUT_SCHEMA_RULE) {
      if (effect !== 'deny' || (code !== undefined && code !== 'invalid_arguments')) {
        this.#report('TG303', field(effect !== 'deny' ? 'effect' : 'code'), `${said} expects ${effect !== 'deny' ? `"${effect}"` : `code ${code}`} by rule input_schema, which only ever denies, with code invalid_arguments`, 'expect { "effect": "deny", "rule": "input_schema" }');
        return true;
      }
      return false;
    }
    const info = this.#rules.get(rule);
    if (!info) {
      this.#unknownRule(said, rule, tool, field('rule'));
      return true;
    }
    if (this.#otherTool(said, info, tool, field('rule'))) return true;
    if (info.shadow) {
      this.#report('TG303', field('rule'), `${said} expects rule ${JSON.stringify(rule)} to decide, but it is in shadow mode: it decides only the would-be decision (expect "shadow"), never the enforced one`, `move it to "shadow": { "effect": "${effect}", "rule": ${JSON.stringify(rule)} }, and expect the enforced decision (by hide or default) here`);
      return true;
    }
    if (this.#wrongEffect(said, info, effect, field('effect'))) return true;
    if (code !== undefined && code !== 'invalid_arguments' && !codeFits(code, info, this.#policy)) {
      this.#report('TG303', field('code'), `${said} expects code ${code} from rule ${JSON.stringify(rule)}, ${describeKind(info)}, which never decides with that code`, 'remove code, or expect the rule that decides with it');
      return true;
    }
    if (code === 'invalid_arguments') {
      this.#report('TG303', field('code'), `${said} expects code invalid_arguments from rule ${JSON.stringify(rule)}: only rule input_schema refuses a call for its arguments`, 'expect { "effect": "deny", "rule": "input_schema" }');
      return true;
    }
    return false;
  }

  /** TG303/TG304 for `expect.shadow`. */
  #checkShadow(said: string, tool: string, expected: Expected, pointer: string): void {
    const shadow = expected.shadow!;
    const tools = this.#policy.policy.tools ?? {};
    const inShadow = this.#policy.policy.shadow === true || (Object.hasOwn(tools, tool) && tools[tool]?.shadow === true && !this.#hideList.has(tool));
    if (!inShadow) {
      this.#report('TG303', pointer, `${said} expects a shadow decision, but nothing in shadow mode decides a call to "${tool}": neither the policy nor tools.${tool} has "shadow": true${this.#hideList.has(tool) ? ` that it reaches (it is in hide)` : ''}`, 'remove "shadow", or put the rule to try in shadow mode');
      return;
    }
    if (expected.rule === INPUT_SCHEMA_RULE || expected.code === 'invalid_arguments') {
      this.#report('TG303', pointer, `${said} expects a shadow decision for a call refused for its arguments: such a call is refused before anything in shadow mode is evaluated, so it has none`, 'remove "shadow"');
      return;
    }
    const rule = shadow.rule;
    if (rule === undefined) return;
    if (rule === null) {
      if (shadow.effect !== 'allow') this.#report('TG303', pointer, `${said} expects a shadow "${shadow.effect}" by rule null, but only a plain allow has no rule`, 'name the rule, or leave "rule" out');
      return;
    }
    if (rule === INPUT_SCHEMA_RULE) {
      this.#report('TG303', pointer, `${said} expects rule input_schema as the shadow decision: arguments are checked before anything in shadow mode, which never decides by input_schema`, 'expect the enforced decision { "effect": "deny", "rule": "input_schema" } instead');
      return;
    }
    const info = this.#rules.get(rule);
    if (!info) {
      this.#unknownRule(said, rule, tool, pointer);
      return;
    }
    if (this.#otherTool(said, info, tool, pointer)) return;
    this.#wrongEffect(said, info, shadow.effect, pointer);
  }

  #unknownRule(said: string, rule: string, tool: string, pointer: string): void {
    const own = this.#byPlace.get(rule);
    let hint: string;
    if (own) hint = `that rule has its own id "${own.id}", which is what decisions report: expect "rule": ${JSON.stringify(own.id)}`;
    else {
      const suggestion = closestName(rule, this.#rules.keys());
      const ofTool = [...this.#rules.values()].filter((r) => r.tool === tool).map((r) => r.id);
      hint = suggestion
        ? `did you mean "${suggestion}"?`
        : ofTool.length > 0
          ? `the rules of "${tool}" are: ${ofTool.slice(0, 8).join(', ')}${ofTool.length > 8 ? ', …' : ''}`
          : `"${tool}" has no rules of its own; calls to it are decided by ${this.#hideAll ? 'hide' : 'default'}`;
    }
    this.#report('TG304', pointer, `${said} expects rule ${JSON.stringify(rule)}, which ${this.#policyName} does not have, so no decision can name it`, hint);
  }

  /** TG303 when the rule belongs to another tool; true when reported. */
  #otherTool(said: string, info: RuleInfo, tool: string, pointer: string): boolean {
    if (info.tool === null || info.tool === tool) return false;
    this.#report('TG303', pointer, `${said} calls "${tool}" but expects rule ${JSON.stringify(info.id)}, a rule of "${info.tool}": a call is only ever decided by its own tool's rules, hide, default, all_tools limits or input_schema`, `call "${info.tool}", or expect a rule of "${tool}"`);
    return true;
  }

  /** TG303 when the rule never decides with `effect`; true when reported. */
  #wrongEffect(said: string, info: RuleInfo, effect: Effect, pointer: string): boolean {
    const effects = effectsOf(info, this.#policy, this.#hideAll);
    if (effects.includes(effect)) return false;
    const never = effects.length === 0 ? `it never decides a call (${neverWhy(info)})` : `it only ever decides ${effects.map((e) => `"${e}"`).join(' or ')}`;
    this.#report('TG303', pointer, `${said} expects "${effect}" by rule ${JSON.stringify(info.id)}, ${describeKind(info)}: ${never}`, effects.length === 0 ? 'expect the rule that decides such calls' : `expect ${effects.map((e) => `"${e}"`).join(' or ')}, or another rule`);
    return true;
  }

  /** TG301, TG302 and the catalog's TG303 (input_schema for arguments that fit, or a hidden tool). */
  #checkCatalog(said: string, at: string, call: TestCall, expected: Expected, impossible: boolean, field: (key: string) => string): void {
    const catalog = this.#catalog;
    if (!catalog) return;
    const tool = findCatalogTool(catalog, call.tool);
    if (!tool) {
      // Naming the unlisted-tool rule says the case means a tool the server does not have (yet).
      if (expected.rule === 'default' || expected.rule === 'hide') return;
      const suggestion = closestName(call.tool, catalog.tools.map((t) => t.name));
      const unlisted = this.#hideAll ? '{ "effect": "hidden", "rule": "hide" }' : `{ "effect": "${this.#policy.policy.default}", "rule": "default" }`;
      const deliberate = `to test what the policy decides for a tool the server may add later, expect its rule: ${unlisted}`;
      this.#report(
        'TG301',
        `${at}/call/tool`,
        `${said} calls "${call.tool}", which is not in ${this.#catalogName}: the gateway answers such a call as an unknown tool, so the policy never decides it`,
        suggestion ? `did you mean "${suggestion}"? (${deliberate})` : deliberate,
      );
      return;
    }
    const expectsInvalid = expected.rule === INPUT_SCHEMA_RULE || expected.code === 'invalid_arguments';
    if (this.#policy.hides(call.tool)) {
      if (expectsInvalid && !impossible) {
        this.#report('TG303', field(expected.rule === INPUT_SCHEMA_RULE ? 'rule' : 'code'), `${said} expects the arguments to be refused, but "${call.tool}" is hidden: a hidden tool is answered as unknown before its arguments are looked at`, 'expect { "effect": "hidden" }');
      }
      return;
    }
    const issues = this.#validator.explain(tool.inputSchema, call.args ?? {});
    if (issues.length === 0) {
      if (expectsInvalid && !impossible) {
        this.#report('TG303', field(expected.rule === INPUT_SCHEMA_RULE ? 'rule' : 'code'), `${said} expects the arguments to be refused (input_schema), but they fit the input schema of "${call.tool}" in ${this.#catalogName}, so the gateway passes them on to the policy's rules`, 'break the argument the case is about, or expect the decision of the policy\'s rules');
      }
      return;
    }
    // A case that expects the refusal tests the check itself (its combination was checked above).
    if (expectsInvalid) return;
    const consequence =
      expected.effect !== 'deny'
        ? `the case expects "${expected.effect}" and can never pass`
        : expected.rule !== undefined
          ? `the case expects rule ${JSON.stringify(expected.rule)} and can never pass`
          : expected.code !== undefined
            ? `the case expects code ${expected.code} and can never pass`
            : 'the case passes without reaching any rule of the policy';
    const hint = `make the arguments fit the input schema of "${call.tool}" in ${this.#catalogName}, or, to test the check itself, expect { "effect": "deny", "rule": "input_schema" }`;
    const shown = issues.slice(0, MAX_ISSUES_PER_CALL);
    shown.forEach((issue, i) => {
      const more = i === shown.length - 1 && issues.length > shown.length ? ` (and ${issues.length - shown.length} more problems with these arguments)` : '';
      this.#report(
        'TG302',
        call.args === undefined ? `${at}/call` : `${at}/call/args${issue.pointer}`,
        `${said}: ${issue.message}${more}, so the gateway refuses the call as invalid_arguments (rule input_schema) before any rule of the policy: ${consequence}`,
        hint,
        issue.at,
      );
    });
  }
}

/** The effects a rule can decide with (given the policy), for TG303. */
function effectsOf(info: RuleInfo, policy: CompiledPolicy, hideAll: boolean): readonly Effect[] {
  switch (info.kind) {
    case 'default':
      // Under hide "*", every tool the default would decide is hidden first.
      return hideAll ? [] : [policy.policy.default];
    case 'hide':
      return ['hidden'];
    case 'action': {
      const action = info.tool === null ? undefined : policy.policy.tools?.[info.tool]?.action;
      if (action === 'deny') return ['deny'];
      if (action === 'hide') return ['hidden'];
      // approve: held, allowed once granted, denied when the request was denied or expired.
      if (action === 'approve') return ['approval_required', 'allow', 'deny'];
      return []; // action "allow" decides as a plain allow, with rule null
    }
    case 'approve_if':
      // Held; allowed once granted; denied when the request was denied or expired, or a value is too long to match.
      return ['approval_required', 'allow', 'deny'];
    case 'require':
    case 'deny_if':
    case 'limit':
    case 'rate_limit':
      return ['deny'];
  }
}

/** Why a rule with no effects (see {@link effectsOf}) never decides. */
function neverWhy(info: RuleInfo): string {
  return info.kind === 'default' ? 'hide "*" hides every tool not listed first' : 'action "allow" decides as a plain allow, with rule null';
}

/** Whether a known rule can decide with `code` (the effect has been checked against it already). */
function codeFits(code: DecisionCode, info: RuleInfo, policy: CompiledPolicy): boolean {
  const action = info.kind === 'action' && info.tool !== null ? policy.policy.tools?.[info.tool]?.action : undefined;
  const approval = info.kind === 'approve_if' || action === 'approve';
  switch (code) {
    case 'rate_limited':
      return info.kind === 'limit' || info.kind === 'rate_limit';
    case 'approval.required':
    case 'approval.denied':
    case 'approval.expired':
      return approval;
    case 'tool.hidden':
      return info.kind === 'hide' || action === 'hide';
    case 'policy.denied':
      // A rate_limit only ever denies as rate_limited; an approval rule denies as policy.denied only for a value too long to match.
      return info.kind !== 'rate_limit' && info.kind !== 'hide' && action !== 'approve';
    case 'invalid_arguments':
      return false;
  }
}

function describeKind(info: RuleInfo): string {
  switch (info.kind) {
    case 'default':
      return 'the default';
    case 'hide':
      return 'the hide list';
    case 'action':
      return 'a tool action';
    case 'require':
      return 'a require condition';
    case 'deny_if':
      return 'a deny_if rule';
    case 'approve_if':
      return 'an approve_if rule';
    case 'limit':
      return 'a limit';
    case 'rate_limit':
      return 'a rate_limit';
  }
}
