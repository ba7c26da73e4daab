// Instants shown in named time zones (KST, CST, UTC...), with no library: Intl does the zone rules.

const formatters = new Map();

function formatter(zone) {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Whether the browser knows an IANA zone name. */
export function knownZone(zone) {
  if (!zone) return false;
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock fields of `date` in `zone`, as zero-padded strings. */
export function wall(date, zone) {
  const out = {};
  for (const part of formatter(zone).formatToParts(date)) out[part.type] = part.value;
  if (out.hour === '24') out.hour = '00';
  return out;
}

/** "2020-05-29 10:20" (or with seconds) in `zone`. */
export function formatIn(date, zone, seconds = false) {
  const w = wall(date, zone);
  return `${w.year}-${w.month}-${w.day} ${w.hour}:${w.minute}${seconds ? `:${w.second}` : ''}`;
}

/** Minutes east of UTC that `zone` is at the instant `date`. */
export function offsetMinutes(zone, date) {
  const w = wall(date, zone);
  const asUtc = Date.UTC(+w.year, +w.month - 1, +w.day, +w.hour, +w.minute, +w.second);
  return Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60000);
}

/** The instant a wall time "YYYY-MM-DDTHH:MM" in `zone` names, or null. */
export function fromWallTime(local, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local || '');
  if (!m || !knownZone(zone)) return null;
  const naive = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  // Two rounds settle the offset, also next to a daylight-saving change.
  let guess = naive - offsetMinutes(zone, new Date(naive)) * 60000;
  guess = naive - offsetMinutes(zone, new Date(guess)) * 60000;
  return new Date(guess);
}

/** "YYYY-MM-DDTHH:MM" of `date` in `zone`, for an <input type="datetime-local">. */
export function toWallInput(date, zone) {
  const w = wall(date, zone);
  return `${w.year}-${w.month}-${w.day}T${w.hour}:${w.minute}`;
}

/** ISO 8601 with the zone's offset at that instant: "2020-05-29T10:20:00+09:00". */
export function isoWithOffset(date, zone) {
  const w = wall(date, zone);
  const off = offsetMinutes(zone, date);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${w.year}-${w.month}-${w.day}T${w.hour}:${w.minute}:${w.second}${sign}${hh}:${mm}`;
}

/** The offset written at the end of an ISO date-time, in minutes, or null. */
export function isoOffset(text) {
  const m = /([+-])(\d{2}):?(\d{2})$/.exec(text || '');
  if (m) return (m[1] === '-' ? -1 : 1) * (+m[2] * 60 + +m[3]);
  return /Z$/i.test(text || '') ? 0 : null;
}

/**
 * A time in several zones, as DOM: "2020-05-29 10:20:05 KST · 09:20:05 CST · 01:20:05 UTC".
 * `zones` is [{zone, label}]; later zones repeat the date only when it differs.
 */
export function zonedElement(date, zones, seconds = true) {
  const span = document.createElement('span');
  span.className = 'zoned';
  let firstDate = null;
  for (const { zone, label } of zones) {
    const text = formatIn(date, zone, seconds);
    const [day, clock] = text.split(' ');
    const item = document.createElement('span');
    item.className = 'zt';
    const time = document.createElement('time');
    time.dateTime = date.toISOString();
    time.title = zone;
    time.textContent = firstDate === null || day !== firstDate ? text : clock;
    if (firstDate === null) firstDate = day;
    const abbr = document.createElement('abbr');
    abbr.className = 'zt-label';
    abbr.title = zone;
    abbr.textContent = label;
    item.append(time, ' ', abbr);
    span.append(item);
  }
  return span;
}

/** A server time ("2020-05-29T01:20:00.123456Z") as a Date; microseconds are cut to what Date holds. */
export function parseTime(text) {
  return new Date(String(text).replace(/(\.\d{3})\d+/, '$1'));
}

// The zone(s) each page language reads first, as web/i18n.py's LANGUAGE_ZONES: KST for ko,
// CST for zh, both for en; UTC and any other hall's zone come after.
const LANGUAGE_ZONES = { ko: ['Asia/Seoul'], zh: ['Asia/Shanghai'], en: ['Asia/Seoul', 'Asia/Shanghai'] };

/** [the page language's zones, the others], each in `zones`' order; none of the language's: the first zone first. */
export function splitZones(zones, lang) {
  const wanted = LANGUAGE_ZONES[lang] ?? [];
  let first = zones.filter((z) => wanted.includes(z.zone));
  if (!first.length) first = zones.slice(0, 1);
  return [first, zones.filter((z) => !first.includes(z))];
}

/** `zones` with the page language's first. */
export function languageFirst(zones, lang) {
  return splitZones(zones, lang).flat();
}

/** For tables: the page language's zone(s) on one line, the others smaller on a second (as the archive's). */
export function zonedLines(date, zones, lang, seconds = false) {
  const [first, rest] = splitZones(zones, lang);
  const box = document.createElement('span');
  box.className = 'zoned-lines';
  box.append(zonedElement(date, first, seconds));
  if (rest.length) {
    const more = zonedElement(date, rest, seconds);
    more.classList.add('small', 'muted');
    box.append(document.createElement('br'), more);
  }
  return box;
}
