// What the venue screen and the host console share around live media: getting the
// camera, video tiles for remote peers, device pickers, mute buttons, indicators.

/** Camera and microphone (optionally particular devices); rejects if the browser refuses. */
export async function openCamera({ video = true, audio = true } = {}) {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('no media devices (an insecure page?)');
  return navigator.mediaDevices.getUserMedia({
    audio: audio === true ? { echoCancellation: true, noiseSuppression: true } : audio,
    video: video === true ? { width: { ideal: 1280 }, height: { ideal: 720 } } : video,
  });
}

/** A short, human reason for a getUserMedia failure, in the page language. */
export function cameraProblem(err, tr) {
  const name = err?.name ?? '';
  if (name === 'NotAllowedError' || name === 'SecurityError') return tr('js.media.denied');
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return tr('js.media.not_found');
  if (name === 'NotReadableError') return tr('js.media.busy');
  return tr('js.media.failed', { error: err?.message || name || '?' });
}

const SAMPLE_MS = 500;  // how often a tile reads getStats(): speaking shows within half a second
const STILL_SAMPLES = 6;  // no new frame for this many samples (3 s): the picture is gone (or frozen)
const WINDOW = 6;  // loss and frame rate are measured over the last this many samples (3 s)
const SPEAKING_RMS = 0.02;  // received audio louder than this (about -34 dBFS) counts as speech

/** The name of a peer (`{ko, zh, en}`) in the page language. */
export function peerName(peer, lang) {
  return peer.name?.[lang] || peer.name?.en || peer.id;
}

/**
 * Attach a stream to a <video> and play it; when the browser refuses sound without a gesture,
 * play muted and call `onBlocked` (the page then offers a "turn sound on" button).
 */
export async function play(video, stream, { onBlocked } = {}) {
  if (video.srcObject !== stream) video.srcObject = stream;
  try {
    await video.play();
  } catch (err) {
    if (err?.name !== 'NotAllowedError' || video.muted) return;
    video.muted = true;
    onBlocked?.(video);
    try {
      await video.play();
    } catch {
      // nothing more to try without a gesture
    }
  }
}

/**
 * How the link to a peer is doing, from two getStats() samples (PeerLink.stats()) some time
 * apart: frame rate and packet loss over that time, the last decoded size, the round trip.
 * `level` is whether good, fair or poor; the page shows it in words, not colour alone.
 */
export function quality(older, newer, seconds) {
  const frames = newer.framesDecoded - older.framesDecoded;
  const fps = newer.fps ?? (seconds > 0 ? frames / seconds : 0);
  const received = newer.packetsReceived - older.packetsReceived;
  const lost = Math.max(0, newer.packetsLost - older.packetsLost);
  const loss = received + lost > 0 ? (100 * lost) / (received + lost) : 0;
  const video = newer.height > 0 && frames > 0;
  let level = 'good';
  if (loss >= 2 || (newer.rttMs ?? 0) >= 250 || (video && fps < 12)) level = 'fair';
  if (loss >= 8 || (newer.rttMs ?? 0) >= 500 || (video && fps < 5)) level = 'poor';
  if (received === 0) level = 'poor';  // nothing arrived at all
  return { level, width: newer.width, height: newer.height, fps: video ? fps : 0, loss, rttMs: newer.rttMs };
}

/** The received audio's loudness (RMS, 0..1) between two samples, from the total audio energy. */
export function loudness(older, newer) {
  const seconds = newer.audioDuration - older.audioDuration;
  if (seconds <= 0) return newer.audioLevel ?? 0;
  return Math.sqrt(Math.max(0, newer.audioEnergy - older.audioEnergy) / seconds);
}

const ICONS = {
  mic: '<path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3z"/><path d="M19 11a7 7 0 0 1-14 0M12 18v3" fill="none" stroke="currentColor" stroke-width="2"/>',
  cam: '<rect x="2" y="6" width="13" height="12" rx="2"/><path d="M16 10l6-4v12l-6-4z"/>',
  slash: '<path d="M3 3l18 18" stroke="currentColor" stroke-width="2.5"/>',
  bars: '<rect x="3" y="9" width="3" height="6" rx="1"/><rect x="8.5" y="5" width="3" height="14" rx="1"/><rect x="14" y="7" width="3" height="10" rx="1"/><rect x="19.5" y="10" width="2" height="4" rx="1"/>',
  pin: '<path d="M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5" fill="none" stroke="currentColor" stroke-width="2"/>',
};

function icon(...names) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', 'icon');
  svg.innerHTML = names.map((n) => ICONS[n]).join('');
  return svg;
}

function span(className, ...children) {
  const el = document.createElement('span');
  el.className = className;
  el.append(...children);
  return el;
}

/**
 * A tile for one remote media peer: its video (and sound), its name, its connection state, and
 * what the people in the hall need to read off it: a mark when its microphone or camera is off
 * (what the peer said over signaling: a disabled track still arrives, as silence or black), a
 * speaking mark (the received audio's loudness), a quality badge (getStats()) and a pin button.
 * `data-video` is "on" while decoded frames keep arriving (from getStats(), which unlike a
 * track's mute flag counts what really reaches the decoder), so a peer that sends nothing,
 * or whose picture froze, can be hidden or greyed.
 */
