// WebRTC between the media peers of a ceremony (the host and the halls), one
// RTCPeerConnection per remote peer, negotiated with the W3C "perfect
// negotiation" pattern so that either side may (re)negotiate at any time and
// glare resolves itself: the polite side rolls back its own offer (implicitly,
// by setRemoteDescription), the impolite side ignores the colliding offer.
//
// MediaRoom follows the signaling client's events: it opens a link for every
// media peer the room names (welcome, admitted, peer-joined), relays
// offer/answer/candidate to the right link, restarts ICE when a path fails or
// a peer comes back, and rebuilds everything when its own session was reset.

/** One RTCPeerConnection to one remote media peer. */
export class PeerLink extends EventTarget {
  constructor(signal, peer, { iceServers = [], stream = null } = {}) {
    super();
    this.signal = signal;
    this.peer = peer;
    // The room tells each side how to behave towards the other; exactly one side of a pair is polite.
    this.polite = Boolean(peer.polite);
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    this.restarts = 0;
    this.remoteStream = new MediaStream();
    this.pc = new RTCPeerConnection({ iceServers });
    this._chain = Promise.resolve();
    this._wire();
    this._attach(stream);
  }

  get id() {
    return this.peer.id;
  }

  get state() {
    return this.closed ? 'closed' : this.pc.connectionState;
  }

  _attach(stream) {
    const tracks = stream ? stream.getTracks() : [];
    for (const kind of ['audio', 'video']) {
      const track = tracks.find((t) => t.kind === kind);
      // With nothing to send, still ask for the other side's media.
      if (track) this.pc.addTrack(track, stream);
      else this.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
  }

  _wire() {
    const pc = this.pc;
    pc.addEventListener('negotiationneeded', async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        this._send({ type: 'offer', sdp: pc.localDescription.sdp });
      } catch (err) {
        this._problem('offer', err);
      } finally {
        this.makingOffer = false;
      }
    });
    pc.addEventListener('icecandidate', ({ candidate }) => {
      this._send({ type: 'candidate', candidate: candidate ? candidate.toJSON() : null });
    });
    pc.addEventListener('track', () => this._refreshRemote());
    pc.addEventListener('signalingstatechange', () => {
      if (pc.signalingState === 'stable') this._refreshRemote();
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed') this.restartIce();
      this._changed();
    });
  }

  /** Handle a relayed offer, answer or candidate, one at a time, in the order they came. */
  handle(message) {
    this._chain = this._chain.then(() => this._handle(message)).catch((err) => this._problem(message.type, err));
    return this._chain;
  }

  async _handle(message) {
    if (this.closed) return;
    const pc = this.pc;
    if (message.type === 'candidate') {
      try {
        if (message.candidate) await pc.addIceCandidate(message.candidate);
      } catch (err) {
        if (!this.ignoreOffer) throw err;  // candidates of an offer we ignored fail; that is expected
      }
      return;
    }
    const description = { type: message.type, sdp: message.sdp };
    const collision = description.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    await pc.setRemoteDescription(description);  // rolls back our own offer first if we are polite
    if (description.type === 'offer') {
      await pc.setLocalDescription();
      this._send({ type: 'answer', sdp: pc.localDescription.sdp });
    }
  }

  /** Ask for a new ICE session (a failed path, or the peer came back on another network). */
  restartIce() {
    if (this.closed) return;
    this.restarts += 1;
    this.pc.restartIce();  // fires negotiationneeded, and the pattern does the rest
  }

  /** Send `track` (or nothing) for its kind; starts sending where we only received so far. */
  async setTrack(kind, track, stream) {
    if (this.closed) return;
    const transceiver = this.pc.getTransceivers().find(
      (t) => !t.stopped && (t.sender.track?.kind === kind || t.receiver.track.kind === kind),
    );
    if (!transceiver) {
      if (track) this.pc.addTrack(track, stream);
      return;
    }
    await transceiver.sender.replaceTrack(track);
    if (track && stream) transceiver.sender.setStreams?.(stream);
    if (track && transceiver.direction === 'recvonly') transceiver.direction = 'sendrecv';  // renegotiates
  }

  setIceServers(iceServers) {
    if (!this.closed) this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.pc.close();
    this._changed();
  }

  // Tracks of transceivers that actually receive: an m-line the other side answered "inactive"
  // has a receiver track too, but it will never carry media.
  _refreshRemote() {
    const live = [];
    for (const t of this.pc.getTransceivers()) {
      const direction = t.currentDirection;
      if (direction === 'sendrecv' || direction === 'recvonly') live.push(t.receiver.track);
    }
    const wanted = ['video', 'audio'].map((kind) => live.find((track) => track.kind === kind)).filter(Boolean);
    const have = this.remoteStream.getTracks();
    if (wanted.length === have.length && wanted.every((t) => have.includes(t))) return;
    for (const t of have) if (!wanted.includes(t)) this.remoteStream.removeTrack(t);
    for (const t of wanted) if (!have.includes(t)) this.remoteStream.addTrack(t);
    this.dispatchEvent(new CustomEvent('tracks', { detail: this }));
  }

  _send(message) {
    if (!this.closed) this.signal.send({ ...message, to: this.peer.id });
  }

  _changed() {
    this.dispatchEvent(new CustomEvent('state', { detail: this }));
  }

  _problem(what, err) {
    if (!this.closed) console.warn(`peer ${this.peer.id}: ${what} failed`, err);
  }
}

