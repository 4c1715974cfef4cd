// Reads just the seq and request_id of a ServerMessage.event frame, skipping the change it
// carries: a full decode of every nested WorkItem made the load generator, not the server,
// the bottleneck of replays and fan-outs. Any other frame returns null (decode it fully).
const EVENT_TAG = (3 << 3) | 2; // ServerMessage.event, length-delimited
const SEQ = 1;
const REQUEST_ID = 5;

function varint(bytes, state) {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = bytes[state.at++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
  }
}

export function peekEvent(bytes) {
  if (bytes.length === 0 || bytes[0] !== EVENT_TAG) return null;
  const state = { at: 1 };
  const end = varint(bytes, state) + state.at;
  let seq = 0;
  let requestId = "";
  while (state.at < end) {
    const tag = varint(bytes, state);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const value = varint(bytes, state);
      if (field === SEQ) seq = value;
    } else if (wire === 2) {
      const length = varint(bytes, state);
      if (field === REQUEST_ID) requestId = bytes.toString("utf8", state.at, state.at + length);
      state.at += length;
    } else if (wire === 1) {
      state.at += 8;
    } else if (wire === 5) {
      state.at += 4;
    } else {
      return null; // groups: never in pm.v1; let the full decoder have it
    }
  }
  return { seq, request_id: requestId };
}
