import type { FeedMinute } from '../../src/metrics/decision-feed.js';
import { svg, replaceChildren } from './dom-builder.js';

/** The effects, bottom to top of a bar. */
const EFFECTS = ['allow', 'deny', 'approval_required', 'hidden'] as const;
type Effect = (typeof EFFECTS)[number];
const MINUTE_MS = 60_000;
const MINUTES = 60;
const HEIGHT = 140;
const LEFT = 28;
const BOTTOM = 18;
const TOP = 6;

/**
 * Decisions per minute over the last hour, by effect: 60 stacked bars in an SVG drawn here
 * (no chart library, nothing from another origin). It counts the decisions it is given from
 * the snapshot's per-minute counts on, and redraws at most every 50 ms.
 */
export class DecisionChart {
  readonly #container: HTMLElement;
  /** Counts by epoch minute. */
  readonly #minutes = new Map<number, Record<Effect, number>>();
  #offsetMs = 0;
  #scheduled = false;

  constructor(container: HTMLElement) {
    this.#container = container;
    // Drawn at the size it is shown, so its text stays the page's size on a phone and a wide screen.
    new ResizeObserver(() => this.#schedule()).observe(container);
  }

  /** Starts over from the snapshot's counts. */
  reset(perMinute: readonly FeedMinute[], serverTime: string): void {
    this.#offsetMs = Date.parse(serverTime) - Date.now();
    this.#minutes.clear();
    for (const m of perMinute) this.#minutes.set(Math.floor(Date.parse(m.minute) / MINUTE_MS), { allow: m.allow, deny: m.deny, approval_required: m.approval_required, hidden: m.hidden });
    this.draw();
  }

  /** Counts one decision recorded at `at`. */
  add(at: string, effect: Effect): void {
    const minute = Math.floor(Date.parse(at) / MINUTE_MS);
    const counts = this.#minutes.get(minute) ?? { allow: 0, deny: 0, approval_required: 0, hidden: 0 };
    counts[effect] += 1;
    this.#minutes.set(minute, counts);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    window.setTimeout(() => {
      this.#scheduled = false;
      this.draw();
    }, 50);
  }

  /** Redraws (also as the minutes go by). */
  draw(): void {
    const current = Math.floor((Date.now() + this.#offsetMs) / MINUTE_MS);
    for (const m of this.#minutes.keys()) if (m <= current - MINUTES) this.#minutes.delete(m);
    const columns: Array<{ minute: number; counts: Record<Effect, number>; total: number }> = [];
    for (let m = current - MINUTES + 1; m <= current; m++) {
      const counts = this.#minutes.get(m) ?? { allow: 0, deny: 0, approval_required: 0, hidden: 0 };
      columns.push({ minute: m, counts, total: EFFECTS.reduce((sum, e) => sum + counts[e], 0) });
    }
    const width = Math.max(280, Math.round(this.#container.clientWidth) || 600);
    const max = Math.max(1, ...columns.map((c) => c.total));
    const scale = niceMax(max);
    const plotHeight = HEIGHT - BOTTOM - TOP;
    const slot = (width - LEFT) / MINUTES;
    const bars: SVGElement[] = [];
    columns.forEach((c, i) => {
      if (c.total === 0) return;
      let y = HEIGHT - BOTTOM;
      const x = LEFT + i * slot + 1;
      const group = svg('g', { class: 'bar', 'data-minute': new Date(c.minute * MINUTE_MS).toISOString(), 'data-total': String(c.total) });
      group.append(svg('title', {}, `${new Date(c.minute * MINUTE_MS).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false })}: ${EFFECTS.filter((e) => c.counts[e] > 0).map((e) => `${c.counts[e]} ${e}`).join(', ')}`));
      for (const e of EFFECTS) {
        if (c.counts[e] === 0) continue;
        const height = (c.counts[e] / scale) * plotHeight;
        y -= height;
        group.append(svg('rect', { class: `fill-${e}`, x: x.toFixed(1), y: y.toFixed(1), width: Math.max(1, slot - 2).toFixed(1), height: height.toFixed(1) }));
      }
      bars.push(group);
    });
    const axis = [
      svg('line', { class: 'axis', x1: String(LEFT), y1: String(HEIGHT - BOTTOM), x2: String(width), y2: String(HEIGHT - BOTTOM) }),
      svg('line', { class: 'grid', x1: String(LEFT), y1: String(TOP), x2: String(width), y2: String(TOP) }),
      svg('text', { class: 'tick', x: String(LEFT - 4), y: String(TOP + 4), 'text-anchor': 'end' }, String(scale)),
      svg('text', { class: 'tick', x: String(LEFT - 4), y: String(HEIGHT - BOTTOM), 'text-anchor': 'end' }, '0'),
      svg('text', { class: 'tick', x: String(LEFT), y: String(HEIGHT - 4) }, '−60 min'),
      svg('text', { class: 'tick', x: String(LEFT + (width - LEFT) / 2), y: String(HEIGHT - 4), 'text-anchor': 'middle' }, '−30 min'),
      svg('text', { class: 'tick', x: String(width), y: String(HEIGHT - 4), 'text-anchor': 'end' }, 'now'),
    ];
    const total = columns.reduce((sum, c) => sum + c.total, 0);
    replaceChildren(
      this.#container,
      svg('svg', { class: 'decision-chart', viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': `${total} decisions in the last hour`, 'data-total': String(total) }, ...axis, ...bars),
    );
  }
}

/** A round upper bound for the y axis: 1, 2, 5, 10, 20, 50, … */
function niceMax(n: number): number {
  let step = 1;
  for (;;) {
    for (const f of [1, 2, 5]) if (f * step >= n) return f * step;
    step *= 10;
  }
}
