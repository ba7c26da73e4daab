// The signaling client (docs/signaling.md): one WebSocket to the ceremony's room.
//
// It says hello, remembers its session and the last sequence number it saw,
// answers the server's pings, and when the socket drops it reconnects with
// exponential backoff and asks to resume, so that nothing addressed to it is
// lost. Everything the server says is re-emitted as a DOM event named after the
// message type (`welcome`, `offer`, `ceremony`, ...); `status` events describe
// the connection itself.

const CLIENT = { name: 'ceremony-web', version: '1' };
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15_000;
// Close codes after which reconnecting cannot help: say why and stop. (1000 is not among them:
// the server sends it only after our own `leave`, and then we have stopped already.)
const FINAL_CLOSES = new Map([
  [4000, 'ended'],
  [4400, 'refused'],
  [4401, 'refused'],
  [4403, 'refused'],
  [4404, 'refused'],
  [4409, 'replaced'],
]);
const GAP_MS = 1500;  // a hole in the sequence numbers not filled by then was lost: resume to get it
// Relayed negotiation may wait for a resume; anything else sent while offline is stale by then.
const QUEUEABLE = new Set(['offer', 'answer', 'candidate', 'segment', 'admit', 'reject', 'end']);

export class SignalClient extends EventTarget {
  /** `ceremony`: the ceremony id; the role cookie the page was opened with authenticates. */
  constructor(ceremony, { url, role } = {}) {
    super();
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    // `role` picks which of this browser's links to join with (one may hold a host and a venue link).
    const query = role ? `?role=${encodeURIComponent(role)}` : '';
    this.url = url ?? `${scheme}://${location.host}/api/ceremonies/${encodeURIComponent(ceremony)}/signal${query}`;
    this.ws = null;
    this.session = null;
    this.peer = null;
    this.role = null;
    this.admitted = false;
    this.lastSeq = 0;        // every message up to this one has been seen: what a resume asks after
    this._ahead = new Set(); // seen, but after a hole in the sequence
    this.resumes = 0;        // how many times a dropped session was resumed
    this.state = 'idle';     // idle, connecting, live, reconnecting, closed
    this.closeCode = null;
    this.closeReason = '';
    this.heartbeat = { interval: 10, timeout: 30 };
    this._attempt = 0;
    this._retryTimer = null;
    this._watchdog = null;
    this._gapTimer = null;
    this._lastHeard = 0;
    this._outbox = [];
    this._pending = new Map();  // ref -> {resolve, reject}
    this._refs = 0;
    this._stopped = false;
  }

  /** Connect (once); later drops reconnect by themselves until close() or a final close code. */
  start() {
    if (this.ws || this._stopped) return this;
    this._connect();
    return this;
  }

  /** Listen to one message type (or `status`); returns a function that stops listening. */
  on(type, handler) {
    const listener = (event) => handler(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /** Send a message now, or after the resume if the socket is down (negotiation and host commands only). */
  send(message) {
    if (this.state === 'live' && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    if (!this._stopped && QUEUEABLE.has(message.type)) {
      this._outbox.push(message);
      return true;
    }
    return false;
  }

  /** Send a host command and wait for its `ack` (resolves) or `error` (rejects with {code, reason}). */
  request(message) {
    this._refs += 1;
    const ref = `r${this._refs}`;
    return new Promise((resolve, reject) => {
      this._pending.set(ref, { resolve, reject });
      if (!this.send({ ...message, ref })) {
        this._pending.delete(ref);
        reject({ code: 'offline', reason: 'not connected' });
      }
    });
  }

  /** Leave the room for good (peers are told at once). */
  leave() {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'leave' }));
    this.close();
  }

  /** Stop without telling the room: the session stays resumable for a while on the server. */
  close() {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    clearTimeout(this._gapTimer);
    clearInterval(this._watchdog);
    if (this.ws) this.ws.close();
    this._setState('closed');
  }

  // ---- internals ----

