// The banner asking for a new token before (or after) the current one expires:
// [data-testid=refresh-prompt] with textarea[name=refresh-token] and [data-testid=refresh-submit].

import { fetchDevToken } from "../auth/devtoken";
import { h } from "../util/dom";
import { checkToken } from "./login";

export class RefreshPrompt {
  private readonly message = h("span", { class: "refresh-message", data: { testid: "refresh-message" } });
  private readonly error = h("span", { class: "error", data: { testid: "refresh-error" } });
  private readonly token = h("textarea", {
    attrs: { name: "refresh-token", rows: 1, placeholder: "Paste a new token…", "aria-label": "New token", spellcheck: "false" },
  });

  constructor(
    private readonly root: HTMLElement,
    private readonly submit: (token: string, source: "dev" | "pasted") => Promise<string>,
    private readonly devUser: () => string,
  ) {
    root.dataset.testid = "refresh-prompt";
    const form = h(
      "form",
      {
        class: "inline-form",
        on: {
          submit: (event) => {
            event.preventDefault();
            void this.send(this.token.value.trim(), "pasted");
          },
        },
      },
      this.message,
      this.token,
      h("button", { text: "Renew", attrs: { type: "submit" }, data: { testid: "refresh-submit" } }),
      h("button", {
        text: "Development token",
        class: "secondary",
        attrs: { type: "button" },
        data: { testid: "refresh-dev" },
        on: {
          click: () =>
            void fetchDevToken(this.devUser()).then((token) => {
              if (token) void this.send(token, "dev");
              else this.error.textContent = "No development token here.";
            }),
        },
      }),
      this.error,
    );
    root.appendChild(form);
    root.hidden = true;
  }

  show(reason: string): void {
    this.message.textContent = `${reason} Paste a new token to stay connected.`;
    this.error.textContent = "";
    this.root.hidden = false;
  }

  hide(): void {
    this.root.hidden = true;
    this.token.value = "";
  }

  private async send(token: string, source: "dev" | "pasted"): Promise<void> {
    const problem = token ? checkToken(token) : "Paste a token first.";
    if (problem) {
      this.error.textContent = problem;
      return;
    }
    const refusal = await this.submit(token, source);
    if (refusal) this.error.textContent = refusal;
    else this.hide();
  }
}
