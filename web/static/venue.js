// A hall's big screen: the other hall live and large, this hall's own camera small,
// the ceremony's title and segment, the MOU, signing progress and its count, device
// controls; the moment of sealing (the record's SHA-256, large); and one clear state once
// the session ends, with this hall's camera and microphone released.

import { applyState, segmentTitle } from './ceremony.js';
import { sealOf, showSeal } from './digest.js';
import { readData, translator } from './i18n.js';
import {
  cameraProblem, listDevices, mediaSummary, muteButtons, openCamera, play, remoteTile, setIndicator,
  soundButton,
} from './mediaui.js';
import { MediaRoom, trackState } from './rtc.js';
import { SignalClient } from './signal.js';
import { showAlert } from './ui.js';

const page = readData('page-data');
const tr = translator(page.messages);
const $ = (id) => document.getElementById(id);

const remotes = $('remotes');
const selfVideo = $('self-video');
const mediaAlert = $('media-alert');
const cameraSelect = $('camera-select');
const micSelect = $('mic-select');
const soundOn = $('sound-on');
const tiles = new Map();  // peer id -> tile
const soundBlocked = soundButton(soundOn, tiles);

const signal = new SignalClient(page.ceremony, { role: 'venue' });
let localStream = null;
let firstMedia = null;  // this hall's camera: asked for at start; links wait for the answer
let over = null;  // why the session ended, once it has
const acquired = new Set();  // every camera/microphone track this page opened: all stopped at the end
const media = new MediaRoom(signal, { localStream: () => firstMedia, localState: () => trackState(localStream) });
// For tests and for diagnosing a hall on the day: the connections by peer id, the local tracks.
window.__ceremony = { signal, media, peers: media.links, tracks: acquired };

// ---- the ceremony: title, segment, document, progress ----

function showState(summary) {
  applyState(summary, page, tr);
  // The badge names the phase; this line names the run-of-show segment under way.
  const waiting = ['draft', 'frozen', 'open'].includes(summary.state) ? tr('js.venue.no_segment') : '';
  $('segment-now').textContent = summary.segment ? segmentTitle(page, summary.segment) : waiting;
  $('segment-now').dataset.segment = summary.segment ?? '';
  if (summary.title?.[page.lang]) $('ceremony-title').textContent = summary.title[page.lang];
}

// Where each signatory stands, from the events that name one: a recorded consent (or decline),
// then their PAdES signature in the MOU PDF.
function progressOf(event) {
  if (event.type === 'consent.recorded') return event.data.decision === 'decline' ? 'declined' : 'consented';
  if (event.type === 'document.signed') return 'signed';
  return null;
}

function showEvent(event) {
  const who = event.data?.signatory;
  const progress = who ? progressOf(event) : null;
  if (!progress) return;
  const row = document.querySelector(`#progress [data-signatory="${CSS.escape(who)}"]`);
  if (!row) return;
  // A consent that arrives after the PDF signature (a resume replays in order, but be sure) does
  // not take a row back from "signed".
  if (row.dataset.progress === 'signed' && progress === 'consented') return;
  row.dataset.progress = progress;
  const pill = row.querySelector('[data-sign-state]');
  pill.className = `pill ${progress === 'declined' ? 'pill-off' : 'pill-ok'}`;
  pill.textContent = tr(`js.venue.progress.${progress}`);
  showCount();
}

// "3 of 7 signed": PDF signatures, counted from the progress rows (the page came with where each
// signatory stood; the live `document.signed` events move the rows on).
function showCount() {
  const rows = [...document.querySelectorAll('#progress [data-signatory]')];
  const signed = rows.filter((row) => row.dataset.progress === 'signed').length;
  const text = tr('js.venue.count', { signed, total: rows.length });
  for (const el of [$('sign-count'), $('seal-count')]) {
    el.dataset.signed = String(signed);
    el.dataset.total = String(rows.length);
    if (el.textContent !== text) el.textContent = text;
  }
}

// ---- the seal: a moment in place of the video, then a band above it ----

function sealView(large) {
  $('venue').dataset.seal = large ? 'large' : 'band';
  $('seal-view').setAttribute('aria-expanded', String(large));
}
$('seal-view').addEventListener('click', () => sealView($('venue').dataset.seal !== 'large'));

function sealed(seal) {
  showSeal(page.zones, seal);
  if (!$('seal-band').hidden) sealView(true);
}

signal.on('welcome', (m) => showState(m.ceremony));
signal.on('ceremony', (m) => {
  showState(m.state);
  showEvent(m.event);
  const seal = sealOf(m.event, m.state);
  if (seal) sealed(seal);
  if (m.event.type === 'ceremony.cancelled') ended('cancelled', m.event.data?.reason ?? '');
});

// ---- the room: lobby, connection, remote halls ----

function showConnection(status) {
  const state = status.state === 'idle' ? 'connecting' : status.state;
  setIndicator($('signal-state'), state, tr(`js.signal.${state}`));
  $('lobby').hidden = !(signal.state === 'live' && !signal.admitted);
  document.body.dataset.signal = state;
}

signal.on('status', (status) => {
  showConnection(status);
  if (status.state === 'closed' && status.why && status.why !== 'left') {
    ended(status.why, status.reason, status.code);
  }
});
signal.on('welcome', () => showConnection({ state: signal.state }));
signal.on('admitted', () => showConnection({ state: signal.state }));

