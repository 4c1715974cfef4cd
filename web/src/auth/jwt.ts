// Reading a JWT's claims in the page. Only to know whom the token names and when it expires:
// the server alone checks the signature.

export interface Claims {
  sub: string;
  tenantId: string;
  /** Seconds since the epoch. */
  exp: number;
  roles: string[];
  name: string;
}

function base64UrlDecode(part: string): string {
  const padded = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The claims, or null when the text is not a JWT with `sub`, `tenant_id` and `exp`. */
export function readClaims(token: string): Claims | null {
  const parts = token.trim().split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  let payload: unknown;
  try {
    payload = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    return null;
  }
  if (typeof payload !== "object" || payload === null) return null;
  const p = payload as Record<string, unknown>;
  if (typeof p.sub !== "string" || typeof p.tenant_id !== "string" || typeof p.exp !== "number") {
    return null;
  }
  const roles = Array.isArray(p.roles) ? p.roles.filter((r): r is string => typeof r === "string") : [];
  return {
    sub: p.sub,
    tenantId: p.tenant_id,
    exp: p.exp,
    roles,
    name: typeof p.name === "string" ? p.name : "",
  };
}

export function expiresInMs(claims: Claims, now = Date.now()): number {
  return claims.exp * 1000 - now;
}
