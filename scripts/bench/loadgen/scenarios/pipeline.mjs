// Commands kept in flight on each connection: `in_flight` CreateWorkItem per connection,
// the next sent as soon as one is answered. Timed (warm-up, then a measured window) or
// counted (`total` acknowledged, to seed a tenant). In echo mode the same frames go to the
// bare echo baseline and every frame that comes back counts as an answer.
import { createWorkItem } from "../proto.mjs";
import { nowMs, sleep, withTimeout } from "../clock.mjs";
import { mark } from "../report.mjs";
import { openAll, closeAll } from "./open.mjs";

export async function run(spec) {
  const echo = spec.mode === "echo";
  const targets = spec.connections;
  const conns = await openAll(
    spec.url,
    targets.map((t) => t.token),
    { raw: echo },
  );
  const state = { acks: 0, errors: {}, sent: 0, sending: true, closes: {} };
  let drained = null;
  const outstanding = () => state.sent - state.acks - errorCount(state);
  const total = spec.total ?? Infinity;

  conns.forEach((conn, index) => {
    const projectId = targets[index].project_id;
    let n = 0;
    const sendNext = () => {
      if (!state.sending || state.sent >= total) return;
      state.sent += 1;
      n += 1;
      conn.send(createWorkItem(`${spec.run_id}-${index}-${n}`, projectId, `bench item ${n}`));
    };
    conn.kick = () => {
      for (let i = 0; i < spec.in_flight; i++) sendNext();
    };
    const answered = () => {
      const finished = !state.sending || state.sent >= total;
      if (drained && finished && outstanding() === 0) drained();
      sendNext();
    };
    if (echo) {
      conn.onFrame = () => {
        state.acks += 1;
        answered();
      };
    } else {
      conn.onResponse = (response) => {
        if (response.result === "error") {
          const code = response.error.code;
          state.errors[code] = (state.errors[code] ?? 0) + 1;
        } else {
          state.acks += 1;
        }
        answered();
      };
    }
    conn.onClose = (code) => {
      state.closes[code] = (state.closes[code] ?? 0) + 1;
    };
  });

  // Several load-generator processes begin together (the clock is the machine's).
  if (spec.start_at_ms) await sleep(Math.max(0, spec.start_at_ms - nowMs()));
  const started = nowMs();
  mark("sending");
  for (const conn of conns) conn.kick();
  let window;
  if (Number.isFinite(total)) {
    mark("start");
    await withTimeout(
      new Promise((resolve) => {
        drained = resolve;
        if (outstanding() === 0 && state.sent >= total) resolve();
      }),
      spec.timeout_ms ?? 120000,
      `${total} commands answered`,
    );
    mark("end");
    window = { ms: nowMs() - started, acks: state.acks };
  } else {
    await sleep(spec.warmup_ms);
    const from = { t: nowMs(), acks: state.acks };
    mark("start");
    await sleep(spec.duration_ms);
    const to = { t: nowMs(), acks: state.acks };
    mark("end");
    window = { ms: to.t - from.t, acks: to.acks - from.acks };
    state.sending = false;
    // Let the server finish what is queued before the sockets close under it.
    await withTimeout(
      new Promise((resolve) => {
        drained = resolve;
        if (outstanding() === 0) resolve();
      }),
      spec.drain_ms ?? 30000,
      "outstanding commands answered",
    ).catch(() => {});
  }
  const closes = { ...state.closes };
  closeAll(conns);
  return {
    rate: (window.acks / window.ms) * 1000,
    acks: window.acks,
    window_ms: window.ms,
    sent: state.sent,
    answered: state.acks,
    errors: state.errors,
    closes,
  };
}

function errorCount(state) {
  return Object.values(state.errors).reduce((a, b) => a + b, 0);
}
