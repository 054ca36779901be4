import type { LedgerEventType } from '../event/ledger-event.js';
import { spellDuration, spellGrace } from './duration-text.js';
import { APPROVAL_VOTES, type ApprovalEvent } from './verify-reader.js';
import type { VerifyProblem, VerifyProblemCause, VerifyProblemKind } from './verify-problem.js';

/**
 * How far out of order, by default (60 s), the events of one approval may be dated and still
 * count as in order. The approval store orders them: a request is decided only after its
 * `approval.requested` event is committed, and a grant is used only after the
 * `approval.granted` that completed it is committed. But the events are stamped by different
 * gateway replicas, each by its own clock, when they are appended: a grant on one host may be
 * dated before the request on another by as much as their clocks differ. And a call's `allow`
 * is stamped after the store checked, by the using replica's clock, that the approval had not
 * expired — by the time the decision is recorded, within the gateway's decision timeout (5 s
 * by default). The default is the checkpoint grace (`DEFAULT_CHECKPOINT_GRACE_MS`), for the
 * same clocks: it covers both with room to spare.
 */
export const DEFAULT_APPROVAL_GRACE_MS = 60_000;

/** What verify read and found about approvals, across every strand. */
export interface ApprovalSummary {
  /** Approval ids with an `approval.requested` event. */
  requests: number;
  /** `approval.granted` and `approval.denied` events. */
  votes: number;
  /** `approval.expired` events. */
  expiries: number;
  /** Allowed calls that name an approval (`decision` events with effect `allow` and an `approval_id`). */
  uses: number;
  /** Problems found with approvals; each is also in the report's problems and `problem_count`. */
  problems: number;
}

const VOTES = new Set<LedgerEventType>(APPROVAL_VOTES);
const BINDING = ['server', 'tool', 'agent_id', 'args_sha256'] as const;
const MAX_MIN_APPROVALS = 2_147_483_647;

/**
 * The approval pass: fed each approval's events in turn (`VerifyReader.approvalEvents`), it
 * checks every approval of the ledger across all strands (a request opened through one gateway
 * replica is often decided through another, and the call may run on a third):
 *
 * - every `approval.granted`, `approval.denied` and `approval.expired` follows an
 *   `approval.requested` of the same approval id, and no id is requested twice;
 * - no approval is granted by the agent that requested it;
 * - an allowed call that names an approval ran on a request for exactly that call (server,
 *   tool, agent, arguments), before the request's `detail.expires_at`, after at least its
 *   `detail.min_approvals` distinct approvers granted it and with no denial;
 * - and no approval is used by more than one allowed call.
 *
 * Times are compared with `graceMs` of slack ({@link DEFAULT_APPROVAL_GRACE_MS}). Each problem
 * goes to `report`, named by the event at fault and the approval id, and is counted in the summary.
 */
export class ApprovalPass {
  /** What was read and found so far. */
  readonly summary: ApprovalSummary = { requests: 0, votes: 0, expiries: 0, uses: 0, problems: 0 };

  constructor(
    private readonly graceMs: number,
    private readonly report: (problem: VerifyProblem) => void,
  ) {}

  /** Checks one approval: `events` are all of its events, in time order. */
  check(events: ApprovalEvent[]): void {
    checkApproval(events, this.graceMs, this.summary, (problem) => {
      this.summary.problems += 1;
      this.report(problem);
    });
  }
}

