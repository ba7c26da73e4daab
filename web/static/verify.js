// The verify page: send a record zip to POST /api/verify, showing the upload's progress, then the report.
// XMLHttpRequest, not fetch: fetch reports no upload progress, and a record can be tens of MiB.

import { readData, translator } from './i18n.js';
import { hideAlert, showAlert } from './ui.js';

const page = readData('page-data');
// js.error.<code> for refusals the verify page has no words of its own for.
const tr = translator({ ...(readData('error-messages') ?? {}), ...page.messages });
const $ = (id) => document.getElementById(id);

const input = $('record-file');
const zone = $('drop-zone');
const alertBox = $('verify-alert');

/** 1536 -> "1.5 KiB", as the server writes sizes. */
function sizeText(size) {
  if (size < 1024) return `${size} B`;
  let value = size;
  for (const unit of ['KiB', 'MiB', 'GiB']) {
    value /= 1024;
    if (value < 1024 || unit === 'GiB') return `${value.toFixed(1).replace(/\.0$/, '')} ${unit}`;
  }
  return `${size} B`;
}

function setBusy(busy) {
  input.disabled = busy;
  zone.classList.toggle('busy', busy);
  $('upload').hidden = !busy;
}

function showProgress(done, total) {
  const percent = total ? Math.floor((done / total) * 100) : 0;
  const bar = $('upload-progress');
  bar.max = 100;
  bar.value = percent;
  $('upload-text').textContent = tr('js.verify.uploading', {
    percent, done: sizeText(done), total: sizeText(total),
  });
}

function showChecking() {
  // The bytes are sent; the server is verifying, which has no progress to report.
  $('upload-progress').removeAttribute('value');
  $('upload-text').textContent = tr('js.verify.checking');
}

/** What to trust and when: ?trust= (a root fingerprint other than this server's), ?at= (a date, UTC). */
function query() {
  const params = new URLSearchParams();
  const trust = $('trust').value.replace(/[\s:]/g, '').toLowerCase();
  if (trust) params.set('trust', trust);
  if ($('at').value) params.set('at', `${$('at').value}T00:00:00Z`);
  return params.toString() ? `?${params}` : '';
}

function optionsProblem() {
  const trust = $('trust').value.replace(/[\s:]/g, '');
  return trust && !/^[0-9a-fA-F]{64}$/.test(trust) ? tr('js.verify.bad_fingerprint') : null;
}

