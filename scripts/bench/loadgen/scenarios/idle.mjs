// Idle connections: `count` authenticated connections, each subscribed to one project (or,
// against the bare echo, each having sent one frame and had it back), held open while the
// server's Pings come and are answered. The orchestrator reads the server's RSS at the
// "begin" and "measure" marks.
import { encodeClient } from "../proto.mjs";
import { sleep, withTimeout } from "../clock.mjs";
import { mark } from "../report.mjs";
import { openAll, closeAll } from "./open.mjs";

export async function run(spec) {
  const echo = spec.mode === "echo";
  // Let the server settle after the seed's connection before its RSS is read.
  await sleep(spec.settle_ms);
  mark("begin");
  const conns = await openAll(spec.url, new Array(spec.count).fill(spec.token ?? ""), {
    raw: echo,
    concurrency: spec.concurrency,
  });
  const closes = {};
  await Promise.all(
    conns.map((conn, i) => {
      conn.onClose = (code) => {
        closes[code] = (closes[code] ?? 0) + 1;
      };
      const subscribe = { subscribe: { project_ids: [spec.project_id] } };
      if (!echo) return conn.call(`idle-${i}`, subscribe, spec.timeout_ms);
      return withTimeout(
        new Promise((resolve) => {
          conn.onFrame = resolve;
          conn.send(encodeClient({ request_id: `idle-${i}`, ...subscribe }));
        }),
        spec.timeout_ms,
        "echo of the subscribe frame",
      );
    }),
  );
  mark("connected", { count: conns.length });
  await sleep(spec.hold_ms);
  mark("measure");
  // Give the orchestrator time to read /proc before the sockets go.
  await sleep(500);
  const pings = conns.reduce((sum, conn) => sum + conn.pings, 0);
  const open = conns.filter((conn) => conn.closeCode === null).length;
  const seenCloses = { ...closes };
  closeAll(conns);
  return { connections: conns.length, open, pings, closes: seenCloses };
}
