// The signing page: a WebCrypto key that never leaves this browser, its enrollment, and the
// signed, timestamped consent (or decline). The server only ever sees the public key and
// signatures (docs/api.md, "Signing: enrollment and consent").

import { ApiError, api, errorText } from './api.js';
import { applyState, segmentTitle } from './ceremony.js';
import { showHex } from './digest.js';
import { readData, translator } from './i18n.js';
import { parseTime, zonedElement } from './time.js';
import { hideAlert, showAlert } from './ui.js';

const page = readData('page-data');
const tr = translator(page.messages);
const $ = (id) => document.getElementById(id);
const base = `/api/ceremonies/${encodeURIComponent(page.ceremony)}`;
const alertBox = $('sign-alert');
const box = $('consent-box');
const signButton = $('sign-button');
const declineButton = $('decline-button');
const declineBox = $('decline-box');
const reasonBox = $('decline-reason');
const REASON_LIMIT = 500;  // ceremony/consent.py REASON_LIMIT: characters (code points), as the server counts
// What ceremony/text.py refuses in text of several lines: control characters (not line feed or tab),
// line and paragraph separators, bidirectional marks, overrides and isolates.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

const view = {
  summary: page.state,
  key: null,          // {pair, spki, fingerprint}
  enrollment: null,   // this key's newest enrollment, as /me lists it
  consent: null,      // the recorded decision, once there is one
  pdf: null,          // this signatory's PAdES signature in the MOU, once there is one
  pdfBusy: false,
  receipt: null,      // GET .../receipt, once the decision (and, for a consent, the PDF signature) is in
  receiptBusy: false,
  texts: {},          // decision -> {text, sha256}: exactly what is shown
  otherDevice: false, // another key of this signatory is approved: that device signs, this one never
  consentElsewhere: null, // a decision recorded with another device's key
  busy: false,
};
window.__signing = { fingerprint: null, enrollment: null, consent: null, ready: false };

// ---- bytes ----

const encoder = new TextEncoder();

