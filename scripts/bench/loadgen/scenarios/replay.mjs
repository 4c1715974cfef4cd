// Resume: one client subscribes with since_seq = 0 and takes the whole replay; the figure
// runs from sending the Subscribe to the last replayed event. In push mode the bare push
// baseline sends `count` frames of `frame_size` bytes after one request.
import { Connection } from "../connection.mjs";
import { toNumber } from "../proto.mjs";
import { peekEvent } from "../peek.mjs";
import { syntheticEvent } from "../frames.mjs";
import { nowMs, withTimeout } from "../clock.mjs";
import { mark } from "../report.mjs";

export async function run(spec) {
  const once = spec.mode === "push" ? push : replay;
  // An untimed round first, on its own connection: ten thousand frames last a tenth of a
  // second, less than our JIT needs to warm up, and a cold client would be the bottleneck.
  for (let i = 0; i < (spec.warmup_rounds ?? 1); i++) await once(spec, false);
  return once(spec, true);
}

async function replay(spec, timed) {
  const conn = await Connection.open(spec.url, { token: spec.token });
  let events = 0;
  let bytes = 0;
  let last = 0;
  let lastAt = 0;
  let replayTo = null;
  let finish;
  const done = new Promise((resolve) => {
    finish = resolve;
  });
  conn.onEvent = (event, size) => {
    events += 1;
    bytes += size;
    last = toNumber(event.seq);
    lastAt = nowMs();
    if (replayTo !== null && last >= replayTo) finish();
  };
  if (timed) mark("start");
  const started = nowMs();
  const response = await conn.call(
    "resume",
    { subscribe: { project_ids: [spec.project_id], since_seq: 0, epoch: conn.welcome.epoch } },
    spec.timeout_ms,
  );
  replayTo = toNumber(response.subscribe.replay_to_seq);
  if (last >= replayTo) finish();
  await withTimeout(done, spec.timeout_ms, `replay to seq ${replayTo}`);
  if (timed) mark("end");
  conn.close();
  const ms = lastAt - started;
  return { rate: (events / ms) * 1000, events, ms, replay_to_seq: replayTo, frame_bytes: bytes / events };
}

async function push(spec, timed) {
  const conn = await Connection.open(spec.url, { raw: true });
  const template = syntheticEvent(1, "push", spec.frame_size);
  let frames = 0;
  let lastAt = 0;
  let finish;
  const done = new Promise((resolve) => {
    finish = resolve;
  });
  conn.onFrame = (data) => {
    // Read as the server's events are, so the client does the same work for both.
    peekEvent(data);
    frames += 1;
    lastAt = nowMs();
    if (frames === spec.count) finish();
  };
  if (timed) mark("start");
  const started = nowMs();
  conn.ws.send(JSON.stringify({ count: spec.count }));
  conn.send(template);
  await withTimeout(done, spec.timeout_ms, `${spec.count} pushed frames`);
  if (timed) mark("end");
  conn.close();
  const ms = lastAt - started;
  return { rate: (frames / ms) * 1000, events: frames, ms, frame_bytes: template.length };
}
