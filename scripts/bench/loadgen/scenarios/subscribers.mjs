// Fan-out receivers: `count` connections subscribed to one project (or registered with a
// bare fan-out baseline), each expecting `expected` events. Deliveries per second run from
// the first send (read from the request_id) to the last delivery.
import { peekEvent } from "../peek.mjs";
import { nowMs, withTimeout } from "../clock.mjs";
import { mark, percentiles } from "../report.mjs";
import { sentAt } from "../sendtime.mjs";
import { openAll, closeAll } from "./open.mjs";

export async function run(spec) {
  const baseline = spec.mode !== "server";
  const url = baseline ? `${spec.url}?role=sub` : spec.url;
  const conns = await openAll(url, new Array(spec.count).fill(spec.token ?? ""), {
    raw: baseline,
  });
  if (!baseline) {
    await Promise.all(
      conns.map((conn, i) =>
        conn.call(`sub-${i}`, { subscribe: { project_ids: [spec.project_id] } }, spec.timeout_ms),
      ),
    );
  }
  const expected = spec.count * spec.expected;
  const latencies = [];
  const closes = {};
  let firstSent = Infinity;
  let lastAt = 0;
  let bytes = 0;
  let finish;
  const done = new Promise((resolve) => {
    finish = resolve;
  });
  const deliver = (event, size) => {
    const now = nowMs();
    const sent = sentAt(event.request_id);
    if (sent === null) return;
    bytes += size;
    latencies.push(now - sent);
    if (sent < firstSent) firstSent = sent;
    lastAt = now;
    if (latencies.length === expected) finish();
  };
  for (const conn of conns) {
    if (baseline) conn.onFrame = (data) => deliver(peekEvent(data), data.length);
    else conn.onEvent = deliver;
    conn.onClose = (code) => {
      closes[code] = (closes[code] ?? 0) + 1;
    };
  }
  mark("ready");
  let complete = true;
  await withTimeout(done, spec.timeout_ms, `${expected} deliveries`).catch(() => {
    complete = false;
  });
  mark("end");
  const seenCloses = { ...closes };
  closeAll(conns);
  const deliveries = latencies.length;
  const ms = lastAt - firstSent;
  return {
    rate: deliveries > 0 ? (deliveries / ms) * 1000 : 0,
    deliveries,
    expected,
    complete,
    ms,
    first_sent: firstSent,
    last_at: lastAt,
    // For a caller merging several subscriber processes into one distribution.
    latencies: spec.raw_latencies ? latencies.map((x) => Math.round(x * 1000) / 1000) : undefined,
    latency: percentiles(latencies),
    frame_bytes: deliveries > 0 ? bytes / deliveries : null,
    closes: seenCloses,
  };
}