function toBase64(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

function toHex(bytes) {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256Hex(bytes) {
  return toHex(await crypto.subtle.digest('SHA-256', bytes));
}

/**
 * The key's safety code, as ceremony/safety.py computes it from the same fingerprint: the first
 * 64 bits of SHA-256(SPKI), modulo 10^8, eight digits read aloud as "4821 0937". The host console
 * shows the code of the key the server logged; when the two agree, that key is this device's.
 */
function safetyCode(fingerprint) {
  const code = (BigInt(`0x${fingerprint.slice(0, 16)}`) % 100000000n).toString().padStart(8, '0');
  return `${code.slice(0, 4)} ${code.slice(4)}`;
}

/**
 * RFC 8785 bytes of an object whose values are all strings: members sorted by their names'
 * UTF-16 code units (what Array.prototype.sort compares), strings as JSON.stringify writes them.
 */
function canonicalBytes(object) {
  const members = Object.keys(object).sort().map((k) => {
    if (typeof object[k] !== 'string') throw new TypeError(`${k} must be a string`);
    return `${JSON.stringify(k)}:${JSON.stringify(object[k])}`;
  });
  return encoder.encode(`{${members.join(',')}}`);
}

/** An ECDSA P-256 / SHA-256 signature: WebCrypto's raw r||s (64 bytes), base64. */
async function signBytes(bytes) {
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, view.key.pair.privateKey, bytes);
  return toBase64(signature);
}

// ---- the key, kept in IndexedDB (the CryptoKeyPair itself; the private key is not extractable) ----

const DB_NAME = 'ceremony-signing';
const STORE = 'keys';

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function dbCall(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const keyName = `${page.ceremony}/${page.signatory}`;

async function loadOrMakeKey() {
  let stored = await dbCall('readonly', (store) => store.get(keyName));
  if (!stored || !stored.pair?.privateKey) {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    const spki = await crypto.subtle.exportKey('spki', pair.publicKey);
    stored = { pair, spki: toBase64(spki), fingerprint: await sha256Hex(spki), created: new Date().toISOString() };
    await dbCall('readwrite', (store) => store.put(stored, keyName));
  }
  // The code comes from the public key itself, digested here, never from what the server says of it.
  const fingerprint = await sha256Hex(Uint8Array.from(atob(stored.spki), (c) => c.charCodeAt(0)));
  return { ...stored, fingerprint, code: safetyCode(fingerprint) };
}

// ---- what the page shows ----

const inSigning = () => page.signing_segments.includes(view.summary.segment) && view.summary.state === 'signing';
const approved = () => view.enrollment?.status === 'approved' && !view.enrollment.revoked;

/** Another device of this signatory is the one in use: this one attempts no consent and no PDF signature. */
const elsewhere = () => !approved() && (view.otherDevice || !!view.consentElsewhere);

function enrollmentStatus() {
  if (!view.enrollment) return 'none';
  if (view.enrollment.status === 'approved' && view.enrollment.revoked) return 'revoked';
  return view.enrollment.status;
}

// ---- status changes, announced: a banner on top, a live region, a vibration where there is one ----

const VIBRATE = { approved: [120], rejected: [300, 100, 300], signing: [120, 80, 120], signed: [200] };
let announced = null;  // what was last seen: nothing is announced until the page knows where it stands
let bannerTimer = null;

function announce(what) {
  const banner = $('status-banner');
  banner.dataset.kind = what;
  banner.textContent = tr(`js.sign.announce.${what}`);
  banner.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { banner.hidden = true; }, 8000);
  try {
    if (typeof navigator.vibrate === 'function') navigator.vibrate(VIBRATE[what]);
  } catch {
    // vibration is a courtesy
  }
}

function watchChanges(status) {
  const now = {
    status,
    signing: inSigning(),
    signed: view.consent?.decision === 'consent',
  };
  if (!view.key || !view.enrollment) return;
  const before = announced;
  announced = now;
  if (!before) return;
  if (now.signed && !before.signed) announce('signed');
  else if (now.status !== before.status && now.status === 'approved') announce('approved');
  else if (now.status !== before.status && (now.status === 'rejected' || now.status === 'revoked')) announce('rejected');
  else if (now.signing && !before.signing && !now.signed) announce('signing');
}

function render() {
  applyState(view.summary, page, tr);
  showDownloads();
  const phase = tr(`state.${view.summary.state}`);
  $('segment-now').textContent = view.summary.segment ? `${phase} — ${segmentTitle(page, view.summary.segment)}` : phase;

  if (view.key) {
    $('key-state').textContent = tr('js.sign.key_here');
    $('key-fingerprint').textContent = view.key.fingerprint;
    $('key-safety-code').textContent = view.key.code;
  }
  const status = enrollmentStatus();
  // While the host decides, the code is what the signatory reads aloud on camera: large, on top.
  $('safety-code').textContent = view.key?.code ?? '';
  $('safety-code').dataset.code = view.key?.code.replace(' ', '') ?? '';
  $('safety-band').hidden = !view.key || status !== 'pending';
  const pill = $('enrollment-state');
  pill.dataset.status = status;
  pill.className = `pill ${{ approved: 'pill-ok', pending: 'pill-wait', none: 'pill-wait' }[status] ?? 'pill-off'}`;
  pill.textContent = tr(`js.sign.enrollment.${status}`);
  const cause = view.enrollment?.cause ?? 'superseded';
  const reasons = { rejected: view.enrollment?.reason || '', revoked: tr(`js.sign.revoked.${cause}`) };
  $('enrollment-reason').textContent = reasons[status] ?? '';
  const away = elsewhere();
  $('elsewhere-note').hidden = !away;
  if (status === 'revoked') $('pdf-retry').hidden = true;  // a revoked key's signature could only be refused

  const decided = !!view.consent || away;
  const textReady = !!view.texts.consent;
  const declining = declineOpen();
  box.disabled = decided || !textReady || view.busy;
  // While the refusal is open, Sign is off: one decision at a time, and never the wrong one by a slip.
  signButton.disabled = decided || view.busy || declining || !approved() || !inSigning() || !box.checked || !textReady;
  declineButton.disabled = decided || view.busy || !approved() || !inSigning() || !view.texts.decline;
  declineBox.hidden = decided || declineButton.disabled || !declining;
  declineButton.setAttribute('aria-expanded', String(!declineBox.hidden));
  $('decline-confirm').disabled = view.busy;
  renderDock();

  window.__signing = {
    fingerprint: view.key?.fingerprint ?? null,
    code: view.key?.code ?? null,
    enrollment: view.enrollment?.id ?? null,
    status,
    consent: view.consent,
    pdf: view.pdf,
    receipt: view.receipt,
    ready: !!view.key && !!view.enrollment,
    elsewhere: away,
  };
  watchChanges(status);
}

// ---- downloads: the signed PDF once this signatory has signed; the record's PDFs once sealed ----

function showDownloads() {
  const signed = !!view.pdf;
  const sealed = view.summary.state === 'sealed';
  $('signed-download').hidden = !signed;
  $('record-signed-download').hidden = !sealed;
  $('completion-download').hidden = !sealed;
  $('downloads').hidden = !signed && !sealed;
}

/**
 * Where the signatory stands: the hint's key, the step reached on the bar (approval, approved, sign,
 * done), and the one primary action (read, retry, sign, download, receipt, or none).
 */
function standing() {
  const sealed = view.summary.state === 'sealed';
  const declined = view.consent?.decision === 'decline';
  if (declined && sealed) return { hint: 'sealed', step: 'done', action: 'record', declined, off: true };
  if (declined) return { hint: 'declined', step: 'done', action: 'receipt', declined, off: true };
  if (view.consent && sealed) return { hint: 'sealed', step: 'done', action: 'record' };
  if (view.consent) return view.pdf
    ? { hint: 'signed', step: 'done', action: 'signed' }
    : { hint: 'signing_pdf', step: 'done', action: null };
  if (sealed) return { hint: 'sealed', step: 'approval', action: 'record', off: true };
  if (!view.summary.document_sha256) return { hint: 'not_frozen', step: 'approval', action: 'read' };
  if (elsewhere()) return { hint: 'elsewhere', step: 'approval', action: 'read', off: true };
  if (!view.key) return { hint: 'key', step: 'approval', action: 'read' };
  if (!view.enrollment || view.enrollment.status === 'pending') return { hint: 'pending', step: 'approval', action: 'read' };
  if (!approved()) return { hint: 'rejected', step: 'approval', action: 'retry', off: true };
  if (!inSigning()) return { hint: 'wait_segment', step: 'approved', action: 'read' };
  if (declineOpen()) return { hint: 'declining', step: 'sign', action: 'sign' };
  return { hint: box.checked ? 'ready' : 'tick', step: 'sign', action: 'sign' };
}

const STEPS = ['approval', 'approved', 'sign', 'done'];

function renderDock() {
  const now = standing();
  const dock = $('sign-dock');
  dock.dataset.step = now.step;
  dock.dataset.hint = now.hint;
  dock.dataset.off = now.off ? 'true' : 'false';
  const reached = STEPS.indexOf(now.step);
  for (const item of document.querySelectorAll('#steps .sign-step')) {
    const index = STEPS.indexOf(item.dataset.step);
    // The last step is "reached" (not current) once signed: nothing is left to do there.
    const finished = index < reached || (now.step === 'done' && now.hint !== 'signing_pdf');
    item.classList.toggle('step-done', finished);
    // The last step names the decision: "Signed", or "Declined" for a refusal.
    const declined = item.dataset.step === 'done' && !!now.declined;
    item.classList.toggle('step-declined', declined);
    if (item.dataset.step === 'done') {
      item.querySelector('.step-label').textContent = tr(declined ? 'js.sign.step.declined' : 'js.sign.step.done');
    }
    if (index === reached && !finished) item.setAttribute('aria-current', 'step');
    else item.removeAttribute('aria-current');
  }
  const line = $('sign-hint');
  line.dataset.hint = now.hint;
  line.textContent = tr(`js.sign.hint.${now.hint}`);
  $('read-button').hidden = now.action !== 'read';
  $('retry-enroll').hidden = now.action !== 'retry';
  $('sign-actions').hidden = now.action !== 'sign';
  $('dock-receipt').hidden = now.action !== 'receipt';
  const download = $('dock-download');
  download.hidden = now.action !== 'signed' && now.action !== 'record';
  if (!download.hidden) {
    const record = now.action === 'record';
    download.href = (record ? $('record-signed-download') : $('signed-download')).getAttribute('href');
    download.textContent = tr(record ? 'js.sign.dock.record_pdf' : 'js.sign.dock.signed_pdf');
  }
}

function showConfirmation(consent) {
  view.consent = consent;
  $('confirmation-title').textContent = tr(consent.decision === 'decline' ? 'js.sign.declined' : 'js.sign.signed');
  $('tsa-time').replaceChildren(zonedElement(parseTime(consent.timestamp), page.zones, true));
  $('confirmation-serial').textContent = consent.certificate_serial;
  const reason = consent.statement?.reason;
  $('confirmation-reason').hidden = !reason;
  $('confirmation-reason-text').textContent = reason ?? '';
  $('confirmation').hidden = false;
  box.checked = consent.decision === 'consent';
  render();
}

// ---- the PAdES signature: right after consent, this key signs the MOU PDF itself ----

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function showPdf(state, detail) {
  const line = $('pdf-state');
  line.dataset.state = state;
  line.textContent = tr(`js.sign.pdf.${state}`, detail ?? {});
  $('pdf-time').replaceChildren(view.pdf ? zonedElement(parseTime(view.pdf.timestamp), page.zones, true) : '');
  $('pdf-retry').hidden = state !== 'failed' || enrollmentStatus() === 'revoked';
  $('pdf-box').hidden = false;
  showDownloads();  // the signed PDF is downloadable from the moment it is in
  if (view.key) renderDock();  // and the dock's action becomes that download
}

async function signPdf() {
  // Only the device whose key is approved signs: a rejected or replaced one would hold the signing turn.
  if (view.pdfBusy || view.pdf || view.consent?.decision !== 'consent' || !approved()) return;
  view.pdfBusy = true;
  showPdf('working');
  try {
    // The server queues signatories (each signs the revision the previous one made); this waits its turn.
    const prepared = await api('POST', `${base}/pdf-signatures`, {});
    const signature = await signBytes(fromBase64(prepared.to_sign));
    view.pdf = await api('POST', `${base}/pdf-signatures/${encodeURIComponent(prepared.session)}`, { signature });
    showPdf('done', { field: view.pdf.field });
    loadReceipt();
  } catch (err) {
    if (err instanceof ApiError && err.code === 'signing_in_progress') {
      // This key's own earlier session (cut off by a reload) holds the turn until it lapses: wait, look again.
      showPdf('working');
      setTimeout(() => refreshMe().catch(() => {}), 5000);
    } else {
      showPdf('failed');
      fail(err);
    }
  } finally {
    view.pdfBusy = false;
    window.__signing = { ...window.__signing, pdf: view.pdf };
  }
}

// ---- the receipt: what this signatory keeps, to hold the sealed record against later ----

/** The receipt route's refusals, in the page's language (the server's reason is English). */
function receiptErrorText(err) {
  if (!(err instanceof ApiError)) return tr('js.unexpected');
  if (err.status === 0) return tr('js.network');
  if (err.status === 401 || err.status === 403) return tr('js.sign.receipt.access');
  if (err.status === 404) return tr('js.sign.receipt.not_found');
  if (err.code === 'not_decided') return tr('js.sign.receipt.not_decided');
  return tr('js.sign.receipt.failed', { status: err.status });
}

/** Whether the receipt is complete: a decline at once, a consent once its PDF signature is in. */
const receiptDue = () => !!view.consent && (view.consent.decision === 'decline' || !!view.pdf);

function showReceipt(receipt) {
  view.receipt = receipt;
  const pdf = receipt.pdf_signature;
  $('receipt-sha-row').hidden = !pdf;
  showHex($('receipt-sha'), pdf?.sha256 ?? '');
  showHex($('receipt-key'), receipt.key.fingerprint);
  // The PDF signature's timestamp when there is one (the consent's own time is shown above).
  const time = pdf?.timestamp ?? receipt.timestamps[0]?.time;
  $('receipt-time').replaceChildren(time ? zonedElement(parseTime(time), page.zones, true) : '');
  $('receipt-body').hidden = false;
  $('receipt').hidden = false;
}

async function loadReceipt() {
  if (view.receiptBusy || !receiptDue()) return view.receipt;
  if (view.receipt && (view.receipt.pdf_signature || view.consent.decision === 'decline')) return view.receipt;
  view.receiptBusy = true;
  try {
    showReceipt(await api('GET', `${base}/receipt`));
    hideAlert($('receipt-alert'));
  } catch (err) {
    // The panel still appears, with the reason and the button to try again.
    showAlert($('receipt-alert'), 'error', receiptErrorText(err));
    $('receipt').hidden = false;
  } finally {
    view.receiptBusy = false;
    window.__signing = { ...window.__signing, receipt: view.receipt };
  }
  return view.receipt;
}

/** Save the receipt as a file: made here from the JSON already fetched, so no second request can differ. */
function saveReceipt(receipt) {
  const file = `receipt-${page.ceremony}-${page.signatory}.json`;
  const blob = new Blob([`${JSON.stringify(receipt, null, 2)}\n`], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = file;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later, not at once: some browsers read the blob after click() has returned.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  $('receipt-saved').textContent = tr('js.sign.receipt.saved', { file });
}

$('receipt-download').addEventListener('click', async () => {
  const receipt = view.receipt ?? (await loadReceipt());
  if (receipt) saveReceipt(receipt);
});

$('pdf-retry').addEventListener('click', () => {
  hideAlert(alertBox);
  signPdf();
});

/** Say what went wrong in the page's language; the server's English reason follows as marked technical detail. */
function fail(err) {
  const key = err instanceof ApiError ? `js.error.${err.code}` : null;
  if (key && err.status !== 0 && tr(key) !== key) {
    const access = err.status === 401 || err.status === 403 ? ` — ${tr('js.access')}` : '';
    showAlert(alertBox, 'error', `${tr(key)}${access}`, [], err.reason);
  } else {
    showAlert(alertBox, 'error', errorText(err, tr));
  }
  alertBox.focus();
}

// ---- enrollment ----

async function refreshMe() {
  const me = await api('GET', `${base}/me`);
  const mine = me.enrollments.filter((e) => e.fingerprint === view.key.fingerprint);
  const standing = mine.filter((e) => e.status === 'pending' || (e.status === 'approved' && !e.revoked));
  view.enrollment = standing.at(-1) ?? mine.at(-1) ?? null;
  if (me.segment !== undefined) view.summary = { ...view.summary, segment: me.segment, state: me.state };
  view.otherDevice = me.enrollments.some(
    (e) => e.fingerprint !== view.key.fingerprint && e.status === 'approved' && !e.revoked,
  );
  // A decision is this device's when its certificate is one this key was given.
  const serials = new Set(mine.map((e) => e.serial).filter(Boolean));
  const here = !!me.consent && serials.has(me.consent.certificate_serial);
  view.consentElsewhere = me.consent && !here ? me.consent : null;
  if (here && !view.consent) showConfirmation(me.consent);
  if (here && me.pdf_signature && !view.pdf) {
    view.pdf = me.pdf_signature;
    showPdf('done', { field: view.pdf.field });
  }
  render();
  loadReceipt();
  // Consented (perhaps before a reload) but not yet in the PDF: finish the job with this key,
  // unless it was revoked meanwhile (the server would refuse; the key's status says why).
  if (here && me.consent.decision === 'consent' && !me.pdf_signature && approved()) signPdf();
  return mine;
}

async function enroll() {
  const { challenge } = await api('POST', `${base}/challenges`, { purpose: 'enrollment' });
  const message = canonicalBytes({
    type: 'ceremony-enrollment/1',
    ceremony: page.ceremony,
    signatory: page.signatory,
    challenge,
    public_key: view.key.spki,
  });
  view.enrollment = await api('POST', `${base}/enrollments`, {
    public_key: view.key.spki, challenge, signature: await signBytes(message),
  });
  render();
}

let polling = null;
function pollWhilePending() {
  if (polling) return;
  polling = setInterval(async () => {
    // While pending, and while a rejected or replaced key waits to learn which device is in use
    // (the signatory's stream does not carry other keys' approvals).
    const waiting = view.enrollment?.status === 'pending' || (!approved() && !view.consent && !elsewhere());
    if (!waiting) {
      clearInterval(polling);
      polling = null;
      return;
    }
    try {
      await refreshMe();
    } catch {
      // a dropped request: the next round tries again
    }
  }, 2000);
}

$('retry-enroll').addEventListener('click', async () => {
  hideAlert(alertBox);
  try {
    await enroll();
    pollWhilePending();
  } catch (err) {
    fail(err);
  }
});

// ---- the decision ----

async function decide(decision, reason = null) {
  if (view.busy) return;
  view.busy = true;
  hideAlert(alertBox);
  render();
  try {
    const shown = view.texts[decision];
    const { challenge } = await api('POST', `${base}/challenges`, { purpose: 'consent' });
    const statement = {
      type: 'ceremony-consent/1',
      decision,
      ceremony: page.ceremony,
      document_sha256: view.summary.document_sha256,
      consent_text_sha256: await sha256Hex(encoder.encode(shown.text)),
      language: page.lang,
      party: page.party,
      signatory: page.signatory,
      venue: page.venue,
      challenge,
      client_time: new Date().toISOString(),
    };
    // A refusal carries the signatory's reason ("" when none): signed with the rest, so it cannot be changed.
    if (decision === 'decline') statement.reason = reason ?? '';
    const signature = await signBytes(canonicalBytes(statement));
    const consent = await api('POST', `${base}/consents`, { statement, signature });
    view.busy = false;
    showConfirmation(consent);
    if (decision === 'consent') signPdf();  // no second click: the consent is what authorises it
    else loadReceipt();
  } catch (err) {
    if (await landedAfterAll(err)) {
      view.busy = false;
      if (view.consent.decision === 'consent') signPdf();
      else loadReceipt();
    } else {
      fail(err);
    }
  } finally {
    view.busy = false;
    render();
  }
}

// A decision sent without an answer (the server, or the node behind the balancer, went away
// mid-request) may have been recorded all the same. Ask before saying it failed: then pressing
// Sign again is never a second decision, and a recorded one goes straight on to the PDF.
async function landedAfterAll(err) {
  if (!(err instanceof ApiError) || (err.status !== 0 && err.status < 500)) return false;
  for (const pause of [500, 1500, 3000]) {
    await new Promise((resolve) => setTimeout(resolve, pause));
    try {
      await refreshMe();
      return !!view.consent;
    } catch {
      // still no answer (the balancer has not taken the dead node out yet): ask again
    }
  }
  return false;
}

box.addEventListener('change', render);
signButton.addEventListener('click', () => decide('consent'));

// ---- declining: a secondary action that opens a form of its own (and turns Sign off while open) ----

function declineOpen() {
  return declineBox.dataset.open === 'true';
}

function setDecline(open) {
  declineBox.dataset.open = String(open);
  render();
  if (open) {
    declineBox.scrollIntoView({ block: 'nearest' });
    reasonBox.focus();
  } else {
    declineButton.focus();
  }
}

/** The reason as it will be signed, or null (with the form saying why) when the server would refuse it. */
function checkedReason() {
  const reason = reasonBox.value.trim();
  const error = $('decline-reason-error');
  let problem = null;
  if ([...reason].length > REASON_LIMIT) problem = tr('js.sign.reason_too_long', { limit: REASON_LIMIT });
  else if (UNSAFE.test(reason)) problem = tr('js.sign.reason_unsafe');
  error.textContent = problem ?? '';
  error.hidden = !problem;
  reasonBox.setAttribute('aria-invalid', String(!!problem));
  return problem ? null : reason;
}

function countReason() {
  $('decline-count').textContent = tr('js.sign.reason_count', { count: [...reasonBox.value].length, limit: REASON_LIMIT });
}

declineButton.addEventListener('click', () => setDecline(!declineOpen()));
$('decline-cancel').addEventListener('click', () => setDecline(false));
reasonBox.addEventListener('input', () => {
  countReason();
  if (!$('decline-reason-error').hidden) checkedReason();
});
declineBox.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') setDecline(false);
});
declineBox.addEventListener('submit', (event) => {
  event.preventDefault();
  const reason = checkedReason();
  if (reason === null) {
    reasonBox.focus();
    return;
  }
  decide('decline', reason);
});
countReason();

