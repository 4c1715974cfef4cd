// A small, safe markdown renderer for comments and descriptions: it builds DOM nodes
// (never HTML strings), so stored text can only ever become text. Supported: paragraphs
// (single newlines become line breaks), "- " lists, ``` code blocks, `code`, **strong**,
// *emphasis* / _emphasis_, [links](https://...) and bare http(s) URLs. A link whose target
// is not http or https stays plain text.

import { h } from "../util/dom";

const SAFE_SCHEMES = new Set(["http:", "https:"]);

export function safeHref(raw: string): string | null {
  try {
    const url = new URL(raw.trim());
    return SAFE_SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function link(href: string, children: Node[]): HTMLAnchorElement {
  const a = h("a", { attrs: { href, rel: "noopener noreferrer nofollow", target: "_blank" } });
  a.append(...children);
  return a;
}

const BARE_URL = /^https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"]/;

/** Inline spans of one block of text. */
export function renderInline(text: string): Node[] {
  const out: Node[] = [];
  let plain = "";
  const flush = (): void => {
    if (plain) out.push(document.createTextNode(plain));
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const c = text[i]!;
    if (c === "\\" && i + 1 < text.length && /[\\`*_[\]()]/.test(text[i + 1]!)) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      const end = text.indexOf("`", i + 1);
      if (end > i + 1) {
        flush();
        out.push(h("code", { text: text.slice(i + 1, end) }));
        i = end + 1;
        continue;
      }
    }
    if (rest.startsWith("**") || rest.startsWith("__")) {
      const marker = rest.slice(0, 2);
      const end = text.indexOf(marker, i + 2);
      if (end > i + 2) {
        flush();
        const strong = h("strong");
        strong.append(...renderInline(text.slice(i + 2, end)));
        out.push(strong);
        i = end + 2;
        continue;
      }
    }
    if ((c === "*" || c === "_") && i + 1 < text.length && text[i + 1] !== " ") {
      const end = text.indexOf(c, i + 1);
      // "_" inside a word (snake_case) is not emphasis.
      const wordBefore = c === "_" && i > 0 && /\w/.test(text[i - 1]!);
      if (end > i + 1 && text[end - 1] !== " " && !wordBefore) {
        flush();
        const em = h("em");
        em.append(...renderInline(text.slice(i + 1, end)));
        out.push(em);
        i = end + 1;
        continue;
      }
    }
    if (c === "[") {
      const close = text.indexOf("](", i + 1);
      const end = close > i ? text.indexOf(")", close + 2) : -1;
      if (close > i && end > close) {
        const label = text.slice(i + 1, close);
        const href = safeHref(text.slice(close + 2, end));
        flush();
        if (href) out.push(link(href, renderInline(label)));
        else out.push(...renderInline(label));
        i = end + 1;
        continue;
      }
    }
    if ((c === "h" || c === "H") && (i === 0 || /[\s(]/.test(text[i - 1]!))) {
      const match = BARE_URL.exec(rest);
      const href = match ? safeHref(match[0]) : null;
      if (match && href) {
        flush();
        out.push(link(href, [document.createTextNode(match[0])]));
        i += match[0].length;
        continue;
      }
    }
    plain += c;
    i += 1;
  }
  flush();
  return out;
}

function paragraph(lines: string[]): HTMLParagraphElement {
  const p = h("p");
  lines.forEach((line, index) => {
    if (index > 0) p.appendChild(h("br"));
    p.append(...renderInline(line));
  });
  return p;
}

/** The whole text as block nodes, in a fragment. */
export function renderMarkdown(source: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (/^```/.test(line.trim())) {
      const body: string[] = [];
      i += 1;
      while (i < lines.length && !/^```/.test(lines[i]!.trim())) body.push(lines[i++]!);
      i += 1; // the closing fence (or the end)
      fragment.appendChild(h("pre", {}, h("code", { text: body.join("\n") })));
      continue;
    }
    if (/^\s*[-*] /.test(line)) {
      const list = h("ul");
      while (i < lines.length && /^\s*[-*] /.test(lines[i]!)) {
        const li = h("li");
        li.append(...renderInline(lines[i]!.replace(/^\s*[-*] /, "")));
        list.appendChild(li);
        i += 1;
      }
      fragment.appendChild(list);
      continue;
    }
    if (line.trim() === "") {
      i += 1;
      continue;
    }
    const block: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== "" && !/^```/.test(lines[i]!.trim()) && !/^\s*[-*] /.test(lines[i]!)) {
      block.push(lines[i++]!);
    }
    fragment.appendChild(paragraph(block));
  }
  return fragment;
}
