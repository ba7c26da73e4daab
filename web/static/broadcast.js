// The host console's "Recording and broadcast" panel: what is recorded per hall and for the programme
// (from the log), the broadcast's state and viewers, public link, pause, and the RTMP targets.
// It asks GET /api/ceremonies/<id>/broadcast every few seconds; the evidence recording has no control
// here at all, only the broadcast does.

import { api, errorText } from './api.js';
import { parseTime, zonedLines } from './time.js';
import { hideAlert, showAlert } from './ui.js';

const POLL_MS = 4000;

/** h:mm:ss, or m:ss under an hour (numbers read the same in every page language). */
function clock(seconds) {
  const s = Math.floor(seconds);
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? `${h}:` : ''}${mm}:${String(r).padStart(2, '0')}`;
}

/** A cell labelled with its column's head (a phone shows the label beside the figure: host.css). */
function cell(label, ...content) {
  const td = document.createElement('td');
  td.dataset.label = label;
  const box = document.createElement('span');
  box.append(...content);
  td.append(box);
  return td;
}

export function startBroadcastPanel(page, tr) {
  const panel = document.getElementById('rec-panel');
  if (!panel || panel.dataset.recording !== 'on') return;
  const url = `/api/ceremonies/${encodeURIComponent(page.ceremony)}/broadcast`;
  const alertBox = document.getElementById('rec-alert');
  const pause = document.getElementById('rec-pause');
  const publicBox = document.getElementById('rec-public');
  const heads = [...document.querySelectorAll('#rec-table thead th')].map((th) => th.textContent);
  let current = null;
  let sending = false;

  function trackName(track) {
    if (track.venue === null) return tr('js.rec.programme');
    const venue = page.venues.find((v) => v.id === track.venue);
    return tr('js.rec.hall', { name: venue ? venue.name : track.venue });
  }

  function show(state) {
    current = state;
    const rows = state.tracks.map((track) => {
      const tr_ = document.createElement('tr');
      tr_.dataset.track = track.track;
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = trackName(track);
      const last = track.last
        ? [Object.assign(document.createElement('code'), { textContent: track.last.name }), document.createElement('br'),
          zonedLines(parseTime(track.last.wall_start), page.zones, page.lang, true)]
        : [tr('js.rec.none')];
      tr_.append(th, cell(heads[1], clock(track.recorded_seconds)), cell(heads[2], ...last), cell(heads[3], String(track.gaps)));
      return tr_;
    });
    document.getElementById('rec-tracks').replaceChildren(...rows);
    const status = document.getElementById('rec-state');
    status.dataset.state = state.state;
    status.textContent = tr(`js.watch.${state.state}`);
    document.getElementById('rec-viewers').textContent = String(state.viewers);
    const recorder = document.getElementById('rec-recorder');
    recorder.dataset.state = state.recorder.state;
    recorder.textContent = tr(`js.rec.recorder.${state.recorder.state}`);
    pause.textContent = tr(state.paused ? 'js.rec.resume' : 'js.rec.pause');
    pause.setAttribute('aria-pressed', String(state.paused));
    pause.disabled = sending || state.state === 'ended';
    if (!sending) publicBox.checked = state.public;  // mid-request the box keeps what the host just clicked
    publicBox.disabled = sending;
    document.getElementById('rec-public-row').hidden = !state.public;
    document.getElementById('rec-public-url').value = state.public_url;
    const targets = state.rtmp.map((target) => {
      const li = document.createElement('li');
      li.dataset.state = target.state;
      const name = Object.assign(document.createElement('code'), { textContent: target.target });
      li.append(name, ' — ', tr(`js.rec.rtmp.${target.state}`));
      if (target.problem) li.append(' ', Object.assign(document.createElement('span'), {
        className: 'small muted technical-detail', lang: 'en', textContent: `(${target.problem})`,
      }));
      return li;
    });
    if (!targets.length) {
      targets.push(Object.assign(document.createElement('li'), { className: 'muted', textContent: tr('js.rec.rtmp_none') }));
    }
    document.getElementById('rec-rtmp').replaceChildren(...targets);
  }

  async function refresh() {
    try {
      show(await api('GET', url));
      hideAlert(alertBox);
    } catch (err) {
      showAlert(alertBox, 'error', errorText(err, tr));
    }
  }

  async function change(body) {
    sending = true;
    if (current) show(current);
    try {
      show(await api('POST', url, body));
      hideAlert(alertBox);
    } catch (err) {
      showAlert(alertBox, 'error', errorText(err, tr));
    } finally {
      sending = false;
      if (current) show(current);
    }
  }

  pause.addEventListener('click', () => change({ paused: !(current?.paused ?? false) }));
  publicBox.addEventListener('change', () => change({ public: publicBox.checked }));
  refresh();
  setInterval(refresh, POLL_MS);
}
