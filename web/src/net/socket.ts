// The one binary WebSocket of pm.v1: connect with the token as a subprotocol, answer the
// server's Ping, match Responses to requests by request_id, reconnect with exponential
// backoff. Requests outlive a drop: after the next Welcome (and the session's resume) each
// unanswered one is sent again with the same request_id, which the server deduplicates.

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ClientMessageSchema,
  ServerMessageSchema,
  type ClientMessage,
  type Event,
  type Response,
} from "../gen/pm/v1/envelope_pb";
import { PongSchema, type PresenceUpdate, type Welcome } from "../gen/pm/v1/session_pb";
import { requestId } from "../util/ids";

export type ConnState = "connecting" | "online" | "offline";
export type Payload = Exclude<ClientMessage["payload"], { case: undefined }>;

/** What the session wants after a close. */
export type CloseDecision = "reconnect" | "stop";

export interface SocketHooks {
  url(): string;
  token(): string | null;
  /** After Welcome and before queued requests go out: resubscribe (with `sendNow`). */
  onWelcome(welcome: Welcome): Promise<void>;
  onEvent(event: Event): void;
  onPresence(update: PresenceUpdate): void;
  onState(state: ConnState, detail: string): void;
  /** `opened`: whether this connection got as far as a Welcome. */
  onClosed(code: number, reason: string, opened: boolean): CloseDecision;
}

export class Disconnected extends Error {
  constructor() {
    super("the connection closed before the answer came");
  }
}

interface PendingRequest {
  frame: Uint8Array;
  resolve: (response: Response) => void;
  reject: (error: Error) => void;
  /** Send again after a reconnect (false: reject on a drop). */
  resend: boolean;
  /** Waits for the session's resume before going out. */
  gated: boolean;
  sent: boolean;
}

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
const OPEN_TIMEOUT_MS = 10_000;

export class Socket {
  welcome: Welcome | null = null;
  private ws: WebSocket | null = null;
  private ready = false;
  private stopped = true;
  private attempt = 0;
  private retryTimer: number | undefined;
  private watchdog: number | undefined;
  private silenceLimitMs = OPEN_TIMEOUT_MS;
  private readonly pending = new Map<string, PendingRequest>();
  private state: ConnState = "offline";

  constructor(private readonly hooks: SocketHooks) {
    window.addEventListener("online", () => {
      if (!this.stopped && !this.ws) this.reconnectNow();
    });
  }

  get online(): boolean {
    return this.ready;
  }

  start(): void {
    this.stopped = false;
    if (!this.ws) this.connect();
  }

