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

const STILL_SECONDS = 3;  // no new frame for this long: the picture is gone (or frozen)

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
 * A tile for one remote media peer: its video (and sound), its name, its connection state.
 * `data-video` is "on" while decoded frames keep arriving (from getStats(), which unlike a
 * track's mute flag counts what really reaches the decoder), so a peer that sends nothing,
 * or whose picture froze, can be hidden or greyed.
 */
export function remoteTile(link, { lang, tr, label, onBlocked }) {
  const figure = document.createElement('figure');
  figure.className = `tile remote-tile role-${link.peer.role}`;
  figure.dataset.peer = link.id;
  figure.dataset.video = 'off';
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  const caption = document.createElement('figcaption');
  const name = document.createElement('span');
  name.className = 'tile-name';
  name.textContent = label ?? peerName(link.peer, lang);
  const state = document.createElement('span');
  state.className = 'tile-state';
  caption.append(name, state);
  const waiting = document.createElement('p');
  waiting.className = 'tile-waiting';
  waiting.textContent = tr('js.rtc.no_video');
  figure.append(video, waiting, caption);

  function refresh() {
    const s = link.state;
    figure.dataset.state = s;
    state.textContent = tr(`js.rtc.state.${s}`);
    if (link.remoteStream.getTracks().length) play(video, link.remoteStream, { onBlocked });
    if (s === 'closed') clearInterval(watch);
  }
  let frames = 0;
  let still = 0;
  const watch = setInterval(async () => {
    const now = await link.videoFramesDecoded();
    still = now > frames ? 0 : still + 1;
    frames = now;
    figure.dataset.video = now > 0 && still < STILL_SECONDS ? 'on' : 'off';
  }, 1000);
  link.addEventListener('state', refresh);
  link.addEventListener('tracks', refresh);
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
 * data-video follows the camera. Returns one function that brings both up to date.
 */
export function muteButtons(micButton, camButton, selfView, getStream, tr) {
  const mic = muteButton(micButton, {
    tr, onKey: 'js.media.mute_mic', offKey: 'js.media.unmute_mic', getTracks: () => getStream()?.getAudioTracks() ?? [],
  });
  const cam = muteButton(camButton, {
    tr,
    onKey: 'js.media.cam_off',
    offKey: 'js.media.cam_on',
    getTracks: () => getStream()?.getVideoTracks() ?? [],
    onChange: (on) => { selfView.dataset.video = on ? 'on' : 'off'; },
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
