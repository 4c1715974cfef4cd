// Frames for the bare baselines: ServerMessage events of a chosen size, so the load
// generator decodes the same kind of frame from a baseline as from the server and only the
// server side differs.
import { randomUUID } from "node:crypto";
import { encodeServer } from "./proto.mjs";

const PROJECT_ID = randomUUID();
const ITEM_ID = randomUUID();

function eventFrame(seq, requestId, title) {
  return encodeServer({
    event: {
      seq,
      project_ids: [PROJECT_ID],
      occurred_at_ms: Date.now(),
      actor_id: "bench-user",
      request_id: requestId,
      work_item_created: {
        work_item: { id: ITEM_ID, project_id: PROJECT_ID, key: "B0-1", title, version: 1 },
      },
    },
  });
}

// An event frame of `size` bytes (or the smallest possible, when size is below it).
export function syntheticEvent(seq, requestId, size) {
  let title = "";
  let frame = eventFrame(seq, requestId, title);
  // Length prefixes grow by a byte at 128 and 16384 bytes: adjust until it fits.
  for (let attempt = 0; attempt < 4 && frame.length !== size; attempt++) {
    const length = title.length + size - frame.length;
    if (length < 0) break;
    title = "x".repeat(length);
    frame = eventFrame(seq, requestId, title);
  }
  return frame;
}