/** POST the file; resolves to {status, body} (body null if not JSON); status 0 if no answer came. */
function send(file) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/verify${query()}`);
    xhr.setRequestHeader('Content-Type', 'application/zip');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (event) => {
      showProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    });
    xhr.upload.addEventListener('load', showChecking);
    xhr.addEventListener('load', () => resolve({ status: xhr.status, body: xhr.response }));
    xhr.addEventListener('error', () => resolve({ status: 0, body: null }));
    xhr.addEventListener('abort', () => resolve({ status: 0, body: null }));
    xhr.send(file);
  });
}

/** What to say about a refused upload: in the page's language by the error's code; the server's English
 * reason only as technical detail beside it (marked lang="en"), never inside the sentence. */
function failure(status, body) {
  if (status === 0) return { text: tr('js.network'), detail: null };
  const code = body?.error;
  const detail = body?.reason ? { code: code ?? String(status), reason: body.reason } : null;
  const own = { busy: 'js.verify.busy', too_large: 'js.verify.too_large_server', unsupported_encoding: 'js.verify.encoding',
    too_slow: 'js.verify.too_slow', too_many_requests: 'js.verify.too_many' }[code];
  if (own) return { text: tr(own), detail };
  const key = `js.error.${code}`;
  const said = code && tr(key) !== key ? tr(key) : tr('js.http', { status });
  // "Not a record" and "bad request" say all there is; anything else: "this file cannot be checked: ...".
  const whole = code === 'not_a_record' || code === 'bad_request';
  return { text: whole ? said : tr('js.verify.failed', { reason: said }), detail };
}

function showFailure({ text, detail }) {
  showAlert(alertBox, 'error', text);
  if (!detail) return;
  const line = document.createElement('p');
  line.className = 'technical-detail muted small';
  line.lang = 'en';
  const label = document.createElement('span');
  label.lang = document.documentElement.lang;
  label.textContent = `${tr('js.verify.technical_detail')}:`;
  const code = document.createElement('code');
  code.textContent = detail.code;
  line.append(label, ' ', code, ` — ${detail.reason}`);
  alertBox.append(line);
}

async function verify(file) {
  hideAlert(alertBox);
  $('report').hidden = true;
  const problem = optionsProblem();
  if (problem) {
    showAlert(alertBox, 'error', problem);
    return;
  }
  if (file.size > page.limit) {
    const values = { name: file.name, size: sizeText(file.size), limit: sizeText(page.limit) };
    showAlert(alertBox, 'error', tr('js.verify.too_large', values));
    return;
  }
  $('upload-name').textContent = file.name;
  $('upload-size').textContent = sizeText(file.size);
  showProgress(0, file.size);
  setBusy(true);
  let answer;
  try {
    answer = await send(file);
  } finally {
    setBusy(false);
    input.value = '';  // choosing the same file again should verify it again
  }
  if (answer.status !== 200 || !answer.body) {
    showFailure(failure(answer.status, answer.body));
    return;
  }
  showReport(answer.body);
}

function badge(ok) {
  const span = document.createElement('span');
  span.className = `verdict verdict-${ok ? 'pass' : 'fail'}`;
  span.textContent = tr(ok ? 'js.verify.pass' : 'js.verify.fail');
  return span;
}

/** A check's name in the page's language (js.verify.check.<name>), its stable id beside it in small print. */
function checkName(check) {
  const key = `js.verify.check.${check.name}`;
  const name = document.createElement('span');
  name.className = 'check-name';
  const id = document.createElement('code');
  id.className = 'check-id muted small';
  id.textContent = check.name;
  if (tr(key) === key) {
    name.append(id);
  } else {
    name.append(tr(key), ' ', id);
  }
  return name;
}

/** The verifier's English detail: secondary text, marked so (lang="en", small print). */
function checkDetail(check) {
  const detail = document.createElement('span');
  detail.className = 'check-detail muted small';
  detail.lang = 'en';  // the verifier reports in English, whatever the page language
  detail.title = tr('js.verify.detail_label');
  detail.textContent = check.detail;
  return detail;
}

function checkRow(check) {
  const row = document.createElement('tr');
  row.className = check.ok ? 'check-pass' : 'check-fail';
  row.dataset.check = check.name;
  const subject = document.createElement('code');
  subject.textContent = check.subject;
  for (const content of [badge(check.ok), checkName(check), subject, checkDetail(check)]) {
    const td = document.createElement('td');
    td.append(content);
    row.append(td);
  }
  return row;
}

const SIGNED_PDF = 'mou-signed.pdf';
// record.manifest's detail names the file that differs first: "mou-signed.pdf is not the file the manifest names".
const namesSignedPdf = (detail) => detail.startsWith(`${SIGNED_PDF} `) || detail.startsWith(`${SIGNED_PDF}:`);

/** Failed checks that all follow from one cause, so that it is said once, in the page's language.
 *
 * A PDF whose bytes differ from the frozen original or the sealed PDF (pdf.original, pdf.sealed, or the
 * manifest naming mou-signed.pdf) makes every PDF signature, time-stamp and the layout fail too: that is
 * "the PDF was changed after signing", not a forged signature or an untrusted certificate.
 */
function causes(checks) {
  const failed = checks.filter((c) => !c.ok);
  const changed = failed.some((c) => c.name === 'pdf.original' || c.name === 'pdf.sealed'
    || (c.name === 'record.manifest' && namesSignedPdf(c.detail)));
  if (!changed) return [];
  const grouped = failed.filter((c) => c.name.startsWith('pdf.')
    || (c.name === 'record.manifest' && namesSignedPdf(c.detail)));
  const signatures = grouped.filter((c) => c.name === 'pdf.signature' || c.name === 'pdf.timestamp');
  return [{ cause: 'pdf_changed', checks: grouped, signatures, evidence: grouped.filter((c) => !signatures.includes(c)) }];
}

function causeItem(check) {
  const li = document.createElement('li');
  li.dataset.check = check.name;
  const subject = document.createElement('code');
  subject.textContent = check.subject;
  li.append(checkName(check), ' — ', subject, document.createElement('br'), checkDetail(check));
  return li;
}

function causeBox(group) {
  const box = document.createElement('section');
  box.className = 'alert alert-error report-cause';
  box.dataset.cause = group.cause;
  const headline = document.createElement('h3');
  headline.className = 'cause-headline';
  headline.textContent = tr(`js.verify.cause.${group.cause}`);
  const help = document.createElement('p');
  help.textContent = tr(`js.verify.cause.${group.cause}_help`);
  box.append(headline, help);
  for (const [key, list] of [['js.verify.cause.signatures', group.signatures], ['js.verify.cause.evidence', group.evidence]]) {
    if (!list.length) continue;
    const title = document.createElement('p');
    title.className = 'strong';
    title.textContent = tr(key, { n: list.length });
    // An ol: an alert's ul scrolls within 14rem, and these lists are read in full.
    const ol = document.createElement('ol');
    ol.className = 'cause-checks';
    ol.style.overflowWrap = 'anywhere';  // hashes in the details wrap on a phone
    ol.append(...list.map(causeItem));
    box.append(title, ol);
  }
  return box;
}

function showSummary(report) {
  const total = report.checks.length;
  const failed = report.checks.filter((c) => !c.ok).length;
  const box = $('report-summary');
  if (report.ok) {
    showAlert(box, 'success', tr('js.verify.all_passed', { n: total }));
  } else if (total === 0) {
    showAlert(box, 'error', tr('js.verify.no_checks'));
  } else {
    showAlert(box, 'error', tr('js.verify.some_failed', { failed, total }));
  }
}

function showReport(report) {
  showSummary(report);
  const named = $('report-ceremony');
  named.hidden = !report.ceremony;
  if (report.ceremony) {
    const title = report.ceremony.title?.[page.lang] || report.ceremony.title?.en || '';
    named.textContent = tr('js.verify.ceremony', { title, id: report.ceremony.id });
  }
  $('report-fingerprint').textContent = report.root_ca_fingerprint || '';
  const under = report.root_ca_fingerprint === page.root ? 'js.verify.under_ours' : 'js.verify.under_named';
  $('report-when').textContent = `${tr('js.verify.as_of', { time: report.verified_at || '' })} ${tr(under)}`;
  const none = $('report-no-fingerprint');
  none.hidden = !!report.root_ca_fingerprint;
  none.textContent = tr('js.verify.no_fingerprint');
  // A cause first, with the failures that follow from it under it; then the other failures, then the passes,
  // each in the verifier's order: what needs attention is at the top.
  const groups = causes(report.checks);
  $('report-causes').replaceChildren(...groups.map(causeBox));
  const explained = new Set(groups.flatMap((g) => g.checks));
  const failed = report.checks.filter((c) => !c.ok && !explained.has(c));
  const ordered = [...failed, ...report.checks.filter((c) => c.ok)];
  $('report-checks').tBodies[0].replaceChildren(...ordered.map(checkRow));
  $('report').hidden = false;
  $('report').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

function pick(files) {
  if (!files || files.length === 0) return;
  if (files.length > 1) {
    showAlert(alertBox, 'error', tr('js.verify.one_file'));
    return;
  }
  verify(files[0]);
}

input.addEventListener('change', () => {
  const files = [...(input.files || [])];
  input.value = '';  // so that choosing the same file again (after fixing the fingerprint, say) checks it again
  pick(files);
});
for (const type of ['dragenter', 'dragover']) {
  zone.addEventListener(type, (event) => {
    event.preventDefault();
    if (!input.disabled) zone.classList.add('dragging');
  });
}
zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
zone.addEventListener('drop', (event) => {
  event.preventDefault();
  zone.classList.remove('dragging');
  if (!input.disabled) pick(event.dataTransfer?.files);
});
// A file dropped beside the zone would otherwise replace the page with the zip.
for (const type of ['dragover', 'drop']) window.addEventListener(type, (event) => event.preventDefault());
