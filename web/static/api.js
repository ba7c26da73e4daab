// The JSON API from pages: same-origin fetch with the capability cookie; errors become ApiError.

export class ApiError extends Error {
  constructor(status, code, reason, fields = []) {
    super(reason || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.reason = reason;
    this.fields = fields;
  }
}

// A 503 `store_unavailable` means the database was away (a restart, a failover) and nothing was
// done: the call is made again after 1, 2, 3 and 4 s (about the server's Retry-After) before the person is told.
const STORE_RETRIES = 4;

/** Call the API; resolves to the parsed answer, rejects with ApiError (status 0: no answer). */
export async function api(method, url, body) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await apiOnce(method, url, body);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'store_unavailable' || attempt > STORE_RETRIES) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * attempt, 4000)));
    }
  }
}

async function apiOnce(method, url, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, 'network', null);
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, answer?.error ?? 'error', answer?.reason ?? null, answer?.fields ?? []);
  }
  return answer;
}

/** What to tell a person about a failed call, in the page language where we have words for it.
 *
 * The error code is said in the page's language (js.error.* in web/messages.py); the server's
 * reason, which is English and more precise, follows it in brackets.
 */
export function errorText(err, tr) {
  if (!(err instanceof ApiError)) return tr('js.unexpected');
  if (err.status === 0) return tr('js.network');
  const key = `js.error.${err.code}`;
  const said = tr(key) === key ? null : tr(key);
  const reason = err.reason || tr('js.http', { status: err.status });
  const text = said === null ? reason : err.reason ? `${said} (${err.reason})` : said;
  if (err.status === 401 || err.status === 403) return `${text} — ${tr('js.access')}`;
  return text;
}
