// Sign-in: paste a token (textarea[name=token], [data-testid=login-submit]), or, when the
// server runs on its development secret (GET /dev/token answers 200), take a development
// token ([data-testid=dev-token], optionally for input[name=dev-user]).

import { readClaims } from "../auth/jwt";
import type { TokenSource } from "../auth/tokenstore";
import { fetchDevToken } from "../auth/devtoken";
import { h } from "../util/dom";

export function checkToken(token: string): string {
  const claims = readClaims(token);
  if (!claims) return "That is not a token with sub, tenant_id and exp claims.";
  if (claims.exp * 1000 <= Date.now()) return "That token has expired.";
  return "";
}

export class Login {
  private readonly error = h("p", { class: "error", data: { testid: "login-error" }, attrs: { role: "alert" }, hidden: true });
  private readonly token = h("textarea", {
    attrs: { name: "token", rows: 4, placeholder: "Paste a JWT…", "aria-label": "Token", spellcheck: "false", autocomplete: "off" },
    data: { testid: "token-input" },
  });
  private readonly devUser = h("input", { attrs: { name: "dev-user", placeholder: "dev-user", "aria-label": "Development user id", maxlength: 64 } });
  private readonly dev = h("div", { class: "dev-login", data: { testid: "dev-login" }, hidden: true });
  private probed = false;

  constructor(
    private readonly root: HTMLElement,
    private readonly onToken: (token: string, source: TokenSource) => void,
  ) {
    const form = h(
      "form",
      {
        class: "login-form",
        data: { testid: "login-form" },
        on: {
          submit: (event) => {
            event.preventDefault();
            this.submit(this.token.value.trim(), "pasted");
          },
        },
      },
      h("h1", { text: "pm board" }),
      h("p", { class: "muted", text: "Sign in with an access token. It stays in this tab only." }),
      this.token,
      h("button", { text: "Sign in", attrs: { type: "submit" }, data: { testid: "login-submit" } }),
      this.error,
      this.dev,
    );
    this.token.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    this.dev.append(
      h("p", { class: "muted", text: "This server runs with its development secret." }),
      this.devUser,
      h("button", {
        text: "Use a development token",
        class: "secondary",
        attrs: { type: "button" },
        data: { testid: "dev-token" },
        on: { click: () => void this.useDevToken() },
      }),
    );
    root.appendChild(form);
  }

  show(message = ""): void {
    this.root.hidden = false;
    this.token.value = "";
    this.setError(message);
    this.token.focus();
    if (!this.probed) {
      this.probed = true;
      void fetchDevToken().then((token) => {
        this.dev.hidden = token === null;
      });
    }
  }

  hide(): void {
    this.root.hidden = true;
  }

  private setError(message: string): void {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  private submit(token: string, source: TokenSource): void {
    const problem = token ? checkToken(token) : "Paste a token first.";
    if (problem) {
      this.setError(problem);
      return;
    }
    this.setError("");
    this.onToken(token, source);
  }

  private async useDevToken(): Promise<void> {
    const token = await fetchDevToken(this.devUser.value.trim() || undefined);
    if (!token) {
      this.setError("The server gave no development token.");
      return;
    }
    this.submit(token, "dev");
  }
}
