// Talking to Tandem's JSON API: CSRF header, client event ids, safe retries.
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";

export function newId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `The server said ${status}`);
    this.status = status;
    this.code = body?.error?.code;
    this.field = body?.error?.field;
  }
}

async function call(method, url, body) {
  const res = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": meta("csrf-token") },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch { /* empty body */ }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const getJSON = (url) => call("GET", url);
export const postJSON = (url, body) => call("POST", url, body);

// Record one durable action. The same client event id is reused on retry, so a
// request that reached the server but whose answer was lost is recorded once.
export async function send(type, payload, clientEventId = "c-" + newId()) {
  const body = {
    type, payload, client_event_id: clientEventId, client_time: new Date().toISOString(),
  };
  // On a live page the action belongs to the joint session named by the live bar.
  const sessionId = document.getElementById("live-bar")?.dataset.sessionId;
  if (sessionId) body.session_id = sessionId;
  let wait = 500;
  for (let attempt = 0; ; attempt++) {
    try {
      return await postJSON("/api/events", body);
    } catch (e) {
      const network = !(e instanceof ApiError) || e.status >= 500;
      if (!network || attempt >= 3) throw e;
      await new Promise((r) => setTimeout(r, wait));
      wait *= 2;
    }
  }
}

export function describe(e) {
  if (e instanceof ApiError) {
    if (e.status === 401) return "Your session has ended. Please log in again.";
    return e.message;
  }
  return "Could not reach Tandem. Check your connection.";
}
