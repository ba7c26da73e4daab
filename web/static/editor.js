// The ceremony editor: a form over the definition JSON (schema: ceremony/definition.py).
// Every input carries its JSON path in data-path, so the server's 400 `fields`
// ("venues[1].name.zh") land next to the input they are about.

import { api, errorText } from './api.js';
import { readData, translator } from './i18n.js';
import { formatIn, fromWallTime, isoOffset, isoWithOffset, knownZone, offsetMinutes, toWallInput } from './time.js';
import { hideAlert, showAlert, wireCopyButtons } from './ui.js';

const page = readData('editor-data');
const tr = translator(page.messages);
const form = document.getElementById('editor');
const alertBox = document.getElementById('editor-alert');
const startLocal = document.getElementById('start-local');
const startZone = document.getElementById('start-zone');
const LISTS = ['venues', 'parties', 'signatories', 'run_of_show', 'document.articles'];
const ID_RE = /^[a-z0-9][a-z0-9-]{0,47}$/;
const CONTROLS = 'input[data-path], select[data-path], textarea[data-path]';
const ROW_DEFAULTS = { run_of_show: { kind: 'remarks', minutes: 5 } };

// ---- paths into plain JSON values ----

function steps(path) {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]));
}

function getPath(value, path) {
  let here = value;
  for (const step of steps(path)) {
    if (here === null || typeof here !== 'object') return undefined;
    here = here[step];
  }
  return here;
}

function setPath(target, path, value) {
  const keys = steps(path);
  let here = target;
  keys.slice(0, -1).forEach((key, i) => {
    if (here[key] === undefined) here[key] = typeof keys[i + 1] === 'number' ? [] : {};
    here = here[key];
  });
  here[keys[keys.length - 1]] = value;
}

// ---- rows ----

const listEl = (name) => form.querySelector(`[data-list="${name}"]`);

function addRow(name, item) {
  const row = document.getElementById(`tpl-${name}`).content.firstElementChild.cloneNode(true);
  listEl(name).append(row);
  for (const el of row.querySelectorAll('input[data-field], select[data-field], textarea[data-field]')) {
    setValue(el, getPath(item ?? {}, el.dataset.field));
  }
  renumber();
  return row;
}

function renumber() {
  for (const name of LISTS) {
    [...listEl(name).children].forEach((row, i) => {
      row.dataset.path = `${name}[${i}]`;
      row.querySelector('[data-row-no]').textContent = String(i + 1);
      for (const el of row.querySelectorAll('[data-field]')) el.dataset.path = `${name}[${i}].${el.dataset.field}`;
    });
  }
}

function setValue(el, value) {
  const text = value === undefined || value === null ? '' : String(value);
  if (el.tagName === 'SELECT' && text && ![...el.options].some((o) => o.value === text)) {
    el.append(new Option(text, text));
  }
  el.value = text;
}

/** The party and venue choices of each signatory follow the rows above them. */
function refreshRefs() {
  const lang = page.lang;
  for (const select of form.querySelectorAll('select[data-ref]')) {
    const current = select.value;
    const options = [new Option(tr('js.choose'), '')];
    for (const row of listEl(select.dataset.ref).children) {
      const id = row.querySelector('[data-field="id"]').value.trim();
      if (!id) continue;
      const name = row.querySelector(`[data-field="name.${lang}"]`)?.value.trim();
      options.push(new Option(name ? `${name} (${id})` : id, id));
    }
    if (current && !options.some((o) => o.value === current)) options.push(new Option(`${current} ?`, current));
    select.replaceChildren(...options);
    select.value = current;
  }
}

// ---- the schedule's start: a wall time in a chosen zone ----

function venueZones() {
  return [...listEl('venues').querySelectorAll('[data-field="timezone"]')]
    .map((el) => el.value.trim())
    .filter((z, i, all) => z && knownZone(z) && all.indexOf(z) === i);
}

function ensureZoneOption(zone) {
  if (![...startZone.options].some((o) => o.value === zone)) startZone.prepend(new Option(zone, zone));
}

function setStart(iso, zonesFirst) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) {
    startLocal.value = '';
    if (zonesFirst[0]) {
      ensureZoneOption(zonesFirst[0]);
      startZone.value = zonesFirst[0];
    }
    return;
  }
  // Show the start in the first venue zone whose offset matches the one written, so that
  // "10:20+09:00" reads as 10:20 Asia/Seoul; the instant is what counts either way.
  const written = isoOffset(iso);
  const candidates = [...zonesFirst, ...[...startZone.options].map((o) => o.value)];
  const zone = candidates.find((z) => knownZone(z) && offsetMinutes(z, date) === written) ?? 'UTC';
  ensureZoneOption(zone);
  startZone.value = zone;
  startLocal.value = toWallInput(date, zone);
}

