import {
  ArgumentValidator,
  diffPolicySets,
  replayDecisions,
  widenedTools,
  type PolicySetDiff,
  type ReplayReport,
  type RiskLevel,
  type WidenedTool,
} from '@tollgate/policy';
import { ExitCode } from '../cli-error.js';
import { withLedger } from '../ledger/ledger-command-support.js';
import { DEFAULT_POLICY_PATH } from '../policy-files.js';
import { readRecordedCalls } from './ledger-replay-reader.js';
import {
  DEFAULT_BASE_REF,
  isWorkingTree,
  openPolicyRepository,
  readPolicySetAtRef,
  readWorkingTreePolicySet,
  type PolicyRepository,
  type PolicySetSource,
} from './policy-set-reader.js';

/** Where `--replay` reads recorded decisions from, and which. */
export interface ReplayOptions {
  /** Replay decisions recorded at or after this time. */
  readonly since: Date;
  /** PostgreSQL URL of the ledger; without it the embedded ledger in `dataDir`. */
  readonly databaseUrl?: string | undefined;
  readonly dataDir: string;
  /** Most decisions read (oldest first). */
  readonly limit: number;
}

/** Options of {@link runDiff}. */
export interface RunDiffOptions {
  /** Directory inside the policy repository (default `process.cwd()`). */
  readonly cwd?: string;
  /** Base ref (default `origin/main`); `.` or `WORKTREE` for the working tree. */
  readonly base?: string | undefined;
  /** Head ref (default: the working tree). */
  readonly head?: string | undefined;
  /** The policies directory inside the repository (default `policies`). */
  readonly policies?: string | undefined;
  readonly replay?: ReplayOptions | undefined;
  /** Fail (exit 1) when a tool at or above this risk level became wider or both. */
  readonly failOnWidening?: RiskLevel | undefined;
  /** Most example calls per tool (default 3). */
  readonly maxExamples?: number | undefined;
  /** Told each step of the work as it starts (a progress display on a terminal). */
  readonly onProgress?: (step: string) => void;
}

/** One side of the diff as the report shows it. */
export interface DiffSide {
  /** The ref named (`origin/main`, `HEAD~1`) or `working tree`. */
  readonly ref: string;
  readonly commit: string | null;
  readonly files: readonly string[];
}

/** The replay part of a diff report. */
export interface DiffReplay extends ReplayReport {
  /** ISO time the replay started from. */
  readonly since: string;
  /** True when more decisions were recorded than were read. */
  readonly truncated: boolean;
}

/** What `tollgate diff` prints (pretty, markdown) and returns (`--format json`, `--json`). */
export interface DiffReport extends PolicySetDiff {
  readonly base: DiffSide;
  readonly head: DiffSide;
  readonly replay: DiffReplay | null;
  /** The `--fail-on-widening` level, or null without the flag. */
  readonly fail_on_widening: RiskLevel | null;
  /** Tools that became wider (or both) at or above that level; empty without the flag. */
  readonly widened: readonly WidenedTool[];
  /** True when `widened` is not empty: the command exits 1. */
  readonly failed: boolean;
}

function side(source: PolicySetSource): DiffSide {
  return { ref: source.label, commit: source.commit, files: source.files };
}

async function readSide(repo: PolicyRepository, name: string | undefined, role: 'base' | 'head', policies: string): Promise<PolicySetSource> {
  return isWorkingTree(name) ? readWorkingTreePolicySet(repo, policies) : readPolicySetAtRef(repo, name!, role, policies);
}

/**
 * `tollgate diff`: reads the policies at `base` and `head` (refs through simple-git, or the
 * working tree), compares them ({@link diffPolicySets}), optionally replays the ledger's
 * recorded decisions under both ({@link replayDecisions}), and checks `--fail-on-widening`.
 *
 * @throws CliError exit 2 for a missing ref, an invalid policy or catalog on either side,
 *   or an unreachable ledger.
 */
export async function runDiff(options: RunDiffOptions = {}): Promise<DiffReport> {
  const repo = await openPolicyRepository(options.cwd ?? process.cwd());
  const policies = (options.policies ?? DEFAULT_POLICY_PATH).replace(/\/+$/, '') || DEFAULT_POLICY_PATH;
  const base = await readSide(repo, options.base ?? DEFAULT_BASE_REF, 'base', policies);
  const head = await readSide(repo, options.head, 'head', policies);
  // Calls the gateway would refuse as invalid_arguments never reach a policy, so they cannot flip.
  const validator = new ArgumentValidator();
  const diff = diffPolicySets(base.entries, head.entries, {
    admits: (tool, args) => validator.validate(tool.inputSchema, args).valid,
    ...(options.maxExamples !== undefined ? { maxExamples: options.maxExamples } : {}),
  });
  let replay: DiffReplay | null = null;
  if (options.replay) {
    const r = options.replay;
    const servers = [...new Set([...base.entries, ...head.entries].map((e) => e.server))];
    options.onProgress?.(`reading the decisions recorded since ${r.since.toISOString()} from the ledger`);
    const recorded = await withLedger({ 'database-url': r.databaseUrl, 'data-dir': r.dataDir }, (connection) => readRecordedCalls(connection, { since: r.since, servers, limit: r.limit }));
    options.onProgress?.(`re-deciding ${recorded.calls.length} recorded calls under both policies`);
    replay = { ...replayDecisions(recorded.calls, base.entries, head.entries), since: r.since.toISOString(), truncated: recorded.truncated };
  }
  const widened = options.failOnWidening ? widenedTools(diff, options.failOnWidening) : [];
  return { base: side(base), head: side(head), ...diff, replay, fail_on_widening: options.failOnWidening ?? null, widened, failed: widened.length > 0 };
}

/** The exit status of a diff: 1 when `--fail-on-widening` found a widened tool, else 0. */
export function diffExitCode(report: DiffReport): number {
  return report.failed ? ExitCode.findings : ExitCode.ok;
}
