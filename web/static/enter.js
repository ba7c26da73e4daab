// Opening a capability link: the token travels in the URL fragment (never sent to servers or
// logged); post it once, get an HttpOnly cookie back, and go where the link leads.

import { readData, translator } from './i18n.js';

const tr = translator(readData('messages') ?? {});
const busy = document.getElementById('enter-busy');

function fail(id, reason, detail) {
  busy.hidden = true;
  if (reason !== undefined) document.getElementById('enter-reason').textContent = reason;
  if (detail) {
    // The server's English reason, for whoever helps: secondary to the localized text above.
    document.getElementById('enter-detail-text').textContent = detail;
    document.getElementById('enter-detail').hidden = false;
  }
  document.getElementById(id).hidden = false;
}

/** The refusal in the page's language, by error code: a link the server does not know (revoked or mistyped)
 * has its own words; other codes use js.error.<code>; a code without words falls back to the HTTP status. */
function refusal(status, code) {
  if (code === 'forbidden') return tr('js.enter.invalid');
  const key = `js.error.${code}`;
  if (code && tr(key) !== key) return tr(key);
  return tr('js.http', { status });
}

async function enter() {
  const token = decodeURIComponent(location.hash.slice(1)).trim();
  if (!token) {
    fail('enter-missing');
    return;
  }
  let response;
  try {
    response = await fetch(location.pathname, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ token }),
    });
  } catch {
    fail('enter-failed', tr('js.network'));
    return;
  }
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    answer = {};
  }
  if (response.ok && typeof answer.redirect === 'string' && /^\/(?!\/)/.test(answer.redirect)) {
    location.replace(answer.redirect);
    return;
  }
  fail('enter-failed', refusal(response.status, answer.error), answer.reason);
}

enter();
