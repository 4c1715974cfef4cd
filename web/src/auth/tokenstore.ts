// Where the token lives: sessionStorage (this tab only, gone with it), never a URL the server
// sees. A deep link `/#token=<JWT>&project=<id>` hands one over in the fragment, which no
// request carries; the page takes it and removes it from the address bar at once.

import { readClaims, type Claims } from "./jwt";

const TOKEN_KEY = "pm.token";
const SOURCE_KEY = "pm.tokenSource";
const PROJECT_KEY = "pm.project";

/** "dev": minted by GET /dev/token (renewed the same way); "pasted": the user gave it. */
export type TokenSource = "dev" | "pasted";

export interface StoredToken {
  token: string;
  claims: Claims;
  source: TokenSource;
}

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export function loadToken(): StoredToken | null {
  const s = storage();
  const token = s?.getItem(TOKEN_KEY);
  if (!token) return null;
  const claims = readClaims(token);
  if (!claims) return null;
  const source = s?.getItem(SOURCE_KEY) === "dev" ? "dev" : "pasted";
  return { token, claims, source };
}

export function saveToken(token: string, source: TokenSource): StoredToken | null {
  const claims = readClaims(token);
  if (!claims) return null;
  const s = storage();
  s?.setItem(TOKEN_KEY, token);
  s?.setItem(SOURCE_KEY, source);
  return { token, claims, source };
}

export function clearToken(): void {
  const s = storage();
  s?.removeItem(TOKEN_KEY);
  s?.removeItem(SOURCE_KEY);
}

export function loadProjectId(): string {
  return storage()?.getItem(PROJECT_KEY) ?? "";
}

export function saveProjectId(id: string): void {
  const s = storage();
  if (id) s?.setItem(PROJECT_KEY, id);
  else s?.removeItem(PROJECT_KEY);
}

export interface DeepLink {
  token: string;
  projectId: string;
}

/** Takes `token` and `project` from the fragment and strips it from the address bar. */
export function takeDeepLink(): DeepLink {
  const hash = window.location.hash.replace(/^#/, "");
  if (!hash) return { token: "", projectId: "" };
  const params = new URLSearchParams(hash);
  const link = { token: params.get("token") ?? "", projectId: params.get("project") ?? "" };
  if (link.token || link.projectId) {
    const { pathname, search } = window.location;
    window.history.replaceState(window.history.state, "", pathname + search);
  }
  return link;
}
