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
// Close codes after which reconnecting cannot help: say why and stop.
const FINAL_CLOSES = new Map([
  [1000, 'left'],
  [4000, 'ended'],
  [4400, 'refused'],
  [4401, 'refused'],
  [4403, 'refused'],
  [4404, 'refused'],
  [4409, 'replaced'],
]);
// Relayed negotiation may wait for a resume; anything else sent while offline is stale by then.
const QUEUEABLE = new Set(['offer', 'answer', 'candidate', 'stage', 'admit', 'reject', 'end']);

export class SignalClient extends EventTarget {
  /** `ceremony`: the ceremony id; the role cookie the page was opened with authenticates. */
  constructor(ceremony, { url } = {}) {
    super();
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.url = url ?? `${scheme}://${location.host}/api/ceremonies/${encodeURIComponent(ceremony)}/signal`;
    this.ws = null;
    this.session = null;
    this.peer = null;
    this.role = null;
    this.admitted = false;
    this.lastSeq = 0;
    this.resumes = 0;        // how many times a dropped session was resumed
    this.state = 'idle';     // idle, connecting, live, reconnecting, closed
    this.closeCode = null;
    this.closeReason = '';
    this.heartbeat = { interval: 10, timeout: 30 };
    this._attempt = 0;
    this._retryTimer = null;
    this._watchdog = null;
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
      this._closed(event.code, event.reason);
    });
  }

  _receive(message) {
    if (typeof message.seq === 'number') {
      if (message.seq <= this.lastSeq) return;  // already seen before a resume
      this.lastSeq = message.seq;
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
      this._stopped = true;
      for (const { reject } of this._pending.values()) reject({ code: final || 'closed', reason });
      this._pending.clear();
      this._setState('closed', { code, reason, why: final || 'closed' });
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
