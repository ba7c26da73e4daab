// One ceremony's archive page. While the ceremony is not sealed, wait for it on the live stream
// and reload once it is: the record is on disk before the seal event is sent, so the reloaded
// page shows it.

import { readData, translator } from './i18n.js';

const page = readData('page-data');
const tr = translator(page.messages);
const FINAL = ['sealed', 'cancelled'];

function watch() {
  const status = document.getElementById('live-status');
  const setStatus = (state) => {
    status.dataset.state = state;
    status.textContent = tr(`js.live.${state}`);
  };
  // after=seq: only what happens from now on; EventSource resumes by itself with Last-Event-ID.
  const url = `/api/ceremonies/${encodeURIComponent(page.ceremony)}/stream?after=${page.seq}`;
  const source = new EventSource(url);
  source.addEventListener('open', () => setStatus('live'));
  source.addEventListener('error', () => {
    setStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  });
  source.addEventListener('revoked', () => {
    source.close(); // the link was revoked or this browser signed out: reconnecting would be refused
    setStatus('ended');
  });
  source.addEventListener('ceremony', (message) => {
    const { state } = JSON.parse(message.data);
    if (FINAL.includes(state.state)) {
      source.close();
      window.location.reload();
    }
  });
}

if (!FINAL.includes(page.state)) watch();
