// Talking to the REST API: forms in, blobs out, errors as one readable line; a busy server (503) is waited
// for, as its Retry-After asks, and the wait is told to `onBusy` so the page can say so.

export const BUSY_RETRIES = 5;

/** The server's `{"error": ...}` line, or the status. */
export async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON */ }
  return `the server answered ${response.status} ${response.statusText}`.trim();
}

export async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(await errorOf(r));
  return r.json();
}

/** The answer of a request that was aborted (a new sketch made it useless): callers drop it quietly. */
export class Aborted extends Error {}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  if (signal) signal.addEventListener("abort", () => { clearTimeout(t); reject(new Aborted("aborted")); }, { once: true });
});

/**
 * POST `form` to `url`; `what` names the action in error messages. On 503 waits Retry-After seconds (told to
 * `onBusy(seconds, attempt)`) and tries again, up to BUSY_RETRIES times. Returns the response (status 2xx).
 */
export async function post(url, form, { what, signal, onBusy } = {}) {
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await fetch(url, { method: "POST", body: form, signal });
    } catch (e) {
      if (signal && signal.aborted) throw new Aborted("aborted");
      throw new Error(`${what}: cannot reach the server; is autopainter serve still running?`);
    }
    if (response.status === 503 && attempt <= BUSY_RETRIES) {
      const wait = Math.min(30, Math.max(0.2, parseFloat(response.headers.get("Retry-After") || "2") || 2));
      if (onBusy) onBusy(wait, attempt);
      await sleep(wait * 1000, signal);
      continue;
    }
    if (!response.ok) {
      const message = response.status === 503 ? "the server is still busy; try again in a moment" : await errorOf(response);
      throw new Error(`${what}: ${message}`);
    }
    return response;
  }
}
