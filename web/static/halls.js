// The Halls panel of the host console: the host joins the ceremony's room, sees every
// admitted hall live, admits or rejects halls waiting in the lobby, and can end the
// session. The host's own camera is optional: without one (declined, missing, or an
// insecure page) the links only receive.

import {
  cameraProblem, muteButtons, openCamera, peerName, play, remoteTile, setIndicator, soundButton,
} from './mediaui.js';
import { MediaRoom, trackState } from './rtc.js';
import { SignalClient } from './signal.js';
import { hideAlert, showAlert } from './ui.js';

export function startHalls(page, tr) {
  const $ = (id) => document.getElementById(id);
  const grid = $('hall-grid');
  const lobbyBox = $('lobby-box');
  const lobbyList = $('lobby-list');
  const alertBox = $('halls-alert');
  const soundOn = $('sound-on');
  const lobby = new Map();  // peer id -> peer waiting to be admitted
  const tiles = new Map();  // peer id -> tile
  let signal = null;
  let media = null;
  let localStream = null;
  let cameraAsked = null;

  // Asked for when the first hall connects, not on every visit to the console.
  function hostCamera() {
    if (cameraAsked) return cameraAsked;
    const asked = openCamera().then(
      (stream) => {
        if (cameraAsked !== asked) {
          for (const track of stream.getTracks()) track.stop();  // the session ended while the browser asked
          return null;
        }
        localStream = stream;
        // The host's microphone starts muted: the console may sit in one of the halls.
        for (const t of stream.getAudioTracks()) t.enabled = false;
        $('host-self').hidden = false;
        $('host-self').dataset.video = 'on';
        play($('host-self-video'), stream);
        syncControls();
        media?.announce();
        return stream;
      },
      (err) => {
        showAlert(alertBox, 'info', `${cameraProblem(err, tr)} ${tr('js.halls.receive_only')}`);
        return null;
      },
    );
    cameraAsked = asked;
    return asked;
  }

  const syncMedia = muteButtons(
    $('host-mic'), $('host-cam'), $('host-self'), () => localStream, tr, () => media?.announce(),
  );
  function syncControls() {
    syncMedia();
    // Without a camera of our own there is nothing to mute.
    $('host-mic').hidden = !localStream;
    $('host-cam').hidden = !localStream;
  }

  // ---- lobby ----

  function renderLobby() {
    const items = [...lobby.values()].map((peer) => {
      const li = document.createElement('li');
      li.dataset.peer = peer.id;
      const name = document.createElement('span');
      name.className = 'lobby-name';
      name.textContent = peerName(peer, page.lang);
      const admit = document.createElement('button');
      admit.type = 'button';
      admit.className = 'button small primary';
      admit.textContent = tr('js.halls.admit');
      admit.addEventListener('click', () => decide(peer, 'admit', [admit, reject]));
      const reject = document.createElement('button');
      reject.type = 'button';
      reject.className = 'button small danger-ghost';
      reject.textContent = tr('js.halls.reject');
      reject.addEventListener('click', () => decide(peer, 'reject', [admit, reject]));
      li.append(name, admit, reject);
      return li;
    });
    lobbyList.replaceChildren(...items);
    lobbyBox.hidden = items.length === 0;
    renderHalls();
  }

  async function decide(peer, action, buttons) {
    for (const b of buttons) b.disabled = true;
    hideAlert(alertBox);
    try {
      await signal.request({ type: action, peer: peer.id });
      lobby.delete(peer.id);
    } catch (err) {
      if (err?.code === 'no_such_peer') lobby.delete(peer.id);  // it left the lobby meanwhile
      else showAlert(alertBox, 'error', tr('js.halls.refused', { reason: err?.reason ?? err?.code ?? '?' }));
      for (const b of buttons) b.disabled = false;
    }
    renderLobby();
  }

  function knocked(peer) {
    // One entry per hall: a hall that reloaded its page knocks again with a new peer id.
    for (const [id, waiting] of lobby) if (waiting.venue && waiting.venue === peer.venue) lobby.delete(id);
    lobby.set(peer.id, peer);
    renderLobby();
  }

  // ---- halls ----

  function renderHalls() {
    const venues = [...tiles.values()].filter((t) => t.element.classList.contains('role-venue'));
    $('halls-empty').hidden = venues.length > 0 || lobby.size > 0;
  }

  const soundBlocked = soundButton(soundOn, tiles);

  function showStatus(status) {
    setIndicator($('signal-state'), status.state, tr(`js.signal.${status.state === 'idle' ? 'connecting' : status.state}`));
    if (status.state !== 'closed' || !status.why || status.why === 'left') return;
    let key = { ended: 'js.halls.ended', replaced: 'js.halls.replaced' }[status.why] ?? 'js.halls.closed';
    if (status.code === 4401) key = 'js.halls.needs_link';  // an operator without the host link
    showAlert(alertBox, status.why === 'ended' ? 'info' : 'error', tr(key, { reason: status.reason || '' }));
    $('rejoin').hidden = false;
    clearRoom();
    releaseCamera();
  }

  // Out of the room: the camera and microphone go off (joining again asks for them again).
  function releaseCamera() {
    for (const track of localStream?.getTracks() ?? []) track.stop();
    localStream = null;
    cameraAsked = null;
    $('host-self-video').srcObject = null;
    $('host-self').hidden = true;
    syncControls();
  }

  function clearRoom() {
    media?.close();
    for (const tile of tiles.values()) tile.element.remove();
    tiles.clear();
    lobby.clear();
    renderLobby();
    renderHalls();
  }

  function join() {
    clearRoom();
    $('rejoin').hidden = true;
    signal = new SignalClient(page.ceremony, { role: 'host' });
    media = new MediaRoom(signal, { localStream: hostCamera, localState: () => trackState(localStream) });
    window.__ceremony = { signal, media, peers: media.links };
    signal.on('status', showStatus);
    signal.on('welcome', (m) => {
      if (!m.resumed) {
        lobby.clear();
        renderLobby();
      }
    });
    signal.on('knock', (m) => knocked(m.peer));
    signal.on('peer-joined', (m) => {
      for (const [id, waiting] of lobby) if (id === m.peer.id || waiting.venue === m.peer.venue) lobby.delete(id);
      renderLobby();
    });
    // Refusals of relayed negotiation (a peer that just left) are routine: log them, don't alarm.
    signal.on('error', (m) => {
      if (!m.ref) console.warn('signaling refused a message:', m.code, m.reason);
    });
    media.addEventListener('peer', ({ detail: link }) => {
      if (link.peer.role === 'recorder') return;  // never linked to the host; kept out all the same
      const tile = remoteTile(link, { lang: page.lang, tr, onBlocked: soundBlocked });
      tiles.set(link.id, tile);
      grid.append(tile.element);
      renderHalls();
    });
    media.addEventListener('peer-gone', ({ detail: link }) => {
      tiles.get(link.id)?.element.remove();
      tiles.delete(link.id);
      renderHalls();
    });
    signal.start();
  }

  $('rejoin').addEventListener('click', join);
  $('end-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('end-box').open = false;
    try {
      await signal.request({ type: 'end' });
    } catch {
      // the server answers `end` by closing every socket, ours included (4000): showStatus says so
    }
  });
  window.addEventListener('pagehide', () => signal?.leave());

  syncControls();
  renderLobby();
  renderHalls();
  join();
}