export function remoteTile(link, { lang, tr, label, onBlocked }) {
  const figure = document.createElement('figure');
  figure.className = `tile remote-tile role-${link.peer.role}`;
  figure.dataset.peer = link.id;
  figure.dataset.video = 'off';
  figure.dataset.speaking = 'false';
  figure.dataset.pinned = 'false';
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  const shownName = label ?? peerName(link.peer, lang);
  const name = span('tile-name');
  name.textContent = shownName;
  const state = span('tile-state');
  // Speaking and quality change every half second: never read out (aria-live off inside the
  // console's live hall grid); the mic/camera marks are, as they change.
  const speakingText = span('tile-speaking-text');
  speakingText.textContent = tr('js.tile.speaking');
  const speaking = span('tile-speaking', icon('bars'), speakingText);
  speaking.setAttribute('aria-live', 'off');
  speaking.hidden = true;
  const micText = span('tile-flag-text');
  micText.textContent = tr('js.tile.mic_off');
  const micOff = span('tile-flag mic-off', icon('mic', 'slash'), micText);
  micOff.hidden = true;
  const camText = span('tile-flag-text');
  camText.textContent = tr('js.tile.cam_off');
  const camOff = span('tile-flag cam-off', icon('cam', 'slash'), camText);
  camOff.hidden = true;
  const flags = span('tile-flags', micOff, camOff);
  const caption = document.createElement('figcaption');
  caption.append(speaking, name, flags, state);

  const badgeWord = span('q-word');
  const badgeDetail = span('q-detail');
  const badge = span('quality-badge', badgeWord, ' ', badgeDetail);
  badge.setAttribute('aria-live', 'off');
  badge.dataset.quality = 'none';
  badge.hidden = true;
  const pin = document.createElement('button');
  pin.type = 'button';
  pin.className = 'tile-pin';
  pin.setAttribute('aria-pressed', 'false');
  pin.setAttribute('aria-label', tr('js.tile.pin_label', { name: shownName }));
  const pinText = span('tile-pin-text');
  pinText.textContent = tr('js.tile.pin');
  pin.append(icon('pin'), pinText);
  const top = document.createElement('div');
  top.className = 'tile-top';
  top.append(badge, pin);

  const waiting = document.createElement('p');
  waiting.className = 'tile-waiting';
  figure.append(video, waiting, top, caption);

  function setPinned(on) {
    figure.dataset.pinned = String(on);
    pin.setAttribute('aria-pressed', String(on));
  }
  // One pinned tile per grid: pinning this one unpins the others; the grid knows it has one.
  pin.addEventListener('click', () => {
    const on = figure.dataset.pinned !== 'true';
    const grid = figure.parentElement;
    for (const other of grid?.querySelectorAll(':scope > .remote-tile[data-pinned="true"]') ?? []) {
      if (other !== figure) other.dispatchEvent(new CustomEvent('unpin'));
    }
    setPinned(on);
    if (grid) grid.dataset.pinned = on ? link.id : '';
  });
  figure.addEventListener('unpin', () => setPinned(false));

  function showMedia() {
    const media = link.peer.media;  // null until the peer has said (docs/signaling.md)
    micOff.hidden = media?.audio !== false;
    camOff.hidden = media?.video !== false;
    figure.dataset.mic = media ? (media.audio ? 'on' : 'off') : 'unknown';
    figure.dataset.cam = media ? (media.video ? 'on' : 'off') : 'unknown';
    waiting.textContent = tr(media?.video === false ? 'js.tile.cam_off_long' : 'js.rtc.no_video');
    if (media?.audio === false) setSpeaking(false);
  }

  function setSpeaking(on) {
    if (figure.dataset.speaking === String(on)) return;
    figure.dataset.speaking = String(on);
    speaking.hidden = !on;
  }

  function showQuality(q) {
    badge.hidden = false;
    badge.dataset.quality = q.level;
    figure.dataset.quality = q.level;
    badgeWord.textContent = tr(`js.quality.${q.level}`);
    const parts = [];
    if (q.height > 0 && q.fps > 0) {
      parts.push(tr('js.quality.size', { width: q.width, height: q.height }));
      parts.push(tr('js.quality.fps', { fps: Math.round(q.fps) }));
    }
    parts.push(tr('js.quality.loss', { loss: q.loss < 10 ? q.loss.toFixed(1) : Math.round(q.loss) }));
    if (q.rttMs !== null && q.rttMs !== undefined) parts.push(tr('js.quality.rtt', { rtt: q.rttMs }));
    const text = parts.join(' · ');
    if (badgeDetail.textContent !== text) badgeDetail.textContent = text;
    badge.dataset.width = String(q.width);
    badge.dataset.height = String(q.height);
    badge.dataset.fps = String(Math.round(q.fps));
  }

  function refresh() {
    const s = link.state;
    figure.dataset.state = s;
    state.textContent = tr(`js.rtc.state.${s}`);
    if (link.remoteStream.getTracks().length) play(video, link.remoteStream, { onBlocked });
    if (s === 'closed') clearInterval(watch);
  }
  const samples = [];  // the last WINDOW stats samples, oldest first, each with its time
  let still = 0;
  let loud = false;
  const watch = setInterval(async () => {
    const now = await link.stats();
    now.at = performance.now();
    const previous = samples.at(-1);
    samples.push(now);
    if (samples.length > WINDOW) samples.shift();
    if (!previous) return;
    still = now.framesDecoded > previous.framesDecoded ? 0 : still + 1;
    figure.dataset.video = now.framesDecoded > 0 && still < STILL_SAMPLES ? 'on' : 'off';
    if (link.state === 'connected') showQuality(quality(samples[0], now, (now.at - samples[0].at) / 1000));
    // Loud in this sample or the one before: a word's short pauses do not make the mark flicker.
    const level = loudness(previous, now);
    figure.dataset.level = level.toFixed(3);
    const speakingNow = level > SPEAKING_RMS && link.peer.media?.audio !== false;
    setSpeaking(speakingNow || (loud && figure.dataset.speaking === 'true' && level > SPEAKING_RMS / 2));
    loud = speakingNow;
  }, SAMPLE_MS);
  link.addEventListener('state', refresh);
  link.addEventListener('tracks', refresh);
  link.addEventListener('media', showMedia);
  showMedia();
  refresh();
  return { element: figure, video, refresh };
}