  /** Closes for good (sign-out); unanswered requests fail. */
  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.abandon(1000, "signed out");
    for (const [rid, request] of this.pending) {
      this.pending.delete(rid);
      request.reject(new Disconnected());
    }
    this.setState("offline", "signed out");
  }

  /** Skips the backoff wait (a new token, the network came back). */
  reconnectNow(): void {
    if (this.stopped) this.stopped = false;
    window.clearTimeout(this.retryTimer);
    if (this.ws) this.abandon(4000, "reconnecting");
    this.attempt = 0;
    this.connect();
  }

  /** A command; resolves with its Response (an Error result included), whenever it comes. */
  request(payload: Payload, options: { rid?: string; resend?: boolean } = {}): Promise<Response> {
    return this.enqueue(payload, options.rid ?? requestId(payload.case), options.resend ?? true, true);
  }

  /** For the session's resume: goes out now, ahead of the queued requests. */
  sendNow(payload: Payload): Promise<Response> {
    return this.enqueue(payload, requestId(payload.case), false, false);
  }

  private enqueue(payload: Payload, rid: string, resend: boolean, gated: boolean): Promise<Response> {
    const message = create(ClientMessageSchema, { requestId: rid, payload } as never);
    const frame = toBinary(ClientMessageSchema, message);
    return new Promise<Response>((resolve, reject) => {
      const request: PendingRequest = { frame, resolve, reject, resend, gated, sent: false };
      this.pending.set(rid, request);
      if (this.ws && this.ws.readyState === WebSocket.OPEN && (this.ready || !gated)) {
        this.transmit(request);
      } else if (!resend) {
        if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
          this.pending.delete(rid);
          reject(new Disconnected());
        }
      }
    });
  }

  private transmit(request: PendingRequest): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    request.sent = true;
    this.ws.send(request.frame);
  }

  private connect(): void {
    const token = this.hooks.token();
    if (!token || this.stopped) return;
    this.setState("connecting", this.attempt ? `attempt ${this.attempt + 1}` : "");
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.hooks.url(), ["pm.v1", "bearer." + token]);
    } catch {
      this.scheduleRetry();
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.welcome = null;
    this.silenceLimitMs = OPEN_TIMEOUT_MS;
    this.armWatchdog();
    ws.onmessage = (message) => this.onFrame(message.data);
    ws.onclose = (close) => {
      if (this.ws === ws) this.closed(close.code, close.reason);
    };
    ws.onerror = () => {
      // A close follows; the browser already reports the failure itself.
    };
  }

  private onFrame(data: unknown): void {
    this.armWatchdog();
    if (!(data instanceof ArrayBuffer)) return;
    let message;
    try {
      message = fromBinary(ServerMessageSchema, new Uint8Array(data));
    } catch {
      return;
    }
    const payload = message.payload;
    switch (payload.case) {
      case "welcome":
        void this.welcomed(payload.value);
        break;
      case "response": {
        const request = this.pending.get(payload.value.requestId);
        if (request) {
          this.pending.delete(payload.value.requestId);
          request.resolve(payload.value);
        }
        break;
      }
      case "event":
        this.hooks.onEvent(payload.value);
        break;
      case "presence":
        this.hooks.onPresence(payload.value);
        break;
      case "ping":
        this.sendPong();
        break;
      default:
        break;
    }
  }

  private sendPong(): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const message = create(ClientMessageSchema, {
      requestId: requestId("pong"),
      payload: { case: "pong", value: create(PongSchema) },
    });
    this.ws.send(toBinary(ClientMessageSchema, message));
  }

  private async welcomed(welcome: Welcome): Promise<void> {
    const ws = this.ws;
    this.welcome = welcome;
    const interval = Number(welcome.heartbeatIntervalMs) || 15_000;
    const timeout = Number(welcome.heartbeatTimeoutMs) || interval * 2;
    this.silenceLimitMs = Math.max(timeout, interval) + 5_000;
    this.armWatchdog();
    try {
      await this.hooks.onWelcome(welcome);
    } catch {
      // The resume failed (the server unreachable over REST, say): start over, backing off.
      if (this.ws === ws && ws) {
        this.abandon(4000, "resume failed");
        this.closed(4000, "resume failed");
      }
      return;
    }
    if (this.ws !== ws || !ws || ws.readyState !== WebSocket.OPEN) return;
    this.ready = true;
    this.attempt = 0;
    this.setState("online", "");
    for (const request of this.pending.values()) {
      if (!request.sent) this.transmit(request);
    }
  }

  private armWatchdog(): void {
    window.clearTimeout(this.watchdog);
    if (!this.ws) return;
    const ws = this.ws;
    this.watchdog = window.setTimeout(() => {
      // Nothing heard for longer than the server's heartbeat allows: the link is dead even
      // if the browser has not noticed.
      if (this.ws === ws) {
        this.abandon(4000, "no heartbeat");
        this.closed(4000, "no heartbeat");
      }
    }, this.silenceLimitMs);
  }

  /** Drops the current socket without waiting for its closing handshake. */
  private abandon(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    window.clearTimeout(this.watchdog);
    if (!ws) return;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
    try {
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  private closed(code: number, reason: string): void {
    const opened = this.welcome !== null;
    this.ws = null;
    this.ready = false;
    window.clearTimeout(this.watchdog);
    for (const [rid, request] of this.pending) {
      if (request.resend) request.sent = false;
      else {
        this.pending.delete(rid);
        request.reject(new Disconnected());
      }
    }
    if (this.stopped) return;
    const decision = this.hooks.onClosed(code, reason, opened);
    if (decision === "stop") {
      this.stopped = true;
      this.setState("offline", reason || `closed (${code})`);
      return;
    }
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    window.clearTimeout(this.retryTimer);
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt += 1;
    this.setState("offline", `reconnecting in ${Math.ceil(delay / 1000)}s`);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  private setState(state: ConnState, detail: string): void {
    this.state = state;
    this.hooks.onState(state, detail);
  }

  get connectionState(): ConnState {
    return this.state;
  }
}
