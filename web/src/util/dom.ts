// Building DOM nodes without HTML strings: every text goes in as a text node, so nothing the
// server stores can become markup or script (the page's CSP refuses inline code anyway).

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  text?: string;
  /** data-* attributes: { testid: "card-PM-7" } sets data-testid. */
  data?: Record<string, string | number | boolean | null | undefined>;
  /** Plain attributes (name, type, aria-label, ...); null or false leaves one out. */
  attrs?: Record<string, string | number | boolean | null | undefined>;
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
  hidden?: boolean;
}

const DATA_NAME = /[A-Z]/g;

function dataName(key: string): string {
  return "data-" + key.replace(DATA_NAME, (c) => "-" + c.toLowerCase());
}

export function setData(node: Element, data: NonNullable<Props["data"]>): void {
  for (const [key, value] of Object.entries(data)) {
    const name = dataName(key);
    if (value === null || value === undefined || value === false) node.removeAttribute(name);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.data) setData(node, props.data);
  if (props.attrs) {
    for (const [name, value] of Object.entries(props.attrs)) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  if (props.hidden) node.hidden = true;
  if (props.on) {
    for (const [type, listener] of Object.entries(props.on)) {
      node.addEventListener(type, listener as EventListener);
    }
  }
  if (props.text !== undefined) node.textContent = props.text;
  append(node, children);
  return node;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `parent` with `children`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`missing #${id} in index.html`);
  return found as T;
}

/** An <option>; `selected` when its value is the current one. */
export function option(value: string, label: string, current?: string): HTMLOptionElement {
  const node = h("option", { text: label, attrs: { value } });
  if (current !== undefined && current === value) node.selected = true;
  return node;
}

/** Sets a form control's value unless the user is typing in it right now. */
export function setValueUnlessEditing(
  control: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement,
  value: string,
): void {
  if (document.activeElement === control) return;
  if (control.value !== value) control.value = value;
}
