// The participant page (venue, signatory, observer, archivist): where the ceremony stands, live.

import { applyState, segmentTitle } from './ceremony.js';
import { readData, translator } from './i18n.js';
import { startTimeline } from './timeline.js';

const page = readData('page-data');
const tr = translator(page.messages);

function update(summary) {
  applyState(summary, page, tr);
  const segment = document.getElementById('segment-now');
  const phase = tr(`state.${summary.state}`);
  segment.textContent = summary.segment ? `${phase} — ${segmentTitle(page, summary.segment)}` : phase;
}

update(page.state);
startTimeline(page, tr, (event, state) => {
  if (event.type === 'ceremony.cancelled') {
    document.getElementById('cancel-reason-text').textContent = event.data?.reason ?? '';
    document.getElementById('cancelled-note').hidden = false;
  }
  update(state);
});
