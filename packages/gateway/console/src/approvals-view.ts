import type { ConsoleApproval } from '../../src/admin/console-messages.js';
import { byId, h, replaceChildren } from './dom-builder.js';
import { clockTime, durationLeft, labelsText } from './time-format.js';

/** How a vote is cast (the view asks; the app calls the API and hands back the answer). */
export type CastVote = (id: string, verb: 'approve' | 'deny', reason: string) => Promise<{ ok: true } | { ok: false; error: string }>;

/** The most decided requests the history keeps. */
const HISTORY_LIMIT = 100;

interface Card {
  readonly element: HTMLElement;
  readonly countdown: HTMLElement;
  readonly votes: HTMLElement;
  readonly decide: HTMLElement;
  readonly error: HTMLElement;
  approval: ConsoleApproval;
}

/**
 * The pending requests (a card each: what was called, by whom, under which rule, who may
 * decide, the time left, and Approve / Deny with an optional reason) and the history of
 * decided, expired and used ones. Cards are kept while they are pending, so a reason being
 * typed survives every update.
 */
export class ApprovalsView {
  readonly #cards = new Map<string, Card>();
  readonly #history = new Map<string, ConsoleApproval>();
  readonly #vote: CastVote;
  #offsetMs = 0;

  constructor(vote: CastVote) {
    this.#vote = vote;
  }

  /** Starts over from a snapshot; `serverTime` sets the clock the countdowns use. */
  reset(pending: readonly ConsoleApproval[], history: readonly ConsoleApproval[], serverTime: string): void {
    this.#offsetMs = Date.parse(serverTime) - Date.now();
    this.#cards.clear();
    this.#history.clear();
    replaceChildren(byId('pending'));
    // Oldest first, so that each is put on top of the ones before it.
    for (const a of [...history].reverse()) this.#history.set(a.id, a);
    for (const a of [...pending].reverse()) this.update(a);
    this.#renderHistory();
    this.#renderCounts();
  }

  /** Shows a request as it is now: pending ones as cards, the rest in the history. */
  update(a: ConsoleApproval): void {
    const card = this.#cards.get(a.id);
    if (a.status === 'pending') {
      if (card) this.#fill(card, a);
      else this.#add(a);
    } else {
      if (card) {
        card.element.remove();
        this.#cards.delete(a.id);
      }
      this.#history.delete(a.id);
      this.#history.set(a.id, a);
      while (this.#history.size > HISTORY_LIMIT) this.#history.delete(this.#history.keys().next().value as string);
      this.#renderHistory();
    }
    this.#renderCounts();
  }

  /** Updates every countdown (called every second). */
  tick(): void {
    const now = Date.now() + this.#offsetMs;
    for (const card of this.#cards.values()) this.#countdown(card, now);
  }

  #add(a: ConsoleApproval): void {
    const countdown = h('span', { class: 'countdown', 'aria-label': 'time left' });
    const votes = h('dd', { class: 'votes' });
    const decide = h('div', { class: 'decide' });
    const error = h('p', { class: 'error vote-error', role: 'alert' });
    const element = h(
      'article',
      { class: 'card approval', 'data-id': a.id, 'data-tool': a.tool },
      h('header', {}, h('h3', {}, h('span', { class: 'tool' }, a.tool), ' ', h('span', { class: 'on' }, 'on'), ' ', h('span', { class: 'server' }, a.server)), countdown),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Agent'),
        h('dd', { class: 'agent' }, a.agent, labelsText(a.agent_labels) ? h('span', { class: 'labels' }, ` ${labelsText(a.agent_labels)}`) : null),
        h('dt', {}, 'Rule'),
        h('dd', { class: 'rule' }, h('code', {}, a.rule)),
        h('dt', {}, 'Reason'),
        h('dd', { class: 'reason' }, a.reason),
        h('dt', {}, 'Policy revision'),
        h('dd', { class: 'revision' }, a.policy_revision ?? 'none', h('span', { class: 'digest', title: a.policy_digest }, ` · ${a.policy_digest.slice(0, 12)}`)),
        h('dt', {}, 'Who may decide'),
        h('dd', { class: 'approvers' }, whoMayDecide(a)),
        h('dt', {}, 'Votes'),
        votes,
        h('dt', {}, 'Requested'),
        h('dd', { class: 'requested' }, `${clockTime(a.requested_at)} · expires ${clockTime(a.expires_at)}`),
      ),
      h('details', { class: 'arguments', open: true }, h('summary', {}, 'Arguments'), h('pre', { class: 'args' }, JSON.stringify(a.arguments, null, 2))),
      decide,
      error,
    );
    const card: Card = { element, countdown, votes, decide, error, approval: a };
    this.#cards.set(a.id, card);
    byId('pending').prepend(element);
    this.#fill(card, a, true);
  }