// ---- the MOU: folded by default, opened by its own button or by the dock's "Read the MOU" ----

function setMou(open) {
  $('mou-body').hidden = !open;
  $('mou-toggle').setAttribute('aria-expanded', String(open));
  $('read-button').setAttribute('aria-expanded', String(open));
}

$('mou-toggle').addEventListener('click', () => setMou($('mou-body').hidden));
$('read-button').addEventListener('click', () => {
  setMou(true);
  const card = $('mou-card');
  // Below the sticky dock, not under it.
  card.style.scrollMarginTop = `${$('sign-dock').offsetHeight + 12}px`;
  card.scrollIntoView({ block: 'start' });
  $('doc-title').focus({ preventScroll: true });
});
$('dock-receipt').addEventListener('click', () => $('receipt-download').click());

// ---- the ceremony, live ----

function follow() {
  const source = new EventSource(`${base}/stream`);
  source.addEventListener('revoked', () => source.close()); // link revoked or signed out: a retry would be refused
  source.addEventListener('ceremony', (message) => {
    const { event, state } = JSON.parse(message.data);
    view.summary = state;
    if (event.type === 'ceremony.cancelled') {
      $('cancel-reason-text').textContent = event.data?.reason ?? '';
      $('cancelled-note').hidden = false;
    }
    // Frozen while this page was open: the page shows the frozen document only after a reload.
    if (event.type === 'ceremony.frozen' && !frozenAtLoad) location.reload();
    if (event.type === 'consent.recorded' && event.data?.signatory === page.signatory && view.key && !view.consent) {
      refreshMe().catch(() => {});
    }
    render();
  });
  return source;
}

async function loadTexts() {
  const q = (decision) => `${base}/consent-text?lang=${encodeURIComponent(page.lang)}&decision=${decision}`;
  const [consent, decline] = await Promise.all([api('GET', q('consent')), api('GET', q('decline'))]);
  view.texts = { consent, decline };
  const shown = $('consent-text');
  shown.textContent = consent.text;
  shown.removeAttribute('aria-busy');
  $('decline-text').textContent = decline.text;
}

const frozenAtLoad = !!page.state.document_sha256;

async function start() {
  render();
  follow();
  if (!frozenAtLoad) return;  // nothing to consent to yet; the hint says so
  try {
    await loadTexts();
    view.key = await loadOrMakeKey();
    render();
    // A key this page already enrolled keeps its enrollment; a rejected or revoked one asks again
    // only when the signatory presses the button.
    const mine = await refreshMe();
    if (!mine.length && !view.consent) await enroll();
    pollWhilePending();
  } catch (err) {
    fail(err);
  }
  render();
}

start();
