// The host's "Signatories' keys" panel: enrollments to approve (after seeing the person on
// camera) or reject, and each party's signing progress.

import { api, errorText } from './api.js';
import { parseTime, zonedLines } from './time.js';
import { hideAlert, showAlert } from './ui.js';

const REFRESH_MS = 5000;
const WATCHED = ['enrollment.requested', 'enrollment.approved', 'enrollment.rejected', 'certificate.revoked',
  'consent.recorded', 'document.signed', 'invitation.revoked'];

export function startEnrollments(page, tr) {
  const base = `/api/ceremonies/${encodeURIComponent(page.ceremony)}`;
  const body = document.getElementById('keys-body');
  const progress = document.getElementById('sign-progress');
  const alertBox = document.getElementById('keys-alert');
  const venueName = (id) => page.venues.find((v) => v.id === id)?.name ?? id;
  const partyOf = (id) => page.signatories.find((s) => s.id === id)?.party ?? '';
  // Enrollments whose safety code the host has ticked as read aloud: kept across the list's refreshes.
  const heard = new Set();
  let loading = null;
  let again = false;

  function cell(content, className) {
    const td = document.createElement('td');
    if (className) td.className = className;
    td.append(content);
    return td;
  }

  function statusOf(e) {
    return e.status === 'approved' && e.revoked ? 'revoked' : e.status;
  }

  function button(label, className, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `button small ${className}`;
    b.textContent = label;
    b.addEventListener('click', () => onClick(b));
    return b;
  }

  async function act(b, url, payload) {
    b.disabled = true;
    hideAlert(alertBox);
    try {
      await api('POST', url, payload);
      await refresh();
    } catch (err) {
      b.disabled = false;
      showAlert(alertBox, 'error', errorText(err, tr));
      alertBox.focus();
    }
  }

  function row(e) {
    const tr_ = document.createElement('tr');
    tr_.dataset.enrollment = e.id;
    tr_.dataset.fingerprint = e.fingerprint;
    const status = statusOf(e);
    tr_.dataset.status = status;
    const who = document.createElement('div');
    const name = document.createElement('strong');
    name.textContent = e.name?.[page.lang] ?? e.signatory;
    const title = document.createElement('div');
    title.className = 'small muted';
    title.textContent = [e.title?.[page.lang], partyOf(e.signatory), venueName(e.venue)].filter(Boolean).join(' · ');
    who.append(name, title);
    const key = document.createElement('div');
    const code = document.createElement('strong');
    code.className = 'safety-code';
    code.dataset.code = e.safety_code;
    code.textContent = `${e.safety_code.slice(0, 4)} ${e.safety_code.slice(4)}`;
    const fp = document.createElement('code');
    fp.className = 'fingerprint';
    fp.title = e.fingerprint;
    fp.textContent = e.fingerprint.slice(0, 16);
    const device = document.createElement('div');
    device.className = 'small muted device';
    device.title = e.device || '';
    device.textContent = e.device_summary || e.device || '—'; // "Safari 17 on iPad"; the full string on hover
    // Which link the key came through: a signatory link the host issued to itself shows here.
    const link = document.createElement('div');
    link.className = 'small muted link-line';
    link.dataset.invitation = e.invitation.id;
    link.textContent = tr('js.keys.via_link', { label: `${e.invitation.label || '—'} (${e.invitation.id})` });
    key.append(code, fp, device, link);
    if (e.approved_by) {
      const by = document.createElement('div');
      by.className = 'small muted approved-by';
      const who = e.approved_by.invitation ? e.approved_by.label || e.approved_by.actor : tr('js.keys.operator');
      by.textContent = `${tr('js.keys.approved_by', { who })} · ${
        tr(e.code_confirmed ? 'js.keys.code_confirmed' : 'js.keys.code_unconfirmed')}`;
      key.append(by);
    }
    const pill = document.createElement('span');
    pill.className = `pill ${{ approved: 'pill-ok', pending: 'pill-wait' }[status] ?? 'pill-off'}`;
    pill.textContent = tr(`js.keys.status.${status}`);
    if (status === 'rejected' && e.reason) pill.title = e.reason;
    const actions = document.createElement('div');
    actions.className = 'button-row';
    if (status === 'pending') {
      const url = `${base}/enrollments/${encodeURIComponent(e.id)}`;
      // Approve stays disabled until the host ticks that the signatory read this very code aloud.
      const approve = button(tr('js.keys.approve'), 'primary', (b) => act(b, `${url}/approve`, { code_confirmed: true }));
      const check = document.createElement('label');
      check.className = 'code-check';
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.className = 'code-confirmed';
      box.checked = heard.has(e.id);
      const said = document.createElement('span');
      said.textContent = tr('js.keys.code_read');
      check.append(box, said);
      approve.disabled = !box.checked;
      box.addEventListener('change', () => {
        if (box.checked) heard.add(e.id);
        else heard.delete(e.id);
        approve.disabled = !box.checked;
      });
      if (e.invitation.active === false) {
        // The core refuses it anyway; say why instead of offering a button that only fails.
        const warning = document.createElement('div');
        warning.className = 'small link-warning';
        warning.textContent = tr('js.keys.link_revoked');
        actions.append(warning);
      } else {
        code.after(check);  // right under the code it vouches for
        actions.append(approve);
      }
      actions.append(
        button(tr('js.keys.reject'), 'danger-ghost', (b) => {
          const reason = window.prompt(tr('js.keys.reject_reason'));
          if (reason === null) return;
          act(b, `${url}/reject`, { reason: reason.trim() });
        }),
      );
    }
    if (status === 'approved') {
      // A lost or stolen device: its certificate goes on the CRL; what it signed before stays valid.
      const url = `${base}/enrollments/${encodeURIComponent(e.id)}/revoke`;
      actions.append(pill, button(tr('js.keys.revoke'), 'danger-ghost', (b) => {
        const reason = window.prompt(tr('js.keys.revoke_reason'));
        if (reason === null) return;
        act(b, url, { cause: 'key_compromise', reason: reason.trim() });
      }));
    }
    tr_.append(
      cell(who),
      cell(key),
      cell(zonedLines(parseTime(e.requested_at), page.zones, page.lang), 'small'),
      cell(status === 'pending' || status === 'approved' ? actions : pill),
    );
    if (status === 'rejected' && e.reason) {
      const reason = document.createElement('div');
      reason.className = 'small muted';
      reason.textContent = e.reason;
      tr_.lastChild.append(reason);
    }
    if (status === 'pending') actions.prepend(pill);
    return tr_;
  }

  function renderEnrollments(enrollments) {
    const rows = [...enrollments].reverse().map(row);  // newest first
    if (!rows.length) {
      const empty = document.createElement('tr');
      const td = cell(tr('js.keys.none'), 'muted');
      td.colSpan = 4;
      empty.append(td);
      rows.push(empty);
    }
    body.replaceChildren(...rows);
    // The Keys tab says how many wait, whichever tab is open.
    const waiting = enrollments.filter((e) => statusOf(e) === 'pending').length;
    const badge = document.getElementById('keys-pending');
    if (badge) {
      badge.hidden = waiting === 0;
      badge.textContent = tr('js.keys.pending_count', { n: waiting });
    }
  }

  function renderProgress(consents, signatures) {
    const decided = new Map(consents.map((c) => [c.signatory, c.decision]));
    const inPdf = new Set(signatures.map((p) => p.signatory));
    progress.replaceChildren(...page.signatories.map((s) => {
      const li = document.createElement('li');
      const decision = decided.get(s.id);
      const state = decision === undefined ? 'pending' : decision === 'decline' ? 'declined' : 'signed';
      li.dataset.signatory = s.id;
      li.dataset.progress = state;
      const who = document.createElement('span');
      who.textContent = `${s.name} — ${s.party}`;
      const pill = document.createElement('span');
      pill.className = `pill ${{ signed: 'pill-ok', pending: 'pill-wait' }[state] ?? 'pill-off'}`;
      pill.textContent = tr(`js.keys.progress.${state}`);
      li.append(who, pill);
      if (state === 'signed') {
        // Consent first, then the PAdES signature by the same key: the seal waits for both.
        li.dataset.pdf = inPdf.has(s.id) ? 'yes' : 'no';
        const pdf = document.createElement('span');
        pdf.className = `pill ${inPdf.has(s.id) ? 'pill-ok' : 'pill-wait'}`;
        pdf.textContent = tr(inPdf.has(s.id) ? 'js.keys.progress.in_pdf' : 'js.keys.progress.pdf_pending');
        li.append(pdf);
      }
      return li;
    }));
  }

  async function load() {
    const [enrollments, consents, signatures] = await Promise.all([
      api('GET', `${base}/enrollments`), api('GET', `${base}/consents`), api('GET', `${base}/pdf-signatures`),
    ]);
    renderEnrollments(enrollments.enrollments);
    renderProgress(consents.consents, signatures.signatures);
  }

  /** Reload both lists; calls that arrive meanwhile make one more round, not a pile of them. */
  async function refresh() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        try {
          await load();
        } catch {
          // the next event or tick tries again
        }
      } while (again);
    })();
    try {
      await loading;
    } finally {
      loading = null;
    }
  }

  renderProgress([], []);
  refresh();
  setInterval(refresh, REFRESH_MS);
  return {
    onEvent(event) {
      if (WATCHED.includes(event.type)) refresh();
    },
    refresh,
  };
}
