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
//
// Glare is handled, but avoided where it is cheap to: the newcomer offers, and
// a peer that learns of a newcomer (peer-joined) waits a moment for its offer
// and sends its own media in the answer. (When two Chromium pages did collide,
// the polite one, having rolled back an offer it was still gathering for,
// sometimes never gathered a candidate for its answer.) Whatever the cause,
// a link that does not connect in time gets a new ICE session (the watchdog).

const OFFER_GRACE_MS = 2500;  // a newcomer that has not offered by then will not: we offer
const CONNECT_TIMEOUT_MS = 8000;  // negotiated but not connected after this long: restart ICE
const MAX_CONNECT_TIMEOUT_MS = 60_000;

/** One RTCPeerConnection to one remote media peer. */
export class PeerLink extends EventTarget {
  /**
   * `offer`: we are the newcomer, so we send our media and offer at once; otherwise we wait for
   * the other side's offer (for OFFER_GRACE_MS) and put our media in the answer.
   */
  constructor(signal, peer, { iceServers = [], stream = null, offer = true } = {}) {
    super();
    this.signal = signal;
    this.peer = peer;
    // `peer.polite` says whether *that* peer is the polite one of the pair (docs/signaling.md: the
    // greater id is polite); exactly one side is, so we are polite exactly when it is not.
    this.polite = !peer.polite;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    this.restarts = 0;
    // What went each way, for diagnosing a hall on the day (and for tests).
    this.counts = {
      offersSent: 0, answersSent: 0, candidatesSent: 0, offersReceived: 0, answersReceived: 0, candidatesReceived: 0,
    };
    this.remoteStream = new MediaStream();
    this.pc = new RTCPeerConnection({ iceServers });
    this._chain = Promise.resolve();
    this._stream = stream;
    this._attached = false;
    this._patience = CONNECT_TIMEOUT_MS * (this.polite ? 1 : 1.75);  // the polite side restarts first
    this._watchdog = null;
    this._grace = null;
    this._wire();
    if (offer) this._attach();
    else this._grace = setTimeout(() => this._attach(), OFFER_GRACE_MS);
  }

  get id() {
    return this.peer.id;
  }

  get state() {
    return this.closed ? 'closed' : this.pc.connectionState;
  }

  // Our media on new transceivers (which makes us offer), for each kind not attached yet.
  _attach() {
    clearTimeout(this._grace);
    if (this._attached || this.closed) return;
    this._attached = true;
    const stream = this._stream;
    const tracks = stream ? stream.getTracks() : [];
    for (const kind of ['audio', 'video']) {
      if (this._transceiver(kind)) continue;
      const track = tracks.find((t) => t.kind === kind);
      // With nothing to send, still ask for the other side's media.
      if (track) this.pc.addTrack(track, stream);
      else this.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
  }

  // Answering the first offer before we attached: our media goes on the transceivers the offer
  // made, so the answer carries it (no second round of negotiation).
  async _attachToOffer() {
    clearTimeout(this._grace);
    if (this._attached) return;
    const stream = this._stream;
    for (const kind of ['audio', 'video']) {
      const track = stream?.getTracks().find((t) => t.kind === kind);
      const transceiver = this._transceiver(kind);
      if (!track || !transceiver) continue;
      await transceiver.sender.replaceTrack(track);
      transceiver.sender.setStreams?.(stream);
      transceiver.direction = 'sendrecv';
    }
    this._attach();  // kinds the offer lacked get transceivers of their own (a later round)
  }

  _transceiver(kind) {
    return this.pc.getTransceivers().find(
      (t) => !t.stopped && (t.sender.track?.kind === kind || t.receiver.track.kind === kind),
    );
  }

  _wire() {
    const pc = this.pc;
    pc.addEventListener('negotiationneeded', async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        // Usually an offer; an answer if a remote offer was applied meanwhile: send what it is.
        this._send({ type: pc.localDescription.type, sdp: pc.localDescription.sdp });
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
      this._watch();
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected') this._patience = CONNECT_TIMEOUT_MS * (this.polite ? 1 : 1.75);
      if (pc.connectionState === 'failed') this.restartIce();
      this._watch();
      this._changed();
    });
  }

