// The ceremony editor: a form over the definition JSON (schema: ceremony/definition.py).
// Every input carries its JSON path in data-path, so the server's 400 `fields`
// ("venues[1].name.zh") land next to the input they are about.

import { api, errorText } from './api.js';
import { readData, translator } from './i18n.js';
import { formatIn, fromWallTime, isoOffset, isoWithOffset, knownZone, offsetMinutes, toWallInput } from './time.js';
import { entries, makeSayer } from './editor-problems.js';
import { hideAlert, showAlert, wireCopyButtons } from './ui.js';

const page = readData('editor-data');
const tr = translator(page.messages);
const form = document.getElementById('editor');
const alertBox = document.getElementById('editor-alert');
const startLocal = document.getElementById('start-local');
const startZone = document.getElementById('start-zone');
const LISTS = ['venues', 'parties', 'signatories', 'run_of_show', 'document.articles'];
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
  wireHelp(row);
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
  updateCounts();
}

function setValue(el, value) {
  if (el.type === 'checkbox') {
    el.checked = value === true; // a JSON bool ("recording"); anything else reads as off
    return;
  }
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
    updateCounter(el);
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
  for (const el of form.querySelectorAll(CONTROLS)) {
    // A box left unticked is left out: the definition's default (off), as the server writes it too.
    if (el.type === 'checkbox') {
      if (el.checked) setPath(definition, el.dataset.path, true);
    } else setPath(definition, el.dataset.path, valueOf(el));
  }
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

// ---- limits shown before anything is sent: counters, allowed counts (numbers from ceremony/definition.py) ----

let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;
const chars = (text) => [...text].length; // code points, as the server counts

/** Give the counters and hints in `root` ids, and describe their controls by them. */
function wireHelp(root) {
  for (const help of root.querySelectorAll('[data-counter], [data-hint]')) {
    help.id ||= nextId('help');
    const control = help.closest('.field-box').querySelector('input, select, textarea');
    control.dataset.help = help.id;
    control.setAttribute('aria-describedby', help.id);
    if (help.hasAttribute('data-counter')) updateCounter(control);
  }
}

function updateCounter(control) {
  const counter = control.dataset.help && document.getElementById(control.dataset.help);
  if (!counter?.hasAttribute('data-counter')) return;
  const max = Number(control.getAttribute('maxlength'));
  const n = chars(control.value);
  counter.textContent = tr('js.def.counter', { n, max });
  counter.classList.toggle('near', n >= max * 0.9);
}

function updateCounts() {
  for (const note of form.querySelectorAll('[data-count-note]')) {
    const name = note.dataset.countNote;
    const [n, min, max] = [listEl(name).children.length, Number(note.dataset.min), Number(note.dataset.max)];
    const text = tr('js.def.count_note', { n, min, max });
    if (note.textContent !== text) note.textContent = text;
    form.querySelector(`[data-add="${name}"]`).disabled = n >= max;
  }
}

// ---- the page's own checks: the server's rules, said the same way (the server stays the authority) ----

const ID_SHAPE = /^[a-z0-9][a-z0-9-]*$/; // its length is the input's maxlength (the server's limit)
const rowsOf = (name) => [...listEl(name).children];
const fieldOf = (row, name) => row.querySelector(`[data-field="${name}"]`);

function checkControl(el, problems) {
  const text = el.tagName === 'TEXTAREA' ? el.value.replace(/\s+$/, '') : el.value.trim();
  const field = el.dataset.path;
  const max = Number(el.getAttribute('maxlength')) || Infinity;
  if (el.hasAttribute('data-required') && !text) problems.push({ field, code: 'required' });
  else if (el.dataset.kind === 'id' && !(ID_SHAPE.test(text) && chars(text) <= max)) {
    problems.push({ field, code: 'bad_id', max });
  } else if (el.dataset.kind === 'country' && !/^[A-Z]{2}$/.test(text)) problems.push({ field, code: 'bad_country' });
  else if (el.dataset.kind === 'zone' && !knownZone(text)) problems.push({ field, code: 'bad_zone' });
  else if (el.dataset.kind === 'int') {
    const [low, high] = [Number(el.min), Number(el.max)];
    const n = Number(text);
    if (!/^-?\d+$/.test(text) || n < low || n > high) problems.push({ field, code: 'bad_number', min: low, max: high });
  } else if (chars(text) > max) problems.push({ field, code: 'too_long', max });
}

function checkLists(problems) {
  for (const note of form.querySelectorAll('[data-count-note]')) {
    const name = note.dataset.countNote;
    const [n, min, max] = [rowsOf(name).length, Number(note.dataset.min), Number(note.dataset.max)];
    if (n < min || n > max) problems.push({ field: name, code: 'count', min, max });
  }
  for (const name of ['venues', 'parties', 'signatories', 'run_of_show']) {
    const seen = new Set();
    rowsOf(name).forEach((row, i) => {
      const id = fieldOf(row, 'id').value.trim();
      if (id && seen.has(id)) problems.push({ field: `${name}[${i}].id`, code: 'duplicate_id', id });
      seen.add(id);
    });
  }
  const recorded = document.querySelector('input[data-path="recording"]')?.checked;
  const halls = rowsOf('venues').length;
  if (recorded && halls && halls !== 2) problems.push({ field: 'recording', code: 'two_halls', found: halls });
  const signing = rowsOf('run_of_show').filter((row) => fieldOf(row, 'kind').value === 'signing').length;
  if (rowsOf('run_of_show').length && signing !== 1) problems.push({ field: 'run_of_show', code: 'one_signing', found: signing });
  rowsOf('signatories').forEach((row, i) => {
    for (const [name, list] of [['party', 'parties'], ['venue', 'venues']]) {
      const id = fieldOf(row, name).value;
      const known = rowsOf(list).some((r) => fieldOf(r, 'id').value.trim() === id);
      if (id && !known) problems.push({ field: `signatories[${i}].${name}`, code: 'unknown_ref', id });
    }
  });
  const signed = new Set(rowsOf('signatories').map((row) => fieldOf(row, 'party').value));
  rowsOf('parties').forEach((row, i) => {
    const id = fieldOf(row, 'id').value.trim();
    if (ID_SHAPE.test(id) && !signed.has(id)) problems.push({ field: `parties[${i}]`, code: 'no_signatory' });
  });
}

function checkTimes(problems) {
  if (!startValue()) problems.push({ field: 'schedule.start', code: startLocal.value ? 'bad_time' : 'required' });
  const duration = form.querySelector('[data-path="schedule.duration_minutes"]');
  const minutes = rowsOf('run_of_show').map((row) => Number(fieldOf(row, 'minutes').value));
  const valid = (el) => el.checkValidity() && el.value !== '';
  if (valid(duration) && rowsOf('run_of_show').every((row) => valid(fieldOf(row, 'minutes')))) {
    const total = minutes.reduce((a, b) => a + b, 0);
    if (total > Number(duration.value)) {
      problems.push({ field: 'schedule.duration_minutes', code: 'over_time', total, duration: Number(duration.value) });
    }
  }
}

function validate() {
  const problems = [];
  for (const el of form.querySelectorAll(CONTROLS)) checkControl(el, problems);
  checkTimes(problems);
  checkLists(problems);
  return problems;
}

// ---- problems next to their fields, and a summary at the top that links to them ----

/** A field being corrected loses its mark; its message goes once no field it describes is still marked. */
function settled(control) {
  const ids = (control.getAttribute('aria-describedby') ?? '').split(' ').filter((id) => id !== control.dataset.help);
  control.removeAttribute('aria-invalid');
  control.setAttribute('aria-describedby', control.dataset.help ?? '');
  if (!control.dataset.help) control.removeAttribute('aria-describedby');
  for (const id of ids) {
    if (!form.querySelector(`[aria-invalid][aria-describedby~="${CSS.escape(id)}"]`)) document.getElementById(id)?.remove();
  }
}

const say = makeSayer(tr, page.lang);
const listOf = (items) => items.join(page.lang === 'zh' ? '、' : ', ');

function clearErrors() {
  for (const el of document.querySelectorAll('.field-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    if (el.dataset.help) el.setAttribute('aria-describedby', el.dataset.help);
    else el.removeAttribute('aria-describedby');
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

/** A label without its parenthesised help: "Article text (lines starting …)" -> "Article text". */
const shortName = (label) => label.replace(/\s*[(（].*$/s, '').trim();

const controlIn = (el) => (el.matches('input, select, textarea') ? el : el.matches('label') ? el.querySelector('input, select, textarea') : null);

function invalid(control, messageId) {
  control.setAttribute('aria-invalid', 'true');
  control.setAttribute('aria-describedby', [messageId, control.dataset.help].filter(Boolean).join(' '));
}

/** Put one entry's message beside its field; returns what the summary links to, and its short name. */
function place(entry) {
  const target = findTarget(entry.path);
  if (!target) return null;
  const control = controlIn(target);
  const message = document.createElement('p');
  message.className = 'field-error';
  message.id = nextId('field-error');
  message.textContent = say(entry.problem, { control, languages: entry.languages });
  if (control) {
    invalid(control, message.id);
    const label = control.closest('label');
    label.after(message);
    return { focus: control, name: shortName(label.querySelector('span').textContent), message };
  }
  const heading = target.querySelector(':scope > legend, :scope > h2, :scope > h3');
  if (target.matches('.text3')) {
    heading.after(message);
    for (const lang of entry.languages ?? []) {
      const input = target.querySelector(`[data-path="${CSS.escape(`${entry.path}.${lang}`)}"], [data-field$=".${lang}"]`);
      if (input) invalid(input, message.id);
    }
    const first = target.querySelector('[aria-invalid]') ?? target.querySelector('input, textarea');
    return { focus: first, name: shortName(heading.firstChild.textContent), message };
  }
  target.classList.add('has-error');
  (target.querySelector(':scope > .count-note') ?? heading ?? target.firstChild).after(message);
  message.tabIndex = -1;
  return { focus: message, name: null, message };
}

/** The place a field belongs to, as the page names it: a row ("Party 2") or a section ("Basics"). */
function placeName(el) {
  const where = el.closest('[data-place]');
  const heading = where?.querySelector(':scope > legend, :scope > h2');
  return { where, name: heading ? heading.textContent.replace(/\s+/g, ' ').trim() : '' };
}

function showProblems(problems) {
  clearErrors();
  const groups = new Map(); // place element -> {name, items: [{focus, name, message}]}
  const loose = []; // problems with no field on the page (an uploaded file's unknown field)
  for (const entry of entries(problems)) {
    const placed = place(entry);
    if (!placed) {
      loose.push(say(entry.problem));
      continue;
    }
    const { where, name } = placeName(placed.message);
    if (!groups.has(where)) groups.set(where, { name, items: [] });
    groups.get(where).items.push(placed);
  }
  const list = document.createElement('ul');
  list.className = 'problem-summary';
  for (const group of [...groups.values()]) {
    const first = group.items[0];
    const link = document.createElement('a');
    link.href = `#${first.focus.id || (first.focus.id = nextId('field'))}`;
    const what = group.items.length === 1 ? first.message.textContent : listOf(group.items.map((i) => i.name ?? i.message.textContent));
    const strong = document.createElement('strong');
    strong.textContent = group.name;
    link.append(strong, ` — ${what}`);
    link.addEventListener('click', (event) => {
      event.preventDefault();
      first.focus.scrollIntoView({ block: 'center' });
      first.focus.focus({ preventScroll: true });
    });
    const li = document.createElement('li');
    li.append(link);
    list.append(li);
  }
  for (const text of loose) {
    const li = document.createElement('li');
    li.textContent = text;
    list.append(li);
  }
  const head = document.createElement('p');
  head.className = 'alert-message';
  head.textContent = tr('js.def.summary', { n: list.children.length });
  alertBox.className = 'alert alert-error';
  alertBox.replaceChildren(head, list);
  alertBox.hidden = false;
  alertBox.scrollIntoView({ block: 'start' });
  alertBox.focus({ preventScroll: true });
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
  updateCounter(el);
  if (el.getAttribute('aria-invalid')) settled(el);
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
    if (err.fields?.length) showProblems(err.fields);
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
wireHelp(form);

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
