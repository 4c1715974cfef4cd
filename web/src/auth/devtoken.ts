// GET /dev/token: a token minted by a server running on its development secret (the route
// does not exist otherwise). Asking it is harmless: it carries no credential.

import { devTokenUrl } from "../net/paths";

export async function fetchDevToken(user?: string): Promise<string | null> {
  try {
    const response = await fetch(devTokenUrl(user), {
      cache: "no-store",
      credentials: "omit",
      headers: { Accept: "application/json" },
    });
    if (response.status !== 200) return null;
    const body: unknown = await response.json();
    if (typeof body === "object" && body !== null && typeof (body as { token?: unknown }).token === "string") {
      return (body as { token: string }).token;
    }
    return null;
  } catch {
    return null;
  }
}
