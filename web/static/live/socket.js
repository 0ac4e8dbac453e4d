// The live socket: hello + resume from the last position, acks for durable messages,
// reconnect with back-off, and a server-clock estimate for video sync.
// Protocol: docs/protocol.md.

import { CLOSE } from "./close_codes.js";

const STORE = (sid) => `tandem.live.${sid}`;

export function newId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))].map((x) => x.toString(16).padStart(2, "0")).join("");
}

export class LiveSocket extends EventTarget {
  constructor({ sessionId, path, deviceKind }) {
    super();
    this.sessionId = sessionId;
    this.path = path;
    this.deviceKind = deviceKind;
    const saved = JSON.parse(sessionStorage.getItem(STORE(sessionId)) || "null");
    this.lastPosition = saved?.last ?? null; // survives page loads in this tab
    this.pending = new Map(); // client_event_id -> {message, resolve, reject}
    this.seq = 0;
    this.offset = 0; // server clock - local clock, seconds
    this.rtt = null;
    this.state = "connecting";
    this.replaying = false;
    this.backoff = 500;
    this.closedByUs = false;
    addEventListener("online", () => this.reconnectSoon(0));
    addEventListener("pagehide", () => this.save());
  }

  save() {
    if (this.lastPosition !== null) sessionStorage.setItem(STORE(this.sessionId), JSON.stringify({ last: this.lastPosition }));
  }

  serverNow() { return Date.now() / 1000 + this.offset; }

  setState(state, detail = "") {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, detail } }));
  }

  connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${this.path}`;
    const ws = (this.ws = new WebSocket(url));
    this.setState(this.lastPosition === null ? "connecting" : "reconnecting");
    ws.onopen = () => {
      const hello = { device_kind: this.deviceKind };
      if (this.lastPosition !== null) hello.last_position = this.lastPosition;
      this.raw({ type: "hello", payload: hello });
      this.ping();
    };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      this.receive(m);
    };
    ws.onclose = (ev) => {
      clearInterval(this.pinger);
      if (ev.code === CLOSE.SESSION_ENDED) { this.setState("ended"); this.dispatchEvent(new CustomEvent("ended")); return; }
      if (ev.code === CLOSE.UNLINKED || ev.code === CLOSE.REVOKED || ev.code === CLOSE.POLICY) { this.setState("refused", ev.reason); return; }
      if (this.closedByUs) return;
      this.setState("offline", ev.reason);
      this.reconnectSoon(this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    };
  }

  reconnectSoon(ms) {
    clearTimeout(this.retry);
    if (this.ws && this.ws.readyState <= 1) return;
    this.retry = setTimeout(() => this.connect(), ms);
  }

  raw(message) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify({ session: this.sessionId, seq: ++this.seq, ...message }));
    return true;
  }

  // Liveness + clock: a pong older than 4 s means the socket is dead (e.g. the network dropped).
  ping() {
    clearInterval(this.pinger);
    const beat = () => {
      if (this.awaitingPong && performance.now() - this.awaitingPong > 4000) { this.ws.close(); return; }
      this.pingSentAt = Date.now() / 1000;
      this.awaitingPong = this.awaitingPong || performance.now();
      this.raw({ type: "ping", payload: { t: this.pingSentAt } });
    };
    beat();
    this.pinger = setInterval(beat, 2000);
  }

  receive(m) {
    if (m.type === "pong") {
      const now = Date.now() / 1000;
      const rtt = now - m.payload.t;
      if (this.rtt === null || rtt < this.rtt * 1.5) { this.rtt = rtt; this.offset = m.ts - (m.payload.t + rtt / 2); }
      this.awaitingPong = 0;
      return;
    }
    if (m.type === "welcome") {
      this.backoff = 500;
      this.replaying = this.lastPosition !== null && m.position > this.lastPosition;
      if (this.lastPosition === null) this.lastPosition = m.position;
      this.setState("live");
      // Durable messages not yet acked are sent again with the same id (recorded once).
      for (const p of this.pending.values()) this.raw(p.message);
    } else if (m.type === "resumed") {
      this.replaying = false;
    } else if (m.type === "ack" || (m.type === "error" && m.client_event_id && this.pending.has(m.client_event_id))) {
      const p = this.pending.get(m.client_event_id);
      if (p) {
        this.pending.delete(m.client_event_id);
        m.type === "ack" ? p.resolve(m) : p.reject(Object.assign(new Error(m.payload.message), { code: m.payload.code }));
      }
    }
    if (typeof m.position === "number" && !["ack", "welcome", "resumed"].includes(m.type)) {
      if (this.lastPosition !== null && m.position <= this.lastPosition) return; // never twice
      this.lastPosition = m.position;
      this.save();
    }
    this.dispatchEvent(new CustomEvent("message", { detail: m }));
  }

  // A durable message: resolves with the ack (store position) once committed.
  durable(type, payload, { epoch } = {}) {
    const id = "w-" + newId();
    const message = { type, client_event_id: id, payload };
    if (epoch !== undefined) message.epoch = epoch;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { message, resolve, reject });
      this.raw(message); // if the socket is down it goes out on reconnect
    });
  }

  ephemeral(type, payload, { epoch } = {}) {
    const message = { type, payload };
    if (epoch !== undefined) message.epoch = epoch;
    return this.raw(message);
  }

  close() { this.closedByUs = true; this.save(); this.ws?.close(1000); }
}
