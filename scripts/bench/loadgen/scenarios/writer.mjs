// One writer, one command in flight, `rate_hz` commands a second on a fixed schedule.
// A command that could not go out on time because the one before was still unanswered is
// timed from when it was due: a stall behind a read delays every command due meanwhile,
// and counting only the stuck one would hide that (coordinated omission). One held back
// only by our own timer is timed from when it went out. The plain send-to-answer figure
// is reported beside it.
import { Connection } from "../connection.mjs";
import { WorkItemType } from "../proto.mjs";
import { nowMs, sleep } from "../clock.mjs";
import { mark, percentiles } from "../report.mjs";

export async function run(spec) {
  const conn = await Connection.open(spec.url, { token: spec.token });
  const interval = 1000 / spec.rate_hz;
  const scheduled = [];
  const service = [];
  let errors = 0;
  let n = 0;
  const begin = nowMs();
  const measureFrom = begin + spec.warmup_ms;
  const stopAt = measureFrom + spec.duration_ms;
  let marked = false;
  let previousAnswer = 0;
  for (let due = begin; due < stopAt; due += interval) {
    const wait = due - nowMs();
    if (wait > 0) await sleep(wait);
    if (!marked && due >= measureFrom) {
      mark("start");
      marked = true;
    }
    n += 1;
    const requestId = `${spec.run_id}-w-${n}`;
    const sent = nowMs();
    const response = await conn.request(
      requestId,
      { create_work_item: { project_id: spec.project_id, type: WorkItemType.WORK_ITEM_TYPE_TASK, title: `write ${n}` } },
      spec.timeout_ms,
    );
    const answered = nowMs();
    const from = previousAnswer > due ? due : sent;
    previousAnswer = answered;
    if (response.result === "error") errors += 1;
    if (due >= measureFrom) {
      scheduled.push(answered - from);
      service.push(answered - sent);
    }
  }
  mark("end");
  conn.close();
  return { latency: percentiles(scheduled), service: percentiles(service), errors, sent: n };
}

