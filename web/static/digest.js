// SHA-256 values that people read aloud and compare (a receipt, the sealed record on a hall's
// screen): hex in groups of four, so "3f2a 9c01 …" can be checked group by group.

import { knownZone, parseTime, zonedElement } from './time.js';

/** `hex` as groups of four characters. */
export function hexGroups(hex) {
  return String(hex || '').match(/.{1,4}/g) ?? [];
}

/**
 * Fill `element` with `hex`, one <span> per group and a space between them: CSS lays the groups
 * out in even rows, and copying the text still gives "3f2a 9c01 …". The whole value stays in
 * `data-sha256` for scripts and tests.
 */
export function showHex(element, hex) {
  element.dataset.sha256 = hex || '';
  const parts = [];
  for (const group of hexGroups(hex)) {
    if (parts.length) parts.push(' ');
    const span = document.createElement('span');
    span.textContent = group;
    parts.push(span);
  }
  element.replaceChildren(...parts);
}

// ---- the sealed record's SHA-256, on a hall's screen and the host console ----

/** `zones` with `zone` (a hall's own) first, so its clock is the one read first on its screen. */
function ownZoneFirst(zones, zone) {
  if (!zone || !knownZone(zone)) return zones;
  const own = zones.find((z) => z.zone === zone) ?? { zone, label: zone };
  return [own, ...zones.filter((z) => z.zone !== zone)];
}

/**
 * The seal named by a live update: the state summary's `seal` where the server sends one, else
 * the `ceremony.sealed` event's own data (the record's hash) and time. Null for other updates.
 */
export function sealOf(event, state) {
  if (state?.seal?.record_sha256) return { sha256: state.seal.record_sha256, at: state.seal.sealed_at };
  if (event?.type === 'ceremony.sealed' && event.data?.record_sha256) {
    return { sha256: event.data.record_sha256, at: event.at };
  }
  return null;
}

/**
 * Fill `#seal-band` (hash in groups, time in `zones`, the element's `data-zone` first) and show it.
 * Without `seal`, what the page was rendered with (a ceremony sealed before it loaded).
 */
export function showSeal(zones, seal = null) {
  const band = document.getElementById('seal-band');
  const hash = document.getElementById('record-sha');
  const time = document.getElementById('sealed-at');
  if (!band || !hash || !time) return;
  const sha256 = seal?.sha256 ?? hash.dataset.sha256;
  const at = seal?.at ?? time.dataset.at;
  if (!sha256) return;
  showHex(hash, sha256);
  time.dataset.at = at || '';
  time.replaceChildren(at ? zonedElement(parseTime(at), ownZoneFirst(zones, band.dataset.zone), true) : '');
  band.hidden = false;
}
