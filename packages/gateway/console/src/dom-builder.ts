/** Attributes of an element made by {@link h}: strings (attributes), booleans (present or not), or handlers. */
export type Attributes = Record<string, string | boolean | undefined | ((event: Event) => void)>;

/** A child of an element: a node, text (set as text, never parsed as HTML), or nothing. */
export type Child = Node | string | number | null | undefined | false;

/**
 * Makes an HTML element. Text is always text: nothing the gateway sends (a tool's arguments,
 * a reason) is ever parsed as HTML, so none of it can run in the page.
 *
 * @example
 * h('button', { type: 'button', class: 'approve', onclick: () => vote() }, 'Approve')
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  apply(element, attributes);
  append(element, children);
  return element;
}

/** Makes an SVG element (for the chart). */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
  apply(element, attributes);
  append(element, children);
  return element;
}

/** Replaces an element's children. */
export function replaceChildren(element: Element, ...children: Child[]): void {
  element.replaceChildren();
  append(element, children);
}

/** The element with this id (the page's skeleton has it). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the console page has no #${id}`);
  return element as T;
}

function apply(element: Element, attributes: Attributes): void {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    // The Content-Security-Policy forbids inline styles: classes only.
    if (name === 'style') throw new Error('inline styles are refused by the console CSP; use a class');
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else element.setAttribute(name, value === true ? '' : value);
  }
}

function append(element: Element, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'number' ? String(child) : child);
  }
}
