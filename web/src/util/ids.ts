// Client-made ids: UUIDs for optimistic creates, request ids for the envelope.

export function uuid(): string {
  // crypto.randomUUID exists only in secure contexts; getRandomValues exists everywhere.
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let counter = 0;
const SESSION = uuid().slice(0, 8);

/** Unique per page load; stable across reconnects (a retried mutation reuses its id). */
export function requestId(kind: string): string {
  counter += 1;
  return `web-${SESSION}-${counter}-${kind}`;
}
