// The fan-out source. Server mode: one writer with up to `in_flight` of `total`
// CreateWorkItem outstanding. Baseline mode: `total` event frames of `frame_size` bytes
// sent open loop to the bare fan-out app, which relays each to every subscriber.
import { Connection } from "../connection.mjs";
import { createWorkItem } from "../proto.mjs";
import { syntheticEvent } from "../frames.mjs";
import { nowMs, withTimeout } from "../clock.mjs";
import { mark } from "../report.mjs";
import { stampedId } from "../sendtime.mjs";

export async function run(spec) {
  return spec.mode === "server" ? write(spec) : publish(spec);
}

async function write(spec) {
  const conn = await Connection.open(spec.url, { token: spec.token });
  let sent = 0;
  let answered = 0;
  let errors = 0;
  let finish;
  const done = new Promise((resolve) => {
    finish = resolve;
  });
  const sendNext = () => {
    if (sent >= spec.total) return;
    sent += 1;
    const id = stampedId(`${spec.run_id}-f-${sent}`, nowMs());
    conn.send(createWorkItem(id, spec.project_id, `fan-out ${sent}`));
  };
  conn.onResponse = (response) => {
    answered += 1;
    if (response.result === "error") errors += 1;
    if (answered === spec.total) finish();
    sendNext();
  };
  mark("start");
  const started = nowMs();
  for (let i = 0; i < spec.in_flight; i++) sendNext();
  await withTimeout(done, spec.timeout_ms, `${spec.total} fan-out commands answered`);
  mark("end");
  conn.close();
  return { sent, answered, errors, ms: nowMs() - started };
}

async function publish(spec) {
  const conn = await Connection.open(`${spec.url}?role=pub`, { raw: true });
  mark("start");
  const started = nowMs();
  for (let i = 1; i <= spec.total; i++) {
    conn.send(syntheticEvent(i, stampedId(`f-${i}`, nowMs()), spec.frame_size));
  }
  // Hold the socket open until the app has read every frame: closing at once could drop
  // what is still in flight.
  await withTimeout(
    new Promise((resolve) => {
      conn.onFrame = resolve;
      conn.ws.send(JSON.stringify({ done: spec.total }));
    }),
    spec.timeout_ms,
    "the fan-out app's receipt",
  );
  mark("end");
  conn.close();
  return { sent: spec.total, answered: 0, errors: 0, ms: nowMs() - started };
}