  // Negotiating or negotiated but not connected (an offer never answered, gathering that never
  // finished, a path that never came up or did not come back): start over with a new ICE
  // session, waiting longer each time.
  _watch() {
    clearTimeout(this._watchdog);
    const pc = this.pc;
    const started = pc.remoteDescription || pc.signalingState === 'have-local-offer';
    if (this.closed || pc.connectionState === 'connected' || !started) return;
    this._watchdog = setTimeout(async () => {
      if (this.closed || pc.connectionState === 'connected') return;
      this._patience = Math.min(MAX_CONNECT_TIMEOUT_MS, this._patience * 2);
      if (pc.signalingState === 'have-local-offer') {
        try {
          await pc.setLocalDescription({ type: 'rollback' });  // the answer is not coming
        } catch (err) {
          this._problem('rollback', err);
        }
      }
      if (pc.signalingState === 'stable') this.restartIce();
      else this._watch();
    }, this._patience);
  }

  /** Handle a relayed offer, answer or candidate, one at a time, in the order they came. */
  handle(message, { reopen = true } = {}) {
    this._chain = this._chain.then(() => this._handle(message)).catch((err) => {
      this._problem(message.type, err);
      // An offer this connection cannot take (say, the other side started over with new DTLS
      // keys after losing its connection): the room answers it from a new connection instead.
      if (reopen && message.type === 'offer' && !this.closed) this.dispatchEvent(new CustomEvent('broken', { detail: message }));
    });
    return this._chain;
  }

  async _handle(message) {
    if (this.closed) return;
    const pc = this.pc;
    const counter = { offer: 'offersReceived', answer: 'answersReceived', candidate: 'candidatesReceived' }[message.type];
    this.counts[counter] += 1;
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
      await this._attachToOffer();
      await pc.setLocalDescription();
      this._send({ type: pc.localDescription.type, sdp: pc.localDescription.sdp });
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
    if (stream) this._stream = stream;
    if (!this._attached) return;  // still waiting for the first offer: the answer will carry it
    const transceiver = this._transceiver(kind);
    if (!transceiver) {
      if (track) this.pc.addTrack(track, stream);
      return;
    }
    await transceiver.sender.replaceTrack(track);
    if (track && stream) transceiver.sender.setStreams?.(stream);
    if (track && transceiver.direction === 'recvonly') transceiver.direction = 'sendrecv';  // renegotiates
  }

