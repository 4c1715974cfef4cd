// Where the server's faces are, relative to the page: the board is served at `/` and at
// `/t/{tenant}/` (routing by tenant), and every route lives under the same prefix.

const TENANT_PREFIX = /^(\/t\/[a-z0-9][a-z0-9_-]{0,62})(?:\/|$)/;

export function basePath(pathname = window.location.pathname): string {
  return TENANT_PREFIX.exec(pathname)?.[1] ?? "";
}

export function apiUrl(path: string): string {
  return `${basePath()}/api/v1${path}`;
}

export function socketUrl(): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${basePath()}/ws`;
}

/** The development token route: only at the server's root. */
export function devTokenUrl(user?: string): string {
  return user ? `/dev/token?user=${encodeURIComponent(user)}` : "/dev/token";
}