function startValue() {
  const date = fromWallTime(startLocal.value, startZone.value);
  return date ? isoWithOffset(date, startZone.value) : '';
}

function zoneLabel(zone, date) {
  const known = page.zone_labels?.[zone];
  if (known) return known;
  try {
    const parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'short' }).formatToParts(date);
    return parts.find((p) => p.type === 'timeZoneName')?.value ?? zone;
  } catch {
    return zone;
  }
}

function previewStart() {
  const out = document.getElementById('start-preview');
  const date = fromWallTime(startLocal.value, startZone.value);
  if (!date) {
    out.textContent = '';
    return;
  }
  const zones = [...venueZones().filter((z) => z !== 'UTC'), 'UTC'];
  const text = zones.map((z) => `${formatIn(date, z)} ${zoneLabel(z, date)}`).join(' · ');
  out.textContent = tr('js.start_preview', { times: text });
}

// ---- form <-> definition ----

function fill(definition) {
  clearErrors();
  for (const name of LISTS) listEl(name).replaceChildren();
  for (const el of form.querySelectorAll(CONTROLS)) {
    if (!el.closest('[data-row]')) setValue(el, getPath(definition, el.dataset.path));
  }
  for (const name of LISTS) {
    const items = getPath(definition, name);
    for (const item of Array.isArray(items) ? items : []) addRow(name, item);
  }
  const zones = (Array.isArray(definition.venues) ? definition.venues : []).map((v) => v?.timezone).filter(Boolean);
  setStart(getPath(definition, 'schedule.start'), zones);
  refreshRefs();
  previewStart();
}

function valueOf(el) {
  if (el.dataset.kind === 'int') {
    const text = el.value.trim();
    return /^-?\d+$/.test(text) ? Number(text) : text;
  }
  return el.tagName === 'TEXTAREA' ? el.value.replace(/\s+$/, '') : el.value.trim();
}

function collect() {
  const definition = {
    title: {}, schedule: {}, venues: [], parties: [], signatories: [], run_of_show: [], document: { articles: [] },
  };
  for (const el of form.querySelectorAll(CONTROLS)) setPath(definition, el.dataset.path, valueOf(el));
  definition.schedule.start = startValue();
  return definition;
}

function emptyDefinition() {
  return {
    schedule: { duration_minutes: 60 },
    venues: [{}, {}],
    parties: [{}, {}],
    signatories: [{}, {}],
    run_of_show: [{ kind: 'opening', minutes: 5 }, { kind: 'signing', minutes: 20 }, { kind: 'closing', minutes: 5 }],
    document: { articles: [{}], prevailing_language: 'en' },
  };
}

// ---- checks and their messages beside the fields ----

function validate() {
  const problems = [];
  for (const el of form.querySelectorAll(CONTROLS)) {
    const text = el.value.trim();
    const field = el.dataset.path;
    if (el.hasAttribute('data-required') && !text) problems.push({ field, reason: tr('js.required') });
    else if (el.dataset.kind === 'id' && !ID_RE.test(text)) problems.push({ field, reason: tr('js.bad_id') });
    else if (el.dataset.kind === 'country' && !/^[A-Z]{2}$/.test(text)) {
      problems.push({ field, reason: tr('js.bad_country') });
    } else if (el.dataset.kind === 'int' && text) {
      const n = Number(text);
      const [min, max] = [Number(el.dataset.min), Number(el.dataset.max)];
      if (!Number.isInteger(n) || n < min || n > max) problems.push({ field, reason: tr('js.bad_int', { min, max }) });
    } else if (el.dataset.field === 'timezone' && !knownZone(text)) {
      problems.push({ field, reason: tr('js.bad_zone') });
    }
  }
  if (!startValue()) problems.push({ field: 'schedule.start', reason: tr('js.required') });
  for (const name of LISTS) {
    if (!listEl(name).children.length) problems.push({ field: name, reason: tr('js.needs_row') });
  }
  return problems;
}

function clearErrors() {
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    el.removeAttribute('aria-describedby');
  }
  for (const el of form.querySelectorAll('.has-error')) el.classList.remove('has-error');
}

/** The element a field path names, or its nearest named ancestor ("parties[1]" for "parties[1].x"). */
function findTarget(path) {
  let p = path;
  while (p) {
    const el = form.querySelector(`[data-path="${CSS.escape(p)}"]`);
    if (el) return el;
    const shorter = /^(.*)(\.[^.[\]]+|\[\d+\])$/.exec(p);
    if (!shorter) return null;
    p = shorter[1];
  }
  return null;
}

let errorCount = 0;

function markError(target, reason) {
  const message = document.createElement('p');
  message.className = 'field-error';
  message.id = `field-error-${++errorCount}`;
  message.textContent = reason;
  const control = target.matches('input, select, textarea') ? target : target.matches('label') ? target.querySelector('input, select, textarea') : null;
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    control.setAttribute('aria-describedby', message.id);
    (control.closest('label') ?? control).append(message);
    return control;
  }
  target.classList.add('has-error');
  const heading = target.querySelector(':scope > legend, :scope > h2, :scope > h3');
  if (heading) heading.after(message);
  else target.prepend(message);
  return target;
}

