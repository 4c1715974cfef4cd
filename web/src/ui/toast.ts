// Messages: errors, conflicts, confirmations, the undo notice. Each is one
// [data-testid=toast] element with data-kind, in a polite live region.

import { h } from "../util/dom";

export type ToastKind = "error" | "conflict" | "info" | "undo";

export interface ToastAction {
  label: string;
  testid: string;
  run: () => void;
}

const LIFETIME_MS: Record<ToastKind, number> = { error: 10_000, conflict: 12_000, info: 5_000, undo: 15_000 };
const MAX_TOASTS = 5;

export class Toasts {
  constructor(private readonly root: HTMLElement) {}

  show(kind: ToastKind, message: string, action?: ToastAction): HTMLElement {
    const close = (): void => {
      window.clearTimeout(timer);
      toast.remove();
    };
    const toast = h(
      "div",
      { class: `toast toast-${kind}`, data: { testid: "toast", kind }, attrs: { role: kind === "error" ? "alert" : "status" } },
      h("span", { class: "toast-message", text: message, data: { testid: "toast-message" } }),
      action
        ? h("button", {
            class: "toast-action",
            text: action.label,
            attrs: { type: "button" },
            data: { testid: action.testid },
            on: {
              click: () => {
                close();
                action.run();
              },
            },
          })
        : null,
      h("button", {
        class: "toast-close",
        text: "×",
        attrs: { type: "button", "aria-label": "Dismiss" },
        data: { testid: "toast-dismiss" },
        on: { click: close },
      }),
    );
    const timer = window.setTimeout(close, LIFETIME_MS[kind]);
    this.root.appendChild(toast);
    while (this.root.children.length > MAX_TOASTS) this.root.firstElementChild?.remove();
    return toast;
  }

  error(message: string): void {
    this.show("error", message);
  }

  info(message: string): void {
    this.show("info", message);
  }
}