/** The checks of one approval id; `events` are all of its events, in time order. */
function checkApproval(events: ApprovalEvent[], graceMs: number, summary: ApprovalSummary, report: (problem: VerifyProblem) => void): void {
  const id = events[0]!.approval_id;
  const requests = events.filter((e) => e.event_type === 'approval.requested');
  const votes = events.filter((e) => VOTES.has(e.event_type));
  const uses = events.filter((e) => e.event_type === 'decision');
  const request = requests[0];
  if (request) summary.requests += 1;
  const expiries = votes.filter((v) => v.event_type === 'approval.expired').length;
  summary.votes += votes.length - expiries;
  summary.expiries += expiries;
  summary.uses += uses.length;
  const found = (kind: VerifyProblemKind, cause: VerifyProblemCause, event: ApprovalEvent, message: string): void => {
    report({ kind, cause, strand_id: event.strand_id, seq: event.seq, event_id: event.event_id, checkpoint_id: null, approval_id: id, message: `${where(event)}: ${message}` });
  };
  const slack = `events of one approval, stamped by different replicas' clocks, may be out of order by up to ${spellGrace(graceMs)}`;

  for (const again of requests.slice(1)) {
    found(
      'approval_duplicate_request',
      'inserted',
      again,
      `approval ${id} is requested a second time; it was first requested at ${where(request!)}. Each request has an id of its own, so this event was inserted (a copy or a forgery)`,
    );
  }

  for (const vote of votes) {
    const what = vote.event_type === 'approval.expired' ? 'expired' : vote.event_type === 'approval.granted' ? `granted by ${vote.approver}` : `denied by ${vote.approver}`;
    if (!request) {
      found(
        'approval_unrequested',
        'forged',
        vote,
        `approval ${id} is ${what}, but it was never requested: no approval.requested event has this approval id (it was removed, or this event was forged)`,
      );
    } else if (vote.at < request.at - graceMs) {
      found(
        'approval_unrequested',
        'backdated',
        vote,
        `approval ${id} is ${what} at ${vote.occurred_at}, ${spellDuration(request.at - vote.at)} before it was requested (${where(request)}, at ${request.occurred_at}); ` +
          `${slack}, so one of the two was dated falsely`,
      );
    }
    const requester = request?.agent_id ?? vote.agent_id;
    if (vote.event_type === 'approval.granted' && vote.approver !== null && (vote.approver === requester || vote.approver === vote.agent_id)) {
      found(
        'approval_self_granted',
        'unauthorized',
        vote,
        `approval ${id} is granted by ${vote.approver}, the agent that requested it${request ? ` (${where(request)})` : ''}: an approver is never the requesting agent`,
      );
    }
  }

  const first = uses[0];
  for (const use of uses) {
    const call = `call ${use.call_id ?? '(no call id)'} ran on approval ${id}`;
    if (use !== first) {
      found('approval_reused', 'unauthorized', use, `${call}, which call ${first!.call_id ?? '(no call id)'} already used (${where(first!)}): an approval is used exactly once`);
    }
    if (!request) {
      found('approval_ungranted', 'unauthorized', use, `${call}, which was never requested or granted: no approval.requested event has this approval id`);
      continue;
    }
    const differs = BINDING.filter((k) => use[k] !== request[k]);
    if (differs.length > 0) {
      found(
        'approval_mismatch',
        'unauthorized',
        use,
        `${call}, which was requested for another call (${where(request)}): ${differs.map((k) => `${k} ${show(request[k])}, the call's ${show(use[k])}`).join('; ')}`,
      );
    }
    const expiresAt = timeOf(request.detail?.expires_at);
    if (expiresAt === undefined) {
      found(
        'approval_expired_use',
        'unauthorized',
        use,
        `${call}, whose request (${where(request)}) records no valid expiry (detail.expires_at is ${show(request.detail?.expires_at)}), so it cannot have run before the approval expired`,
      );
    } else if (use.at > expiresAt + graceMs) {
      found(
        'approval_expired_use',
        'unauthorized',
        use,
        `${call} at ${use.occurred_at}, ${spellDuration(use.at - expiresAt)} after the approval expired at ${new Date(expiresAt).toISOString()} (${where(request)}); ` +
          `a call decided as its approval expires may be recorded up to ${spellGrace(graceMs)} later`,
      );
    }
    const needed = minApprovalsOf(request.detail?.min_approvals);
    const denial = votes.find((v) => v.event_type === 'approval.denied');
    const grants = votes.filter((v) => v.event_type === 'approval.granted' && v.approver !== null);
    const counted = new Set(grants.filter((g) => g.at <= use.at + graceMs && g.approver !== request.agent_id).map((g) => g.approver!));
    if (denial) {
      // The store refuses every vote once a request is denied: a grant after the denial means
      // the denial never took effect (its gateway stopped between recording and applying it).
      const overruled = grants.filter((g) => g.at > denial.at + graceMs).length;
      const note =
        overruled > 0
          ? `; ${overruled === 1 ? 'a grant is' : `${overruled} grants are`} dated after the denial, which the approval store refuses once a request is denied: ` +
            'the denial was recorded by a gateway that stopped before it took effect, or events were forged'
          : '';
      found('approval_ungranted', 'unauthorized', use, `${call}, which was denied by ${denial.approver} (${where(denial)})${note}`);
    } else if (counted.size < needed) {
      const by = [...counted].join(', ');
      const had = counted.size === 0 ? 'none was recorded before it' : `only ${counted.size} (${by}) ${counted.size === 1 ? 'was' : 'were'} recorded before it`;
      const self = grants.some((g) => g.approver === request.agent_id) ? `; a grant by the requesting agent ${request.agent_id} does not count` : '';
      const later = grants.filter((g) => g.at > use.at + graceMs && g.approver !== request.agent_id);
      const after = later.length > 0 ? `; ${later.map((g) => `the grant by ${g.approver} (${where(g)})`).join(', ')} is dated after it, beyond the ${spellGrace(graceMs)} of slack between replicas' clocks` : '';
      found('approval_ungranted', 'unauthorized', use, `${call}, which needs grants by ${needed} distinct approver${needed === 1 ? '' : 's'}: ${had}${self}${after}`);
    }
  }
}

function where(event: ApprovalEvent): string {
  return `strand ${event.strand_id} seq ${event.seq} (event ${event.event_id})`;
}

function show(value: unknown): string {
  return value === undefined ? 'missing' : JSON.stringify(value);
}

/** `detail.expires_at` in ms since the epoch, as the writer stores it (ISO 8601). */
function timeOf(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * `detail.min_approvals`: a number of at least 1, rounded up. Anything else — absent (events
 * written before it was recorded), not a number, below 1 — counts as 1, the least any
 * approval needs; the audit views read it the same way.
 */
function minApprovalsOf(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 1 ? Math.min(Math.ceil(value), MAX_MIN_APPROVALS) : 1;
}