  /** Fills the parts of a card that change while it is pending (votes, whether it can be decided). */
  #fill(card: Card, a: ConsoleApproval, first = false): void {
    const before = card.approval;
    card.approval = a;
    const grants = a.decisions.filter((d) => d.decision === 'grant');
    replaceChildren(
      card.votes,
      a.decisions.length === 0 ? `none yet (${a.min_approvals} needed)` : `${grants.length} of ${a.min_approvals} granted: ${a.decisions.map((d) => `${d.approver} at ${clockTime(d.at)}`).join(', ')}`,
    );
    if (first || before.can_decide !== a.can_decide || before.cannot_decide_reason !== a.cannot_decide_reason) this.#decideControls(card);
    this.#countdown(card, Date.now() + this.#offsetMs);
  }

  #decideControls(card: Card): void {
    const a = card.approval;
    if (!a.can_decide) {
      card.element.classList.add('undecidable');
      replaceChildren(card.decide, h('p', { class: 'cannot' }, `You cannot decide this: ${a.cannot_decide_reason ?? 'not allowed'}.`));
      return;
    }
    card.element.classList.remove('undecidable');
    const reason = h('input', { type: 'text', class: 'vote-reason', name: 'reason', maxlength: '2000', autocomplete: 'off', placeholder: 'optional' });
    const approve = h('button', { type: 'button', class: 'approve' }, 'Approve');
    const deny = h('button', { type: 'button', class: 'deny' }, 'Deny');
    const cast = async (verb: 'approve' | 'deny'): Promise<void> => {
      approve.disabled = deny.disabled = true;
      card.error.textContent = '';
      const answer = await this.#vote(a.id, verb, reason.value);
      // The request's new state comes by the event stream, which orders it among every other
      // change (the answer to this vote may arrive after the call it approved has already run).
      if (answer.ok) return;
      card.error.textContent = answer.error;
      approve.disabled = deny.disabled = false;
    };
    approve.addEventListener('click', () => void cast('approve'));
    deny.addEventListener('click', () => void cast('deny'));
    replaceChildren(card.decide, h('label', { class: 'reason-field' }, 'Reason ', reason), h('div', { class: 'buttons' }, approve, deny));
  }

  #countdown(card: Card, now: number): void {
    const left = Date.parse(card.approval.expires_at) - now;
    card.countdown.textContent = left > 0 ? `${durationLeft(left)} left` : 'expiring…';
    card.countdown.classList.toggle('urgent', left < 60_000);
  }

  #renderHistory(): void {
    const items = [...this.#history.values()].reverse().map((a) => historyItem(a));
    replaceChildren(byId('history'), ...items);
    byId('history-empty').hidden = items.length > 0;
  }

  #renderCounts(): void {
    byId('pending-count').textContent = String(this.#cards.size);
    byId('pending-empty').hidden = this.#cards.size > 0;
  }
}

function whoMayDecide(a: ConsoleApproval): string {
  const who = a.approvers === null ? 'any approver' : a.approvers.join(', ');
  return a.min_approvals > 1 ? `${who} · ${a.min_approvals} distinct approvers` : who;
}

/** What became of a request, for the history. */
function outcome(a: ConsoleApproval): string {
  const denial = a.decisions.find((d) => d.decision === 'deny');
  const grants = a.decisions.filter((d) => d.decision === 'grant');
  const by = (votes: typeof a.decisions): string => votes.map((d) => `${d.approver} at ${clockTime(d.at)}${d.reason ? ` (“${d.reason}”)` : ''}`).join(', ');
  switch (a.status) {
    case 'denied':
      return denial ? `Denied by ${by([denial])}` : `Denied at ${clockTime(a.decided_at)}`;
    case 'granted':
      return `Approved by ${by(grants)} · not used yet`;
    case 'consumed':
      return `Approved by ${by(grants)} · the call ran at ${clockTime(a.consumed_at)}`;
    case 'expired':
      return `Expired at ${clockTime(a.decided_at ?? a.expires_at)}${grants.length > 0 ? ` after ${grants.length} of ${a.min_approvals} grants` : ' without a decision'}`;
    default:
      return a.status;
  }
}

function historyItem(a: ConsoleApproval): HTMLElement {
  return h(
    'li',
    { class: `history-item status-${a.status}`, 'data-id': a.id, 'data-status': a.status },
    h('span', { class: `badge status-${a.status}` }, a.status === 'consumed' ? 'approved' : a.status === 'granted' ? 'approved' : a.status),
    h('span', { class: 'what' }, h('strong', {}, a.tool), ` on ${a.server} · ${a.agent}`),
    h('span', { class: 'outcome' }, outcome(a)),
  );
}