function showProblems(problems, summary) {
  clearErrors();
  let first = null;
  for (const problem of problems) {
    const target = findTarget(problem.field);
    if (!target) continue;
    const marked = markError(target, problem.reason);
    first ??= marked;
  }
  showAlert(alertBox, 'error', summary ?? tr('js.problems', { n: problems.length }), problems);
  if (first) {
    first.scrollIntoView({ block: 'center' });
    if (first.matches('input, select, textarea')) first.focus({ preventScroll: true });
  } else {
    alertBox.focus();
  }
}

// ---- actions ----

form.addEventListener('click', (event) => {
  const add = event.target.closest('[data-add]');
  if (add) {
    const row = addRow(add.dataset.add, ROW_DEFAULTS[add.dataset.add]);
    refreshRefs();
    row.querySelector('input, select, textarea')?.focus();
    return;
  }
  const remove = event.target.closest('[data-remove]');
  if (remove) {
    remove.closest('[data-row]').remove();
    renumber();
    refreshRefs();
    previewStart();
  }
});

form.addEventListener('input', (event) => {
  const el = event.target;
  if (el.getAttribute('aria-invalid')) {
    el.removeAttribute('aria-invalid');
    el.closest('label')?.querySelector('.field-error')?.remove();
  }
  if (el.closest('[data-list="venues"], [data-list="parties"]')) refreshRefs();
  if (el === startLocal || el === startZone || el.dataset.field === 'timezone') previewStart();
});
form.addEventListener('change', (event) => {
  if (event.target === startZone || event.target === startLocal) previewStart();
});

document.getElementById('start-demo')?.addEventListener('click', () => {
  fill(structuredClone(page.demo));
  hideAlert(alertBox);
  showAlert(alertBox, 'info', tr('js.demo_loaded'));
});

document.getElementById('upload').addEventListener('change', async (event) => {
  const file = event.target.files?.[0];
  event.target.value = '';
  if (!file) return;
  let definition;
  try {
    definition = JSON.parse(await file.text());
  } catch (err) {
    showAlert(alertBox, 'error', tr('js.invalid_json', { name: file.name, error: err.message }));
    alertBox.focus();
    return;
  }
  if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) {
    showAlert(alertBox, 'error', tr('js.not_definition', { name: file.name }));
    alertBox.focus();
    return;
  }
  fill(definition);
  showAlert(alertBox, 'info', tr('js.file_loaded', { name: file.name }));
});

document.getElementById('download').addEventListener('click', () => {
  const blob = new Blob([`${JSON.stringify(collect(), null, 2)}\n`], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = page.ceremony ? `ceremony-${page.ceremony}.json` : 'ceremony-definition.json';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const problems = validate();
  if (problems.length) {
    showProblems(problems);
    return;
  }
  const submit = document.getElementById('submit');
  const busy = document.getElementById('editor-busy');
  submit.disabled = true;
  busy.hidden = false;
  hideAlert(alertBox);
  try {
    if (page.mode === 'new') {
      showCreated(await api('POST', '/api/ceremonies', collect()));
    } else {
      await api('PUT', `/api/ceremonies/${encodeURIComponent(page.ceremony)}/definition`, collect());
      location.assign(`/c/${encodeURIComponent(page.ceremony)}/host`);
    }
  } catch (err) {
    if (err.fields?.length) showProblems(err.fields, `${errorText(err, tr)} — ${tr('js.problems', { n: err.fields.length })}`);
    else {
      showAlert(alertBox, 'error', errorText(err, tr));
      alertBox.focus();
    }
  } finally {
    submit.disabled = false;
    busy.hidden = true;
  }
});

function showCreated(created) {
  form.hidden = true;
  for (const el of document.querySelectorAll('.toolbar, .page-head + .muted')) el.hidden = true;
  document.getElementById('host-link').value = created.host_link.url;
  document.getElementById('open-host').href = created.host_link.url;
  const panel = document.getElementById('created');
  panel.hidden = false;
  panel.scrollIntoView({ block: 'start' });
  document.getElementById('host-link').select();
}

// ---- start ----

wireCopyButtons(tr);

async function load() {
  if (page.mode === 'new') {
    fill(emptyDefinition());
    return;
  }
  form.setAttribute('aria-busy', 'true');
  try {
    fill(await api('GET', `/api/ceremonies/${encodeURIComponent(page.ceremony)}/definition`));
  } catch (err) {
    showAlert(alertBox, 'error', errorText(err, tr));
  } finally {
    form.removeAttribute('aria-busy');
  }
}

load();
