// The live timeline: server-sent events from /api/ceremonies/{id}/stream, newest first.
// EventSource resumes by itself with Last-Event-ID, so a dropped connection loses nothing.

import { describeActor, describeEvent } from './ceremony.js';
import { languageFirst, parseTime, zonedElement } from './time.js';

export function startTimeline(page, tr, onEvent) {
  const list = document.getElementById('timeline');
  const empty = document.getElementById('timeline-empty');
  const status = document.getElementById('live-status');
  const seen = new Set();
  const zones = languageFirst(page.zones ?? [], page.lang);  // KST first in Korean, CST in Chinese

  function setStatus(state) {
    status.dataset.state = state;
    status.textContent = tr(`js.live.${state}`);
  }

  const source = new EventSource(`/api/ceremonies/${encodeURIComponent(page.ceremony)}/stream`);
  source.addEventListener('open', () => setStatus('live'));
  source.addEventListener('error', () => {
    setStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  });
  // The link was revoked or this browser signed out: the server ends the stream, and reconnecting
  // would only be refused.
  source.addEventListener('revoked', () => {
    source.close();
    setStatus('ended');
  });
  source.addEventListener('ceremony', (message) => {
    const { event, state } = JSON.parse(message.data);
    if (seen.has(event.seq)) return;
    seen.add(event.seq);
    onEvent?.(event, state);  // first, so that labels can use what the event taught (e.g. a new link)
    list.prepend(entry(event));
    empty.hidden = true;
  });

  // Whose key, whose certificate, which hall: an approval names no signatory, its request did.
  const owners = new Map();  // enrollment id / certificate serial -> signatory id
  function subject(event) {
    const d = event.data || {};
    if (d.signatory && d.enrollment) owners.set(d.enrollment, d.signatory);
    const signatory = d.signatory ?? owners.get(d.enrollment) ?? owners.get(d.serial);
    if (d.serial && signatory) owners.set(d.serial, signatory);
    if (signatory) return page.signatories?.find((s) => s.id === signatory)?.name ?? signatory;
    if (d.venue) return page.venues?.find((v) => v.id === d.venue)?.name ?? d.venue;
    return '';
  }
  /** "key approved: 홍길동" rather than "key approved" once per signatory. */
  function named(text, event) {
    const who = subject(event);
    return who && !text.includes(who) ? `${text}: ${who}` : text;
  }

  function entry(event) {
    const li = document.createElement('li');
    li.className = `tl-entry tl-${event.type.replace('.', '-')}`;
    li.dataset.seq = String(event.seq);
    li.dataset.type = event.type;
    const label = document.createElement('p');
    label.className = 'tl-label';
    label.textContent = named(describeEvent(event, page, tr), event);
    const meta = document.createElement('p');
    meta.className = 'tl-meta';
    const actor = document.createElement('span');
    actor.className = 'tl-actor';
    actor.textContent = describeActor(event.actor, page, tr);
    const seq = document.createElement('span');
    seq.className = 'tl-seq';
    seq.textContent = `#${event.seq}`;
    meta.append(zonedElement(parseTime(event.at), zones), actor, seq);
    li.append(label, meta);
    return li;
  }

  return source;
}