/** Fill a <select> with the devices of one kind, keeping the one in use selected. */
export async function listDevices(select, kind, currentId, tr) {
  let devices = [];
  try {
    devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === kind);
  } catch {
    devices = [];
  }
  const options = devices.map((d, i) => {
    const option = document.createElement('option');
    option.value = d.deviceId;
    option.textContent = d.label || tr(kind === 'videoinput' ? 'js.media.camera_n' : 'js.media.mic_n', { n: i + 1 });
    option.selected = d.deviceId === currentId;
    return option;
  });
  if (!options.length) {
    const none = document.createElement('option');
    none.value = '';
    none.textContent = tr('js.media.none');
    options.push(none);
  }
  select.replaceChildren(...options);
  select.disabled = devices.length === 0;
}

/** A toggle button for a local track kind: sets `track.enabled`; its text names what a click will do. */
export function muteButton(button, { tr, onKey, offKey, getTracks, onChange }) {
  function sync() {
    const tracks = getTracks();
    const on = tracks.length > 0 && tracks.every((t) => t.enabled);
    button.disabled = tracks.length === 0;
    if (tracks.length) button.dataset.on = String(on);
    else delete button.dataset.on;  // nothing to mute: neither on nor off
    button.textContent = tr(on ? onKey : offKey);
  }
  button.addEventListener('click', () => {
    const tracks = getTracks();
    const on = tracks.length > 0 && tracks.every((t) => t.enabled);
    for (const t of tracks) t.enabled = !on;
    sync();
    onChange?.(!on);
  });
  sync();
  return sync;
}

/**
 * The "turn sound on" button: shown when the browser refused sound without a gesture; a click
 * unmutes and plays every tile. Returns the `onBlocked` callback for remoteTile/play.
 */
export function soundButton(button, tiles) {
  button.addEventListener('click', () => {
    for (const tile of tiles.values()) {
      tile.video.muted = false;
      tile.video.play().catch(() => {});
    }
    button.hidden = true;
  });
  return () => {
    button.hidden = false;
  };
}

/**
 * The microphone and camera buttons over whatever stream `getStream()` returns; `selfView`'s
 * data-video follows the camera; `onChange()` after a person pressed either (the page tells the
 * other halls). Returns one function that brings both up to date.
 */
export function muteButtons(micButton, camButton, selfView, getStream, tr, onChange = () => {}) {
  const mic = muteButton(micButton, {
    tr,
    onKey: 'js.media.mute_mic',
    offKey: 'js.media.unmute_mic',
    getTracks: () => getStream()?.getAudioTracks() ?? [],
    onChange: () => onChange(),
  });
  const cam = muteButton(camButton, {
    tr,
    onKey: 'js.media.cam_off',
    offKey: 'js.media.cam_on',
    getTracks: () => getStream()?.getVideoTracks() ?? [],
    onChange: (on) => {
      selfView.dataset.video = on ? 'on' : 'off';
      onChange();
    },
  });
  return () => { mic(); cam(); };
}

/** Show a connection indicator: data-state drives the colour, the text says it. */
export function setIndicator(el, state, text) {
  if (!el) return;
  el.dataset.state = state;
  const label = el.querySelector('[data-text]') ?? el;
  label.textContent = text;
}

/** The overall media state of a set of links: connected if any is, else the most hopeful. */
export function mediaSummary(links) {
  const states = [...links].map((l) => l.state);
  if (!states.length) return 'none';
  for (const s of ['connected', 'connecting', 'new', 'disconnected', 'failed']) {
    if (states.includes(s)) return s;
  }
  return 'closed';
}
