// One project per token (so per tenant): the seed every server scenario starts from.
import { openAll, closeAll } from "./open.mjs";

export async function run(spec) {
  const conns = await openAll(spec.url, spec.tokens);
  try {
    const ids = await Promise.all(
      conns.map(async (conn, i) => {
        const key = `${spec.key_prefix ?? "B"}${i}`;
        const response = await conn.call(`project-${spec.run_id}-${i}`, {
          create_project: { key, name: `Bench ${key}` },
        });
        return response.create_project.project.id;
      }),
    );
    return { project_ids: ids, current_seq: conns.map((c) => Number(c.welcome.current_seq)) };
  } finally {
    closeAll(conns);
  }
}
