// Opening a capability link: the token travels in the URL fragment (never sent to servers or
// logged); post it once, get an HttpOnly cookie back, and go where the link leads.

import { readData, translator } from './i18n.js';

const tr = translator(readData('messages') ?? {});
const busy = document.getElementById('enter-busy');

function fail(id, reason) {
  busy.hidden = true;
  if (reason !== undefined) document.getElementById('enter-reason').textContent = reason;
  document.getElementById(id).hidden = false;
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
  fail('enter-failed', answer.reason || tr('js.http', { status: response.status }));
}

enter();
