// The host console: ceremony controls, the halls live (halls.js), signatories' keys (enrollments.js),
// capability links and the live timeline; the last ones in tabs (tabs.js) beside the halls.

import { api, errorText } from './api.js';
import { applyState } from './ceremony.js';
import { startBroadcastPanel } from './broadcast.js';
import { sealOf, showSeal } from './digest.js';
import { startEnrollments } from './enrollments.js';
import { startHalls } from './halls.js';
import { readData, translator } from './i18n.js';
import { languageFirst, parseTime, zonedLines } from './time.js';
import { startTabs } from './tabs.js';
import { startTimeline } from './timeline.js';
import { hideAlert, showAlert, wireCopyButtons } from './ui.js';

const page = readData('page-data');
const tr = translator(page.messages);
const base = `/api/ceremonies/${encodeURIComponent(page.ceremony)}`;
const alertBox = document.getElementById('host-alert');
const busyLine = document.getElementById('host-busy');
const busyText = document.getElementById('host-busy-text');
const buttons = [...document.querySelectorAll('[data-action]')];
const LIVE = ['draft', 'frozen', 'open', 'signing'];

let summary = page.state;
let busy = false;
page.invitations = page.invitations ?? [];
page.zones = languageFirst(page.zones, page.lang);  // the seal's time too: KST first in Korean, CST in Chinese

// ---- state and controls ----

function update(next) {
  summary = next;
  applyState(summary, page, tr);
  const phase = summary.state;
  const at = page.segments.findIndex((s) => s.id === summary.segment);
  const following = page.segments[at + 1];
  const allowed = {
    freeze: phase === 'draft',
    open: phase === 'frozen',
    next: (phase === 'open' || phase === 'signing') && following !== undefined,
    seal: phase === 'signing',
    cancel: LIVE.includes(phase),
  };
  for (const button of buttons) button.disabled = busy || !allowed[button.dataset.action];
  document.getElementById('next-title').textContent = following ? following.title : '';
  document.getElementById('cancel-box').hidden = !allowed.cancel;
  document.getElementById('edit-link').hidden = phase !== 'draft';
  document.getElementById('controls-hint').textContent = tr(`js.hint.${phase}`);
  document.getElementById('record-link').hidden = phase !== 'sealed';
  renderMissing();
}

async function run(action, call, busyMessage) {
  if (busy) return;
  busy = true;
  hideAlert(alertBox);
  busyText.textContent = busyMessage || tr('js.working');
  busyLine.hidden = false;
  update(summary);
  try {
    const next = await call();
    busy = false;
    update(next);
    return true;
  } catch (err) {
    showAlert(alertBox, 'error', errorText(err, tr), err.fields ?? []);
    alertBox.focus();
    return false;
  } finally {
    busy = false;
    busyLine.hidden = true;
    update(summary);
  }
}

const actions = {
  freeze: () => api('POST', `${base}/freeze`),
  open: () => api('POST', `${base}/open`),
  next: () => api('POST', `${base}/segment`, { segment: 'next' }),
  seal: sealCeremony,
};

/** Seal; if some signatories have not signed, ask before recording them as absent. */
async function sealCeremony() {
  try {
    return await api('POST', `${base}/seal`, { absent_ok: false });
  } catch (err) {
    if (err.code !== 'absent_parties') throw err;
    const names = err.fields.map((f) => page.signatories.find((s) => s.id === f.field)?.name ?? f.field);
    if (!window.confirm(tr('js.seal_absent_confirm', { names: names.join(', ') }))) return summary;
    return api('POST', `${base}/seal`, { absent_ok: true });
  }
}

for (const button of buttons) {
  const action = button.dataset.action;
  if (!(action in actions)) continue;
  button.addEventListener('click', () => run(action, actions[action], button.dataset.busy));
}

const cancelForm = document.getElementById('cancel-form');
const cancelReason = document.getElementById('cancel-reason');
cancelForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const reason = cancelReason.value.trim();
  if (!reason) {
    showAlert(alertBox, 'error', tr('js.cancel_needs_reason'));
    cancelReason.focus();
    return;
  }
  if (await run('cancel', () => api('POST', `${base}/cancel`, { reason }))) {
    cancelReason.value = '';
    document.getElementById('cancel-box').open = false;
  }
});

// ---- capability links ----

const roleSelect = document.getElementById('issue-role');
const venueField = document.getElementById('issue-venue-field');
const signatoryField = document.getElementById('issue-signatory-field');
const issueForm = document.getElementById('issue-form');
const linksBody = document.getElementById('links-body');
const linkAlert = document.getElementById('links-alert');

function syncRoleFields() {
  venueField.hidden = roleSelect.value !== 'venue';
  signatoryField.hidden = roleSelect.value !== 'signatory';
}
roleSelect.addEventListener('change', syncRoleFields);
syncRoleFields();

issueForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = document.getElementById('issue-button');
  const body = { role: roleSelect.value, label: document.getElementById('issue-label').value.trim() };
  if (body.role === 'venue') body.venue = document.getElementById('issue-venue').value;
  if (body.role === 'signatory') body.signatory = document.getElementById('issue-signatory').value;
  button.disabled = true;
  hideAlert(linkAlert);
  try {
    const issued = await api('POST', `${base}/invitations`, body);
    remember(issued);
    showIssued(issued);
    document.getElementById('issue-label').value = '';
  } catch (err) {
    showAlert(linkAlert, 'error', errorText(err, tr), err.fields ?? []);
    linkAlert.focus();
  } finally {
    button.disabled = false;
  }
});

