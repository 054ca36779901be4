import type { FeedDecision } from '../../src/metrics/decision-feed.js';
import { byId, h, replaceChildren } from './dom-builder.js';
import { clockTime, labelsText } from './time-format.js';

/** The most decisions the page keeps. */
const KEEP = 500;
/** The most it shows at once (newest first). */
const SHOW = 200;
const EFFECT_NAMES: Readonly<Record<FeedDecision['effect'], string>> = { allow: 'allow', deny: 'deny', approval_required: 'approval', hidden: 'hidden' };

/**
 * The decisions stream: every decision the ledger records, newest first, filterable by agent,
 * tool and effect. Bounded: it keeps the last {@link KEEP} and shows {@link SHOW}.
 */
export class DecisionsView {
  #decisions: FeedDecision[] = [];
  readonly #agents = new Set<string>();
  readonly #tools = new Set<string>();
  #scheduled = false;

  constructor() {
    for (const id of ['filter-agent', 'filter-tool', 'filter-effect']) byId<HTMLSelectElement>(id).addEventListener('change', () => this.#render());
  }

  /** Starts over from the snapshot's decisions (oldest first). */
  reset(decisions: readonly FeedDecision[]): void {
    this.#decisions = decisions.slice(-KEEP);
    this.#agents.clear();
    this.#tools.clear();
    for (const d of this.#decisions) this.#remember(d);
    this.#render();
  }

  /** Adds one recorded decision. */
  add(d: FeedDecision): void {
    const last = this.#decisions.at(-1);
    if (last && d.seq <= last.seq) return;
    this.#decisions.push(d);
    if (this.#decisions.length > KEEP) this.#decisions.splice(0, this.#decisions.length - KEEP);
    this.#remember(d);
    if (this.#scheduled) return;
    this.#scheduled = true;
    window.setTimeout(() => {
      this.#scheduled = false;
      this.#render();
    }, 50);
  }

  #remember(d: FeedDecision): void {
    const tool = `${d.server}/${d.tool}`;
    if (!this.#agents.has(d.agent)) {
      this.#agents.add(d.agent);
      addOption(byId<HTMLSelectElement>('filter-agent'), d.agent, d.agent);
    }
    if (!this.#tools.has(tool)) {
      this.#tools.add(tool);
      addOption(byId<HTMLSelectElement>('filter-tool'), tool, d.tool);
    }
  }

  #render(): void {
    const agent = byId<HTMLSelectElement>('filter-agent').value;
    const tool = byId<HTMLSelectElement>('filter-tool').value;
    const effect = byId<HTMLSelectElement>('filter-effect').value;
    const shown: HTMLElement[] = [];
    for (let i = this.#decisions.length - 1; i >= 0 && shown.length < SHOW; i--) {
      const d = this.#decisions[i]!;
      if (agent !== '' && d.agent !== agent) continue;
      if (tool !== '' && `${d.server}/${d.tool}` !== tool) continue;
      if (effect !== '' && d.effect !== effect) continue;
      shown.push(row(d));
    }
    replaceChildren(byId('decisions'), ...shown);
    const empty = byId('decisions-empty');
    empty.hidden = shown.length > 0;
    empty.textContent = this.#decisions.length === 0 ? 'No decision recorded yet.' : 'No decision matches the filters.';
  }
}

function row(d: FeedDecision): HTMLElement {
  return h(
    'li',
    { class: `decision effect-${d.effect}`, 'data-effect': d.effect, 'data-tool': d.tool, 'data-agent': d.agent },
    h('time', { class: 'at', datetime: d.at }, clockTime(d.at)),
    h('span', { class: `badge effect-${d.effect}` }, EFFECT_NAMES[d.effect]),
    h('span', { class: 'who' }, d.agent, labelsText(d.labels) ? h('span', { class: 'labels' }, ` ${labelsText(d.labels)}`) : null),
    h('span', { class: 'what' }, h('strong', {}, d.tool), h('span', { class: 'server' }, ` on ${d.server}`)),
    h('span', { class: 'why' }, d.rule ? h('code', {}, d.rule) : null, d.rule ? ' ' : null, d.effect === 'allow' && !d.rule ? 'allowed' : d.reason),
    h('code', { class: 'args', title: d.arguments }, d.arguments),
  );
}

function addOption(select: HTMLSelectElement, value: string, text: string): void {
  const option = h('option', { value }, text);
  const after = [...select.options].slice(1).find((o) => o.value.localeCompare(value) > 0);
  select.insertBefore(option, after ?? null);
}
