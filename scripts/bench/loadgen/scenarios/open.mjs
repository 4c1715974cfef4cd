// Opening the connections a scenario needs, each with its own token (and so its tenant),
// at most `concurrency` handshakes at a time: a burst of thousands would overflow the listen
// backlog and measure SYN retries instead.
import { Connection } from "../connection.mjs";

export async function openAll(url, tokens, { raw = false, concurrency = 64 } = {}) {
  const conns = new Array(tokens.length);
  let next = 0;
  async function worker() {
    while (next < tokens.length) {
      const index = next++;
      conns[index] = await Connection.open(url, { token: tokens[index], raw });
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, worker));
  return conns;
}

export function closeAll(conns) {
  for (const conn of conns) if (conn) conn.close();
}
