// One WebSocket to pm-server (or to a bare baseline, in raw mode): the upgrade with the
// bearer header, the Welcome, Ping answered by Pong, responses matched by request_id.
import WebSocket from "ws";
import { decodeServer, encodeClient } from "./proto.mjs";
import { peekEvent } from "./peek.mjs";
import { withTimeout } from "./clock.mjs";

const MAX_PAYLOAD = 64 * 1024 * 1024;
const PONG = encodeClient({ pong: {} });

export class Connection {
  constructor(ws, { raw }) {
    this.ws = ws;
    this.raw = raw;
    this.welcome = null;
    this.pending = new Map();
    this.pings = 0;
    this.closeCode = null;
    // Raw mode: every frame as bytes. Server mode: events and unmatched frames.
    this.onFrame = null;
    this.onEvent = null;
    // When set, every Response goes here instead of to request()'s promises (cheaper).
    this.onResponse = null;
    this.onClose = null;
  }

  static open(url, { token = "", raw = false, timeoutMs = 15000 } = {}) {
    const ws = new WebSocket(url, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      perMessageDeflate: false,
      maxPayload: MAX_PAYLOAD,
      handshakeTimeout: timeoutMs,
    });
    ws.binaryType = "nodebuffer";
    const conn = new Connection(ws, { raw });
    const ready = new Promise((resolve, reject) => {
      conn._ready = { resolve, reject };
      ws.once("unexpected-response", (_req, res) =>
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)),
      );
      ws.once("error", reject);
      ws.once("open", () => {
        if (raw) resolve(conn);
      });
    });
    ws.on("message", (data) => conn._receive(data));
    ws.on("close", (code) => {
      conn.closeCode = code;
      const error = new Error(`connection closed (${code})`);
      conn._ready.reject(error);
      for (const { reject } of conn.pending.values()) reject(error);
      conn.pending.clear();
      if (conn.onClose) conn.onClose(code);
    });
    // An error after open is followed by close; keep it from becoming an uncaught exception.
    ws.on("error", () => {});
    return withTimeout(ready, timeoutMs, `opening ${url}`);
  }

  _receive(data) {
    if (this.raw) {
      if (this.onFrame) this.onFrame(data);
      return;
    }
    const event = peekEvent(data);
    if (event !== null) {
      if (this.onEvent) this.onEvent(event, data.length);
      return;
    }
    const message = decodeServer(data);
    switch (message.payload) {
      case "welcome":
        this.welcome = message.welcome;
        this._ready.resolve(this);
        return;
      case "ping":
        this.pings += 1;
        this.ws.send(PONG);
        return;
      case "response":
        if (this.onResponse) this.onResponse(message.response);
        else this._settle(message.response.request_id, message.response);
        return;
      case "pong":
        this._settle(message.pong.request_id, message.pong);
        return;
      default:
        if (this.onFrame) this.onFrame(data, message);
    }
  }

  _settle(requestId, value) {
    const waiter = this.pending.get(requestId);
    if (waiter === undefined) return;
    this.pending.delete(requestId);
    waiter.resolve(value);
  }

  send(bytes) {
    this.ws.send(bytes);
  }

  // Resolves with the Response (or PongReply); an Error response is resolved, not thrown.
  request(requestId, fields, timeoutMs = 60000) {
    const answer = new Promise((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject });
    });
    this.ws.send(encodeClient({ request_id: requestId, ...fields }));
    return withTimeout(answer, timeoutMs, `answer to ${requestId}`);
  }

  // The same, rejecting an Error response with its code and message.
  async call(requestId, fields, timeoutMs = 60000) {
    const response = await this.request(requestId, fields, timeoutMs);
    if (response.result === "error") {
      const { code, message } = response.error;
      throw new Error(`${Object.keys(fields)[0]} answered error ${code}: ${message}`);
    }
    return response;
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(1000);
    }
  }

  terminate() {
    this.ws.terminate();
  }
}
