// The broadcast player: /c/<id>/watch/live.m3u8 with hls.js (served from our static files, never a CDN).
//
// The page asks /c/<id>/watch/status every few seconds and says where the broadcast stands (live,
// waiting, paused by the host, ended) in its language; the player starts once there is something to
// play. Times of the segment on screen come from the playlist's PROGRAM-DATE-TIME, shown in the
// ceremony's zones (KST, CST, UTC) like every other time on the pages.

import { readData, translator } from './i18n.js';
import { languageFirst, zonedElement } from './time.js';

const POLL_MS = 3000;
const PLAYABLE = new Set(['live', 'paused', 'ended']);
// 2 s segments, each listed ~1 s after its last frame: hold 3 s back from the live edge (what a
// segment needs to be listed and fetched), and play up to 1.5x faster to get back there after a
// stall; past 6 s behind, jump (docs/benchmarks.md, "Broadcast delay").
const HLS_CONFIG = {
  enableWorker: false, // the CSP allows no blob: workers; parsing 2 s segments on the main thread is cheap
  lowLatencyMode: false, // no partial segments: plain 2 s segments
  liveSyncDuration: 3,
  liveMaxLatencyDuration: 6,
  maxLiveSyncPlaybackRate: 1.5,
  backBufferLength: 30,
  manifestLoadingMaxRetry: 6,
  levelLoadingMaxRetry: 6,
  fragLoadingMaxRetry: 6,
};

const page = readData('page-data');
const tr = translator(page.messages);
const video = document.getElementById('watch-video');
const statusLine = document.getElementById('watch-status');
const lastLine = document.getElementById('watch-last');
const ceremony = video.dataset.ceremony;
const source = `/c/${ceremony}/watch/live.m3u8`;
let player = null; // an Hls instance, or 'native' (Safari plays HLS itself)
let shown = 'waiting';

function say(state) {
  shown = state;
  statusLine.dataset.state = state;
  statusLine.textContent = tr(`js.watch.${state}`);
}

function showTime(date) {
  const [before, after = ''] = tr('js.watch.last').split('{time}');
  lastLine.replaceChildren(before, zonedElement(date, languageFirst(page.zones ?? [], page.lang)), after);
}

function start() {
  if (player !== null) return;
  const Hls = window.Hls;
  if (Hls && Hls.isSupported()) {
    const hls = new Hls(HLS_CONFIG);
    player = hls;
    hls.on(Hls.Events.FRAG_CHANGED, (_event, data) => {
      if (data.frag?.programDateTime) showTime(new Date(data.frag.programDateTime));
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
        return;
      }
      // A network error (the server restarted, a proxy hiccup): drop the player; the next poll starts it again.
      if (shown !== 'ended') say('retrying');
      hls.destroy();
      player = null;
    });
    hls.loadSource(source);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    player = 'native';
    video.src = source;
  } else {
    say('unsupported');
    return;
  }
  video.play().catch(() => {}); // muted autoplay is allowed; a browser that refuses still shows the controls
}

async function poll() {
  try {
    const response = await fetch(`/c/${ceremony}/watch/status`, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (response.ok) {
      const { state } = await response.json();
      if (shown !== 'unsupported') say(state);
      if (PLAYABLE.has(state)) start();
      if (state === 'ended' || state === 'off') return; // nothing more will change
    }
  } catch {
    // offline for a moment: ask again at the next tick
  }
  setTimeout(poll, POLL_MS);
}

poll();