/**
 * The set of links for one signaling client. `localStream` is a function returning (a promise of)
 * the MediaStream to send, or null; it is called once, when the first link is about to open.
 * Events: `peer` (a link was opened), `peer-gone` (closed), `change` (a link's state or tracks).
 */
export class MediaRoom extends EventTarget {
  constructor(signal, { localStream = () => null } = {}) {
    super();
    this.signal = signal;
    this.links = new Map();  // peer id -> PeerLink
    this.iceServers = [];
    this._streamSource = localStream;
    this._stream = undefined;
    this._chain = Promise.resolve();
    const follow = (type, handler) => signal.on(type, (m) => this._queue(() => handler.call(this, m)));
    follow('welcome', this._welcome);
    follow('reset', this._reset);
    follow('admitted', (m) => this._ensure(m.peers));
    follow('peer-joined', (m) => this._ensure([m.peer]));
    follow('peer-left', (m) => this._drop(m.peer));
    follow('peer-back', this._back);
    for (const type of ['offer', 'answer', 'candidate']) follow(type, this._relayed);
  }

  /** What is sent now; replaces the tracks on every open link. */
  get stream() {
    return this._stream ?? null;
  }

  async setStream(stream) {
    this._stream = stream;
    for (const link of this.links.values()) {
      for (const kind of ['audio', 'video']) {
        const track = stream?.getTracks().find((t) => t.kind === kind) ?? null;
        await link.setTrack(kind, track, stream);
      }
    }
  }

  /** Replace the track of one kind everywhere (a different camera or microphone). */
  async replaceTrack(kind, track) {
    for (const link of this.links.values()) await link.setTrack(kind, track, this._stream);
  }

  // Room events are handled strictly in order: a link must exist before its first offer is handled.
  _queue(work) {
    this._chain = this._chain.then(work).catch((err) => console.warn('media room:', err));
  }

  async _localStream() {
    if (this._stream === undefined) {
      try {
        this._stream = (await this._streamSource()) ?? null;
      } catch {
        this._stream = null;
      }
    }
    return this._stream;
  }

  _welcome(message) {
    this.iceServers = message.ice_servers ?? [];
    for (const link of this.links.values()) link.setIceServers(this.iceServers);
    if (!message.admitted) return undefined;
    const present = new Set(message.peers.map((p) => p.id));
    if (message.resumed) {
      // Links survive our own outage; a path that broke meanwhile needs a new ICE session.
      for (const link of this.links.values()) {
        if (present.has(link.id) && ['failed', 'disconnected'].includes(link.state)) link.restartIce();
      }
    }
    return this._ensure(message.peers);
  }

  _reset() {
    // A fresh session: the others already dropped their links to our old peer id.
    for (const id of [...this.links.keys()]) this._drop(id);
  }

  async _ensure(peers) {
    for (const peer of peers) {
      if (this.links.has(peer.id)) continue;
      const stream = await this._localStream();
      if (this.links.has(peer.id)) continue;
      const link = new PeerLink(this.signal, peer, { iceServers: this.iceServers, stream });
      this.links.set(peer.id, link);
      link.addEventListener('state', () => this._emit('change', link));
      link.addEventListener('tracks', () => this._emit('change', link));
      this._emit('peer', link);
    }
  }

  _drop(id) {
    const link = this.links.get(id);
    if (!link) return;
    this.links.delete(id);
    link.close();
    this._emit('peer-gone', link);
  }

  _back(message) {
    const link = this.links.get(message.peer.id);
    if (!link || link.state === 'closed') {
      if (link) this._drop(link.id);
      return this._ensure([message.peer]);
    }
    if (['failed', 'disconnected'].includes(link.state)) link.restartIce();
    return undefined;
  }

  _relayed(message) {
    // Only peers the room introduced are answered; anything else is stale (it left meanwhile).
    const link = this.links.get(message.from);
    if (link) link.handle(message);
  }

  close() {
    for (const id of [...this.links.keys()]) this._drop(id);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
