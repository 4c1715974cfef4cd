// What the orchestrator reads on stdout: one JSON object per line. A mark tells it to sample
// the server's and our own CPU and memory at that moment; the last line is the result.
import { nowMs } from "./clock.mjs";

export function mark(name, extra = {}) {
  // Our own CPU to the microsecond (all threads): /proc counts in 10 ms ticks, too coarse
  // for a replay that lasts a tenth of a second.
  const { user, system } = process.cpuUsage();
  const line = { mark: name, t: nowMs(), cpu_s: (user + system) / 1e6, ...extra };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// Both resolve once the line has left: a pipe's write is asynchronous past its 64 KiB
// buffer, and exiting before then would cut a large result short.
export function result(value) {
  return flushed(`${JSON.stringify({ result: value })}\n`);
}

export function failure(error) {
  return flushed(`${JSON.stringify({ error: String(error?.stack ?? error) })}\n`);
}

function flushed(line) {
  return new Promise((resolve) => process.stdout.write(line, () => resolve()));
}

// Nearest-rank percentiles of a list of milliseconds (sorted in place).
export function percentiles(values) {
  if (values.length === 0) return { count: 0, p50: null, p99: null, max: null };
  values.sort((a, b) => a - b);
  const rank = (p) => values[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)];
  return { count: values.length, p50: rank(50), p99: rank(99), max: values[values.length - 1] };
}
