import type { ToolCall } from '../evaluate/decision.js';

/** Returned by a {@link PathGetter} when the path does not exist in the call. */
export const MISSING: unique symbol = Symbol('missing');

/** Reads one path out of a call: the value there, or {@link MISSING}. */
export type PathGetter = (call: ToolCall) => unknown;

/** A parsed path: where it is rooted and the keys (strings) or indexes (numbers) below. */
export interface PathExpression {
  readonly text: string;
  readonly root: 'args' | 'agent' | 'session';
  readonly segments: readonly (string | number)[];
  readonly get: PathGetter;
}

const SEGMENT = /\.([^.[\]]+)|\[(\d+)\]/y;

/**
 * Parses a condition path (`args.order.legs[0].qty`, `agent.id`, `agent.labels.team`,
 * `session.id`) into a getter. Lookups use own properties only, so `args.__proto__` or
 * `args.constructor` is missing unless the agent really sent such a key.
 *
 * @throws SyntaxError when the text is not a path; the schema rejects those first.
 */
export function parsePath(text: string): PathExpression {
  if (text === 'agent.id') return { text, root: 'agent', segments: ['id'], get: (c) => (c.agent ? c.agent.id : MISSING) };
  if (text === 'session.id') return { text, root: 'session', segments: ['id'], get: (c) => (c.session ? c.session.id : MISSING) };
  if (text.startsWith('agent.labels.')) {
    const key = text.slice('agent.labels.'.length);
    if (key === '' || /[.[\]]/.test(key)) throw new SyntaxError(`invalid path "${text}"`);
    return {
      text,
      root: 'agent',
      segments: ['labels', key],
      get: (c) => {
        const labels = c.agent?.labels;
        return labels !== undefined && Object.hasOwn(labels, key) ? labels[key] : MISSING;
      },
    };
  }
  if (!text.startsWith('args')) throw new SyntaxError(`invalid path "${text}"`);
  const segments: (string | number)[] = [];
  SEGMENT.lastIndex = 4;
  while (SEGMENT.lastIndex < text.length) {
    const at = SEGMENT.lastIndex;
    const m = SEGMENT.exec(text);
    if (!m || m.index !== at) throw new SyntaxError(`invalid path "${text}" at character ${at + 1}`);
    segments.push(m[1] !== undefined ? m[1] : Number(m[2]));
  }
  if (segments.length === 0) throw new SyntaxError(`invalid path "${text}": name an argument, e.g. args.amount`);
  return { text, root: 'args', segments, get: argsGetter(segments) };
}

function step(value: unknown, key: string | number): unknown {
  if (typeof key === 'number') return Array.isArray(value) && key < value.length ? value[key] : MISSING;
  if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return MISSING;
  return (value as Record<string, unknown>)[key];
}

function argsGetter(segments: readonly (string | number)[]): PathGetter {
  // The common one- and two-segment paths get straight-line getters.
  if (segments.length === 1 && typeof segments[0] === 'string') {
    const key = segments[0];
    return (c) => {
      const a = c.args;
      return a !== undefined && a !== null && Object.hasOwn(a, key) ? a[key] : MISSING;
    };
  }
  return (c) => {
    let v: unknown = c.args ?? MISSING;
    for (let i = 0; i < segments.length && v !== MISSING; i++) v = step(v, segments[i]!);
    return v;
  };
}