// One state once the session is over, whatever ended it: the note on the screen says why, the
// connection indicators go (a red "disconnected" beside a stale "video connected" read as a
// fault), and the camera and microphone are released: every track stopped, every link closed.
function ended(why, reason, code) {
  if (over === 'cancelled') return;  // the server's close (4000) that follows a cancellation says less
  over = why;
  const titles = { ended: 'js.venue.ended', replaced: 'js.venue.replaced', cancelled: 'js.venue.cancelled' };
  const key = titles[why] ?? (code === 4403 ? 'js.venue.refused' : 'js.venue.closed');
  $('ended-title').textContent = tr(key);
  // A cancellation's reason is the operator's own words; the server's close reasons are English.
  $('ended-reason').textContent = why === 'cancelled' ? reason || '' : '';
  $('ended').hidden = false;
  $('lobby').hidden = true;
  document.body.dataset.ended = why;
  if (!$('seal-band').hidden) sealView(false);  // the seal stays as a band above the note
  release();
  $('ended-released').hidden = false;
}

function release() {
  media.close();
  for (const track of acquired) track.stop();
  localStream = null;
  selfVideo.srcObject = null;
  $('self-view').dataset.video = 'off';
  syncMedia();
  for (const tile of tiles.values()) tile.video.srcObject = null;
}
$('reload').addEventListener('click', () => location.reload());

function showMedia() {
  if (over) return;
  const state = mediaSummary(media.links.values());
  setIndicator($('media-state'), state, tr(`js.rtc.summary.${state}`));
  const venues = [...tiles.values()].filter((t) => t.element.classList.contains('role-venue'));
  $('screen-empty').hidden = venues.length > 0 || !signal.admitted;
  remotes.dataset.count = String(venues.length);
}

media.addEventListener('peer', ({ detail: link }) => {
  if (link.peer.role === 'recorder') return;  // the server's recorder: it receives, there is nothing to show
  const tile = remoteTile(link, { lang: page.lang, tr, onBlocked: soundBlocked });
  tiles.set(link.id, tile);
  // The other hall fills the screen; the host, if it sends video at all, is a small inset.
  if (link.peer.role === 'venue') remotes.append(tile.element);
  else $('screen').append(tile.element);
  showMedia();
});
media.addEventListener('peer-gone', ({ detail: link }) => {
  tiles.get(link.id)?.element.remove();
  tiles.delete(link.id);
  showMedia();
});
media.addEventListener('change', showMedia);
signal.on('admitted', showMedia);
signal.on('welcome', showMedia);

// ---- this hall's camera and microphone ----

async function acquire(constraints) {
  try {
    const stream = await openCamera(constraints);
    for (const track of stream.getTracks()) acquired.add(track);
    if (over) {
      release();  // the session ended while the browser was asking
      return null;
    }
    useStream(stream);
    return stream;
  } catch (err) {
    showAlert(mediaAlert, 'warning', cameraProblem(err, tr));
    return null;
  } finally {
    refreshDevices();
  }
}

function useStream(stream) {
  localStream = stream;
  $('self-view').dataset.video = stream.getVideoTracks().length ? 'on' : 'off';
  play(selfVideo, stream);
  syncMedia();
  media.announce();
}

const syncMedia = muteButtons(
  $('mic-toggle'), $('cam-toggle'), $('self-view'), () => localStream, tr, () => media.announce(),
);

function refreshDevices() {
  const cam = localStream?.getVideoTracks()[0]?.getSettings().deviceId;
  const mic = localStream?.getAudioTracks()[0]?.getSettings().deviceId;
  listDevices(cameraSelect, 'videoinput', cam, tr);
  listDevices(micSelect, 'audioinput', mic, tr);
}
navigator.mediaDevices?.addEventListener?.('devicechange', refreshDevices);

async function switchDevice(kind, deviceId) {
  if (!deviceId || over) return;
  const constraints = kind === 'video'
    ? { video: { deviceId: { exact: deviceId }, width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false }
    : { audio: { deviceId: { exact: deviceId }, echoCancellation: true }, video: false };
  let fresh;
  try {
    fresh = (await openCamera(constraints)).getTracks()[0];
    acquired.add(fresh);
  } catch (err) {
    showAlert(mediaAlert, 'warning', cameraProblem(err, tr));
    refreshDevices();
    return;
  }
  mediaAlert.hidden = true;
  if (!localStream) {
    // No camera at first: start sending now (the links renegotiate from receive-only).
    const stream = new MediaStream([fresh]);
    useStream(stream);
    await media.setStream(stream);
    refreshDevices();
    return;
  }
  const old = kind === 'video' ? localStream.getVideoTracks()[0] : localStream.getAudioTracks()[0];
  fresh.enabled = old ? old.enabled : true;  // a muted microphone stays muted on the new device
  if (old) {
    localStream.removeTrack(old);
    old.stop();
  }
  localStream.addTrack(fresh);
  await media.replaceTrack(kind, fresh);
  if (kind === 'video') play(selfVideo, localStream);
  syncMedia();
  media.announce();
}
cameraSelect.addEventListener('change', () => switchDevice('video', cameraSelect.value));
micSelect.addEventListener('change', () => switchDevice('audio', micSelect.value));

// ---- full screen ----

const fullscreenButton = $('fullscreen');
fullscreenButton.hidden = !document.fullscreenEnabled;
fullscreenButton.addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else $('venue').requestFullscreen().catch(() => {});
});
document.addEventListener('fullscreenchange', () => {
  fullscreenButton.textContent = tr(document.fullscreenElement ? 'js.venue.exit_fullscreen' : 'js.venue.fullscreen');
});

// ---- start ----

showState(page.state);
showCount();
sealed(null);  // sealed before this page loaded: the hash came with the page
firstMedia = acquire();
showConnection({ state: 'connecting' });
showMedia();
signal.start();
window.addEventListener('pagehide', () => signal.leave());
