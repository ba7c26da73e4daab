// The editor's problems, said in the page's language: next to each field, and as a summary that links to them.
//
// A problem is what the server sends in its 400 `fields` (ceremony/definition.py), and what the page's own
// checks make in the same shape: {field: "parties[0].name.ko", code: "required", ...parameters}. The words
// come from the catalogue (js.def.<code>, js.def.field.<path without indices>), never the server's English.

const LANGS = ['ko', 'zh', 'en'];

/** "venues[1].name.zh" -> "venues.name" (the catalogue's key for the field). */
export function genericPath(path) {
  return path.replace(/\[\d+\]/g, '').replace(/\.(ko|zh|en)$/, '');
}

function languageOf(path) {
  return /\.(ko|zh|en)$/.exec(path)?.[1] ?? null;
}

// ---- Korean particles: the catalogue writes 을(를), 이(가), 은(는); the word before them decides ----

// How a digit is read (영, 일, 이, 삼 ...): true where the reading ends in a final consonant.
const DIGIT_FINAL = { 0: true, 1: true, 2: false, 3: true, 4: false, 5: false, 6: true, 7: true, 8: true, 9: false };
const PARTICLES = { '을(를)': ['을', '를'], '이(가)': ['이', '가'], '은(는)': ['은', '는'] };

/** Whether the text before a particle ends in a final consonant; null when unknown (not Hangul or a digit). */
function endsInConsonant(before) {
  let text = before.trimEnd();
  // A parenthesised aside is skipped: "이름(한국어)" takes the particle of "이름".
  while (/[)）]$/.test(text)) {
    const open = Math.max(text.lastIndexOf('('), text.lastIndexOf('（'));
    if (open < 0) break;
    text = text.slice(0, open).trimEnd();
  }
  const last = text.slice(-1);
  const code = last.charCodeAt(0);
  if (code >= 0xac00 && code <= 0xd7a3) return (code - 0xac00) % 28 !== 0;
  if (last in DIGIT_FINAL) return DIGIT_FINAL[last];
  return null;
}

export function withParticles(text) {
  return text.replace(/을\(를\)|이\(가\)|은\(는\)/g, (both, offset) => {
    const consonant = endsInConsonant(text.slice(0, offset));
    if (consonant === null) return both;
    return PARTICLES[both][consonant ? 0 : 1];
  });
}

// ---- messages ----

export function makeSayer(tr, lang) {
  const has = (key) => tr(key) !== key;
  const langName = (code) => tr(`js.def.lang.${code}`);
  const list = (items) => {
    try {
      return new Intl.ListFormat(lang, { type: 'conjunction' }).format(items);
    } catch {
      return items.join(', ');
    }
  };
  const noun = (path) => {
    const key = `js.def.field.${genericPath(path)}`;
    return has(key) ? tr(key) : tr('js.def.field.other');
  };

  /** The sentence for one problem; `languages` (codes) when several languages of one text are missing. */
  return function say(problem, { control = null, languages = null } = {}) {
    let code = problem.code;
    const lang = languageOf(problem.field);
    let field = noun(problem.field);
    let language = '';
    if (code === 'required' && control?.tagName === 'SELECT') code = 'choose';
    if (code === 'required' && (languages || lang)) {
      code = 'required_in';
      language = list((languages ?? [lang]).map(langName));
    } else if (lang) {
      field = tr('js.def.field_in', { field, language: langName(lang) });
    }
    const key = has(`js.def.${code}`) ? `js.def.${code}` : 'js.def.unknown';
    const text = withParticles(tr(key, { ...problem, field, language }));
    return text.charAt(0).toUpperCase() + text.slice(1);
  };
}

/**
 * Problems as the person reads them: the missing languages of one text become one entry
 * ("Enter the party's name in Korean, Chinese and English"), the rest one entry each.
 * Each entry: {path, problem, languages?}.
 */
export function entries(problems) {
  const out = [];
  const missing = new Map(); // text path -> its entry, the languages gathered on it
  for (const problem of problems) {
    const lang = languageOf(problem.field);
    if (problem.code === 'required' && lang) {
      const path = problem.field.slice(0, -lang.length - 1);
      let entry = missing.get(path);
      if (!entry) {
        entry = { path, problem, languages: [] };
        missing.set(path, entry);
        out.push(entry);
      }
      entry.languages.push(lang);
      continue;
    }
    if (!out.some((e) => e.path === problem.field && e.problem.code === problem.code)) {
      out.push({ path: problem.field, problem });
    }
  }
  for (const entry of missing.values()) entry.languages.sort((a, b) => LANGS.indexOf(a) - LANGS.indexOf(b));
  return out;
}
