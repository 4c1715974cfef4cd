// node main.mjs <scenario> <spec.json>: runs one load scenario and prints marks and a result
// as JSON lines (see report.mjs). A hard deadline turns a hang into an error line.
import { readFileSync } from "node:fs";
import { failure, result } from "./report.mjs";

const SCENARIOS = {
  projects: "./scenarios/projects.mjs",
  pipeline: "./scenarios/pipeline.mjs",
  replay: "./scenarios/replay.mjs",
  writer: "./scenarios/writer.mjs",
  reader: "./scenarios/reader.mjs",
  subscribers: "./scenarios/subscribers.mjs",
  publisher: "./scenarios/publisher.mjs",
  idle: "./scenarios/idle.mjs",
};

async function main() {
  const [name, specPath] = process.argv.slice(2);
  if (!(name in SCENARIOS) || !specPath) {
    throw new Error(`usage: main.mjs {${Object.keys(SCENARIOS).join("|")}} SPEC.json`);
  }
  const spec = JSON.parse(readFileSync(specPath, "utf8"));
  const deadline = setTimeout(async () => {
    await failure(new Error(`${name}: deadline of ${spec.deadline_ms} ms passed`));
    process.exit(3);
  }, spec.deadline_ms ?? 120000);
  const { run } = await import(SCENARIOS[name]);
  const value = await run(spec);
  clearTimeout(deadline);
  await result(value);
}

main().then(
  () => process.exit(0),
  async (error) => {
    await failure(error);
    process.exit(1);
  },
);