  _connect() {
    clearTimeout(this._retryTimer);
    this._setState(this.session ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      const hello = { type: 'hello', client: CLIENT };
      if (this.session) hello.resume = { session: this.session, last_seq: this.lastSeq };
      ws.send(JSON.stringify(hello));
      this._heard();
    });
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws) return;
      this._heard();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && typeof message.type === 'string') this._receive(message);
    });
    ws.addEventListener('close', (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearInterval(this._watchdog);
      clearTimeout(this._gapTimer);
      this._closed(event.code, event.reason);
    });
  }

  _receive(message) {
    if (typeof message.seq === 'number') {
      if (!this._firstTime(message.seq)) return;  // already seen (replayed after a resume)
    }
    switch (message.type) {
      case 'welcome':
        this._welcome(message);
        break;
      case 'ping':
        this.ws?.send(JSON.stringify({ type: 'pong', nonce: message.nonce }));
        break;
      case 'admitted':
        this.admitted = true;
        break;
      case 'ack':
      case 'error':
        this._settle(message);
        break;
      default:
        break;
    }
    this._emit(message.type, message);
  }

  _welcome(message) {
    const fresh = !message.resumed;
    const hadSession = this.session !== null;
    if (message.resumed) this.resumes += 1;
    if (fresh) {
      this.lastSeq = 0;
      this._ahead.clear();
      this._outbox = [];  // addressed to a session that no longer exists
      for (const { reject } of this._pending.values()) reject({ code: 'reset', reason: 'session reset' });
      this._pending.clear();
    }
    this.session = message.session;
    this.peer = message.peer;
    this.role = message.role;
    this.admitted = message.admitted;
    this.heartbeat = message.heartbeat ?? this.heartbeat;
    this._attempt = 0;
    this.closeCode = null;
    this.closeReason = '';
    this._startWatchdog();
    this._setState('live');
    if (fresh && hadSession) this._emit('reset', message);
    // After the welcome (and its listeners) so queued negotiation follows what the room now knows.
    queueMicrotask(() => this._flush());
  }

  // Count each seq once, and ask a resume for everything after the first hole, so that nothing
  // is lost even if the server ever delivered one session's messages out of order.
  _firstTime(seq) {
    if (seq <= this.lastSeq || this._ahead.has(seq)) return false;
    this._ahead.add(seq);
    while (this._ahead.has(this.lastSeq + 1)) {
      this.lastSeq += 1;
      this._ahead.delete(this.lastSeq);
    }
    clearTimeout(this._gapTimer);
    // A gap that does not fill itself soon was lost on the way: a resume has it re-sent.
    if (this._ahead.size) this._gapTimer = setTimeout(() => this.ws?.close(), GAP_MS);
    return true;
  }

  _flush() {
    const queued = this._outbox;
    this._outbox = [];
    for (const message of queued) this.send(message);
  }

  _settle(message) {
    const waiting = message.ref ? this._pending.get(message.ref) : undefined;
    if (!waiting) return;
    this._pending.delete(message.ref);
    if (message.type === 'ack') waiting.resolve(message);
    else waiting.reject(message);
  }

  _heard() {
    this._lastHeard = performance.now();
  }

  _startWatchdog() {
    clearInterval(this._watchdog);
    // The server pings every `interval`; silence past `timeout` means a half-open socket.
    const timeoutMs = (this.heartbeat.timeout || 30) * 1000;
    this._watchdog = setInterval(() => {
      if (performance.now() - this._lastHeard > timeoutMs) this.ws?.close();
    }, Math.min(5000, timeoutMs / 3));
  }

  _closed(code, reason) {
    this.closeCode = code;
    this.closeReason = reason || '';
    const final = FINAL_CLOSES.get(code);
    if (final || this._stopped) {
      const why = final || 'left';  // not final: we closed it ourselves
      this._stopped = true;
      for (const { reject } of this._pending.values()) reject({ code: why, reason });
      this._pending.clear();
      this._setState('closed', { code, reason, why });
      return;
    }
    this._scheduleRetry();
  }

  _scheduleRetry() {
    // 0.5 s, 1 s, 2 s ... 15 s, each with up to a third of jitter so two halls don't retry in step.
    const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this._attempt);
    const delay = base * (1 - Math.random() / 3);
    this._attempt += 1;
    this._setState(this.session ? 'reconnecting' : 'connecting', { retryIn: delay });
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _setState(state, extra = {}) {
    this.state = state;
    this._emit('status', { state, code: this.closeCode, reason: this.closeReason, ...extra });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