  /**
   * What reaches us from this peer so far, as running totals (the tile turns them into rates):
   * the decoded picture (size, frames), packets received and lost (audio and video), audio energy
   * (the speaking indicator), and the round trip of the path in use (ms), from one getStats().
   */
  async stats() {
    const totals = {
      width: 0, height: 0, framesDecoded: 0, fps: null, packetsReceived: 0, packetsLost: 0,
      audioEnergy: 0, audioDuration: 0, audioLevel: null, rttMs: null,
    };
    if (this.closed) return totals;
    let report;
    try {
      report = await this.pc.getStats();
    } catch {
      return totals;
    }
    report.forEach((r) => {
      if (r.type === 'inbound-rtp') {
        totals.packetsReceived += r.packetsReceived || 0;
        totals.packetsLost += Math.max(0, r.packetsLost || 0);
        if (r.kind === 'video') {
          totals.framesDecoded += r.framesDecoded || 0;
          if (r.frameWidth) {
            totals.width = r.frameWidth;
            totals.height = r.frameHeight;
          }
          if (typeof r.framesPerSecond === 'number') totals.fps = r.framesPerSecond;
        } else if (r.kind === 'audio') {
          totals.audioEnergy += r.totalAudioEnergy || 0;
          totals.audioDuration += r.totalSamplesDuration || 0;
          if (typeof r.audioLevel === 'number') totals.audioLevel = r.audioLevel;
        }
      } else if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') {
        if (typeof r.currentRoundTripTime === 'number') totals.rttMs = Math.round(r.currentRoundTripTime * 1000);
      }
    });
    return totals;
  }

  setIceServers(iceServers) {
    if (!this.closed) this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this._grace);
    clearTimeout(this._watchdog);
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
    if (this.closed) return;
    const counter = { offer: 'offersSent', answer: 'answersSent', candidate: 'candidatesSent' }[message.type];
    this.counts[counter] += 1;
    this.signal.send({ ...message, to: this.peer.id });
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
  constructor(signal, { localStream = () => null, localState = null } = {}) {
    super();
    // `localState()`: {audio, video}, whether our microphone and camera are on (the page's own
    // stream may differ from what the links send while a device is being switched).
    this._localState = localState ?? (() => trackState(this._stream));
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
    follow('peer-joined', (m) => this._ensure([m.peer], { offer: false }));  // the newcomer offers
    follow('peer-left', (m) => this._drop(m.peer));
    follow('peer-back', this._back);
    follow('media', this._remoteMedia);
    // Our own microphone/camera state, said again on every welcome (a new session starts unknown).
    signal.on('welcome', () => this.announce());
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
    if (message.resumed) {
      // Links survive our own outage; a path that broke meanwhile needs a new ICE session. Who
      // came or went meanwhile is in the replay that follows (peer-joined, their offers, peer-left).
      const present = new Set(message.peers.map((p) => p.id));
      for (const link of this.links.values()) {
        if (present.has(link.id) && ['failed', 'disconnected'].includes(link.state)) link.restartIce();
      }
      return undefined;
    }
    return this._ensure(message.peers);  // we are the newcomer: we offer
  }

  _reset() {
    // A fresh session: the others already dropped their links to our old peer id.
    for (const id of [...this.links.keys()]) this._drop(id);
  }

  async _ensure(peers, { offer = true } = {}) {
    for (const peer of peers) {
      if (this.links.has(peer.id)) continue;
      const stream = await this._localStream();
      if (this.links.has(peer.id)) continue;
      this._open(peer, stream, offer);
    }
  }

  _open(peer, stream, offer) {
    const link = new PeerLink(this.signal, peer, { iceServers: this.iceServers, stream, offer });
    this.links.set(peer.id, link);
    link.addEventListener('state', () => this._emit('change', link));
    link.addEventListener('tracks', () => this._emit('change', link));
    link.addEventListener('broken', ({ detail: offer }) => this._queue(() => this._reopen(link, offer)));
    this._emit('peer', link);
    return link;
  }

  _reopen(link, offer) {
    if (this.links.get(link.id) !== link) return;
    this._drop(link.id);
    this._open(link.peer, this._stream ?? null, false).handle(offer, { reopen: false });  // once: a bad offer stays bad
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
    if (link && message.peer.media) {
      link.peer = { ...link.peer, media: message.peer.media };
      link.dispatchEvent(new CustomEvent('media', { detail: link }));
    }
    if (!link || link.state === 'closed') {
      if (link) this._drop(link.id);
      return this._ensure([message.peer]);
    }
    if (['failed', 'disconnected'].includes(link.state)) link.restartIce();
    return undefined;
  }

  /** Tell the other media peers whether our microphone and camera are on (docs/signaling.md). */
  announce() {
    const { audio, video } = this._localState();
    this.signal.send({ type: 'media', audio: !!audio, video: !!video });
  }

  _remoteMedia(message) {
    const link = this.links.get(message.from);
    if (!link) return;
    link.peer = { ...link.peer, media: { audio: message.audio, video: message.video } };
    link.dispatchEvent(new CustomEvent('media', { detail: link }));
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

/** Whether a stream's microphone and camera are on: a live, enabled track of the kind. */
export function trackState(stream) {
  const on = (tracks) => tracks.some((t) => t.enabled && t.readyState === 'live');
  return { audio: stream ? on(stream.getAudioTracks()) : false, video: stream ? on(stream.getVideoTracks()) : false };
}
