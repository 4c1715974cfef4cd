// The send time rides in the request_id ("<prefix>@<monotonic ms>"): the server copies a
// command's request_id into its event and the fan-out baselines relay frames unchanged, so
// a subscriber in another process can tell each delivery's latency on the shared clock.
export function stampedId(prefix, sentMs) {
  return `${prefix}@${sentMs.toFixed(3)}`;
}

export function sentAt(requestId) {
  const at = requestId.lastIndexOf("@");
  return at < 0 ? null : Number(requestId.slice(at + 1));
}
