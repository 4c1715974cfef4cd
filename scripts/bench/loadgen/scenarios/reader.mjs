// The read load beside the writer: again and again, a new connection of the same tenant
// replays every event (since_seq = 0), lists every item page by page, and then (given
// spec.context_url) GETs the project's REST context as JSON and as markdown. Runs until
// the orchestrator closes our stdin (or max_ms passes).
import { Connection } from "../connection.mjs";
import { toNumber } from "../proto.mjs";
import { nowMs, withTimeout } from "../clock.mjs";
import { mark } from "../report.mjs";

export async function run(spec) {
  let stopped = false;
  process.stdin.on("end", () => {
    stopped = true;
  });
  process.stdin.resume();
  const stopAt = nowMs() + spec.max_ms;
  const totals = {
    rounds: 0,
    events: 0,
    items: 0,
    pages: 0,
    context_bytes: 0,
    replay_ms: [],
    list_ms: [],
    context_json_ms: [],
    context_markdown_ms: [],
  };
  const steps = new Set(spec.steps ?? ["replay", "list", "context_json", "context_markdown"]);
  let first = true;
  while (!stopped && nowMs() < stopAt) {
    const conn = await Connection.open(spec.url, { token: spec.token });
    try {
      if (first) mark("reading");
      first = false;
      if (steps.has("replay")) {
        const replayStarted = nowMs();
        totals.events += await replayAll(conn, spec);
        totals.replay_ms.push(nowMs() - replayStarted);
      }
      if (steps.has("list") && !stopped) {
        const listStarted = nowMs();
        const listed = await listAll(conn, spec);
        totals.list_ms.push(nowMs() - listStarted);
        totals.items += listed.items;
        totals.pages += listed.pages;
      }
      for (const form of ["json", "markdown"]) {
        if (!spec.context_url || !steps.has(`context_${form}`) || stopped) continue;
        const started = nowMs();
        const url = form === "json" ? spec.context_url : `${spec.context_url}?format=markdown`;
        totals.context_bytes += await fetchContext(url, spec);
        totals[`context_${form}_ms`].push(nowMs() - started);
      }
      totals.rounds += 1;
    } finally {
      conn.close();
    }
  }
  return totals;
}

async function replayAll(conn, spec) {
  let events = 0;
  let last = 0;
  let replayTo = null;
  let finish;
  const done = new Promise((resolve) => {
    finish = resolve;
  });
  conn.onEvent = (event) => {
    events += 1;
    last = toNumber(event.seq);
    if (replayTo !== null && last >= replayTo) finish();
  };
  const response = await conn.call(
    `replay-${nowMs()}`,
    { subscribe: { project_ids: [spec.project_id], since_seq: 0, epoch: conn.welcome.epoch } },
    spec.timeout_ms,
  );
  replayTo = toNumber(response.subscribe.replay_to_seq);
  if (last >= replayTo) finish();
  await withTimeout(done, spec.timeout_ms, `replay to seq ${replayTo}`);
  return events;
}

async function listAll(conn, spec) {
  let items = 0;
  let pages = 0;
  let token = "";
  do {
    const response = await conn.call(
      `list-${nowMs()}-${pages}`,
      {
        list_work_items: {
          project_id: spec.project_id,
          page_size: spec.page_size,
          page_token: token,
        },
      },
      spec.timeout_ms,
    );
    const page = response.list_work_items;
    items += page.work_items.length;
    pages += 1;
    token = page.next_page_token;
  } while (token);
  return { items, pages };
}

async function fetchContext(url, spec) {
  const answer = await fetch(url, {
    headers: { Authorization: `Bearer ${spec.token}` },
    signal: AbortSignal.timeout(spec.timeout_ms),
  });
  const body = await answer.arrayBuffer();
  if (answer.status !== 200) throw new Error(`GET ${url}: status ${answer.status}`);
  return body.byteLength;
}
