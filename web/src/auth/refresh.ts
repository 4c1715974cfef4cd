// Keeping a tab signed in all day: some time before the token's exp, get a new one (a
// development token is fetched again; otherwise the page asks), and hand it to the open
// connection with RefreshToken.

import { fetchDevToken } from "./devtoken";
import type { StoredToken } from "./tokenstore";

export interface RefreshHooks {
  current(): StoredToken | null;
  /** A fresh token for the same user: store it and pass it on. */
  apply(token: string, source: StoredToken["source"]): Promise<void>;
  /** No automatic way: ask the person for one. */
  ask(reason: string): void;
}

/** How long before exp to renew: a tenth of what is left, between 30 s and 5 min. */
export function leadMs(remainingMs: number): number {
  return Math.min(5 * 60_000, Math.max(30_000, remainingMs * 0.1));
}

export class TokenRefresher {
  private timer: number | undefined;

  constructor(private readonly hooks: RefreshHooks) {}

  schedule(): void {
    window.clearTimeout(this.timer);
    const current = this.hooks.current();
    if (!current) return;
    const remaining = current.claims.exp * 1000 - Date.now();
    const wait = Math.max(0, remaining - leadMs(remaining));
    // setTimeout holds at most 2^31-1 ms; a longer wait is simply re-armed.
    this.timer = window.setTimeout(() => void this.renew(), Math.min(wait, 2 ** 31 - 1));
  }

  cancel(): void {
    window.clearTimeout(this.timer);
  }

  /** Now (the connection closed with 4003, or the timer fired). */
  async renew(): Promise<void> {
    const current = this.hooks.current();
    if (!current) return;
    const remaining = current.claims.exp * 1000 - Date.now();
    if (remaining > leadMs(remaining) + 1000) {
      this.schedule();
      return;
    }
    if (current.source === "dev") {
      const token = await fetchDevToken(current.claims.sub);
      if (token) {
        await this.hooks.apply(token, "dev");
        return;
      }
    }
    this.hooks.ask(remaining > 0 ? "Your session ends soon." : "Your session has ended.");
  }
}