function showIssued(issued) {
  const box = document.getElementById('issued');
  // Our own API's SVG, shown as an image: an <img> never runs script inside the SVG.
  document.getElementById('issued-qr').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(issued.qr_svg)}`;
  document.getElementById('issued-url').value = issued.url;
  document.getElementById('issued-title').textContent = tr('js.new_link_for', { role: tr(`role.${issued.role}`) });
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
}

function remember(invitation) {
  const { url, token, qr_svg: qr, ...kept } = invitation;  // never keep the token around
  const i = page.invitations.findIndex((x) => x.id === kept.id);
  if (i >= 0) page.invitations[i] = { ...page.invitations[i], ...kept };
  else page.invitations.push(kept);
  renderLinks();
}

function subjectOf(invitation) {
  if (invitation.venue) return page.venues.find((v) => v.id === invitation.venue)?.name ?? invitation.venue;
  if (invitation.signatory) {
    const s = page.signatories.find((x) => x.id === invitation.signatory);
    return s ? `${s.name} — ${s.party}` : invitation.signatory;
  }
  return '';
}

function cell(content, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  td.append(content);
  return td;
}

function renderLinks() {
  const rows = [...page.invitations].sort((a, b) => (a.issued_at < b.issued_at ? 1 : -1)).map((inv) => {
    const tr_ = document.createElement('tr');
    tr_.dataset.invitation = inv.id;
    if (!inv.active) tr_.className = 'revoked';
    const status = document.createElement('span');
    status.className = `pill ${inv.active ? 'pill-ok' : 'pill-off'}`;
    status.textContent = inv.active ? tr('js.link_active') : tr('js.link_revoked');
    const action = document.createElement('span');
    if (inv.active) {
      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.className = 'button small danger-ghost';
      revoke.textContent = tr('js.revoke');
      revoke.addEventListener('click', () => revokeLink(inv, revoke));
      action.append(revoke);
    }
    tr_.append(
      cell(tr(`role.${inv.role}`), 'strong'),
      cell(subjectOf(inv)),
      cell(inv.label || '—'),
      cell(zonedLines(parseTime(inv.issued_at), page.zones, page.lang), 'small'),
      cell(status),
      cell(action),
    );
    return tr_;
  });
  if (!rows.length) {
    const empty = document.createElement('tr');
    const td = cell(tr('js.no_links'), 'muted');
    td.colSpan = 6;
    empty.append(td);
    rows.push(empty);
  }
  linksBody.replaceChildren(...rows);
  renderMissing();
}

/** Who has no active link yet, as "Issue all links" would issue them (web/link_sheet.py, missing_links). */
function renderMissing() {
  const note = document.getElementById('missing-links');
  const button = document.getElementById('issue-all');
  const phase = summary.state;
  const active = page.invitations.filter((i) => i.active);
  const roster = phase !== 'draft' && phase !== 'sealed';  // venue and signatory links: frozen to signing
  const names = [];
  let later = false;
  for (const v of page.venues) {
    if (active.some((i) => i.venue === v.id)) continue;
    if (roster) names.push(v.name);
    else later ||= phase === 'draft';
  }
  for (const s of page.signatories) {
    if (active.some((i) => i.signatory === s.id)) continue;
    if (roster) names.push(s.name);
    else later ||= phase === 'draft';
  }
  for (const role of ['archivist', 'observer']) {
    if (!active.some((i) => i.role === role)) names.push(tr(`role.${role}`));
  }
  const closed = phase === 'cancelled';
  button.disabled = closed || !names.length;
  const parts = [];
  if (names.length) parts.push(tr('js.links.missing', { names: names.join(', ') }));
  if (later) parts.push(tr('js.links.missing_later'));
  else if (!names.length) parts.push(tr('js.links.none_missing'));
  const text = closed ? '' : parts.join(' ');
  if (note.textContent !== text) note.textContent = text;  // a live region: speak changes only
}

async function revokeLink(invitation, button) {
  button.disabled = true;
  hideAlert(linkAlert);
  try {
    remember(await api('DELETE', `${base}/invitations/${encodeURIComponent(invitation.id)}`));
  } catch (err) {
    button.disabled = false;
    showAlert(linkAlert, 'error', errorText(err, tr));
    linkAlert.focus();
  }
}

// ---- live timeline ----

function onEvent(event, state) {
  const d = event.data || {};
  keys.onEvent(event);
  if (event.type === 'invitation.issued' && !page.invitations.some((i) => i.id === d.invitation)) {
    remember({
      id: d.invitation, role: d.role, venue: d.venue ?? null, signatory: d.signatory ?? null,
      label: d.label ?? '', issued_at: event.at, revoked_at: null, active: true,
    });
  } else if (event.type === 'invitation.revoked') {
    const known = page.invitations.find((i) => i.id === d.invitation);
    if (known && known.active) remember({ ...known, active: false, revoked_at: event.at });
  } else if (event.type === 'ceremony.cancelled') {
    document.getElementById('cancel-reason-text').textContent = d.reason ?? '';
    document.getElementById('cancelled-note').hidden = false;
  }
  const seal = sealOf(event, state);
  if (seal) showSeal(page.zones, seal);
  if (!busy) update(state);
  else summary = state;
}

// Links to hand out before the rooms open; keys to approve once they are; the record afterwards.
const firstTab = { draft: 'links', frozen: 'links', open: 'keys', signing: 'keys' }[summary.state] ?? 'timeline';
startTabs(document.getElementById('host-tabs'), firstTab);
const keys = startEnrollments(page, tr);
wireCopyButtons(tr);
renderLinks();
update(summary);
showSeal(page.zones);  // sealed before this page loaded: the hash came with the page
startTimeline(page, tr, onEvent);
startHalls(page, tr);
startBroadcastPanel(page, tr); // recording per track, broadcast state and controls
