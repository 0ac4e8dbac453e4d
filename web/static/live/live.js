// The live page controller: presence, control, suggestions, mirrored navigation,
// scroll, video, drafts and the shared panel. Loaded on every live page
// (/sessions/{id}, .../topics/{topic}, .../topics/{topic}/{slug}).
import { LiveSocket, newId } from "./socket.js";
import { VideoSync } from "./video.js";
import { watchScroll, applyAnchor, reveal } from "./scroll.js";

const bar = document.getElementById("live-bar");
const sid = bar.dataset.sessionId;
const me = bar.dataset.me;
const role = bar.dataset.role;
const workerId = bar.dataset.workerId;
const suId = bar.dataset.suId;
const lobby = bar.dataset.lobby;
const $ = (id) => document.getElementById(id);
const ua = navigator.userAgent;
const deviceKind = /iPad|Tablet/i.test(ua) ? "tablet" : /Mobi/i.test(ua) ? "phone" : "desktop";
const FOLLOW_KEY = `tandem.live.follow.${sid}`;

const state = {
  holder: suId, epoch: 1, mirroring: true, participants: [], location: null,
  following: sessionStorage.getItem(FOLLOW_KEY) !== "no",
  arrived: false, conn: "connecting",
};
const isDriver = () => state.holder === me;
const socket = new LiveSocket({ sessionId: sid, path: bar.dataset.wsPath, deviceKind });
window.tandemLive = { socket, state }; // for tests and debugging

// ---------------------------------------------------------------- links stay inside the session
const live = (href) => {
  if (href === "/") return lobby;
  if (href.startsWith("/topics/")) return `/sessions/${sid}${href}`;
  return null;
};
for (const a of document.querySelectorAll("main a[href]")) {
  const to = live(a.getAttribute("href"));
  if (to) a.setAttribute("href", to);
}
document.addEventListener("click", (ev) => {
  const a = ev.target.closest?.("main a[href]");
  if (!a || a.closest("#live-bar") || isDriver()) return;
  // A follower who opens something else stops following until they choose to follow again.
  if (a.getAttribute("href").startsWith(`/sessions/${sid}`)) sessionStorage.setItem(FOLLOW_KEY, "no");
});

// Where this page is, as a content location: the protocol never carries a URL.
const here = () => {
  const topic = document.querySelector("#topic")?.dataset.topicId;
  const section = document.querySelector("#section");
  const p = {};
  if (topic) p.topic_id = topic;
  if (section) { p.topic_id = section.dataset.topicId; p.section_id = section.dataset.sectionId; }
  return p;
};

// A content location -> this session's own path for it, or null if it names none.
// Built here from checked segments only, so nothing a peer sends becomes a URL.
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
function pathFor(loc) {
  if (!loc || typeof loc !== "object") return null;
  const { topic_id: topic, section_id: section } = loc;
  if (topic == null) return section == null ? lobby : null;
  if (typeof topic !== "string" || !SEGMENT.test(topic)) return null;
  const base = `/sessions/${encodeURIComponent(sid)}/topics/${encodeURIComponent(topic)}`;
  if (section == null) return base;
  const slug = typeof section === "string" && section.startsWith(`${topic}/`) ? section.slice(topic.length + 1) : "";
  return SEGMENT.test(slug) ? `${base}/${encodeURIComponent(slug)}` : null;
}

// ---------------------------------------------------------------- rendering the bar
const names = { [workerId]: bar.dataset.workerName || "Your worker", [suId]: bar.dataset.suName || "The person you support" };
const who = (uid) => (uid === me ? "You" : names[uid] ?? "Someone");
const drives = (uid) => (uid === me ? "You are driving" : `${who(uid)} is driving`);
// Content ids -> the titles people read ("Health", not "health"), listed in the bar by the server.
const TITLES = new Map([...document.querySelectorAll("#live-titles li")].map((li) => [li.dataset.ref, li.textContent]));
const title = (ref, fallback = ref) => TITLES.get(ref) ?? fallback;
// My own line in "Who is here" follows my connection: the server cannot tell me I dropped.
const ownState = (p) => (p.user_id === me && state.conn !== "live" ? "offline" : p.state);

function render() {
  const people = $("live-people");
  people.replaceChildren(...state.participants.map((p) => {
    const li = document.createElement("li");
    li.dataset.userId = p.user_id;
    const seen = ownState(p);
    li.dataset.state = seen;
    const following = p.user_id === state.holder ? "driving" : p.following ? "following" : "not following";
    li.textContent = `${who(p.user_id)}: ${seen}`;
    const more = Object.assign(document.createElement("span"), { className: "visually-hidden" });
    more.textContent = `${p.device_kind ? ` on ${p.device_kind}` : ""}, ${following}`;
    li.append(more);
    return li;
  }));
  const ctl = $("live-control");
  ctl.dataset.holder = state.holder;
  ctl.dataset.epoch = state.epoch;
  ctl.textContent = `${drives(state.holder)}.`;
  if (!state.mirroring) ctl.textContent += " Mirroring is paused.";
  const show = (id, on) => { const el = $(id); if (el) el.hidden = !on; };
  show("live-request-control", role === "worker" && !isDriver());
  show("live-return-control", role === "worker" && isDriver());
  show("live-give-control", role === "service_user" && isDriver());
  show("live-take-control", role === "service_user" && !isDriver());
  show("live-pause", role === "service_user" && state.mirroring);
  show("live-resume", role === "service_user" && !state.mirroring);
  show("live-follow", !isDriver() && (!state.following || (state.location && pathFor(state.location) !== location.pathname)));
  bar.dataset.driver = String(isDriver());
}

function note(type, text, m) {
  const li = document.createElement("li");
  li.dataset.type = type;
  if (m?.position) li.dataset.position = m.position;
  li.textContent = text;
  $("live-shared").prepend(li);
  while ($("live-shared").children.length > 30) $("live-shared").lastChild.remove();
  return li;
}

socket.addEventListener("state", (ev) => {
  const { state: s } = ev.detail;
  const el = $("live-conn");
  state.conn = s;
  el.dataset.state = s;
  el.textContent = { connecting: "Connecting…", reconnecting: "Reconnecting…", live: "Connected", offline: "Connection lost, reconnecting…", ended: "This session has ended.", refused: "You can no longer take part in this session." }[s] || s;
  render();
});

// ---------------------------------------------------------------- arriving on a page
function announce() {
  const p = here();
  socket.ephemeral("nav", p, { epoch: state.epoch });
  if (p.topic_id && !p.section_id) socket.durable("TopicOpened", { topic_id: p.topic_id }, { epoch: state.epoch }).catch(() => {});
}

function goTo(loc) {
  const path = pathFor(loc);
  if (path && path !== location.pathname) location.assign(path);
}

function arrive() {
  state.arrived = true;
  if (isDriver()) announce();
  else if (state.mirroring && state.following && state.location) goTo(state.location);
  render();
}

// ---------------------------------------------------------------- messages
const handlers = {
  welcome(m) {
    const p = m.payload;
    Object.assign(state, { holder: p.control.holder, epoch: p.control.epoch, mirroring: p.mirroring, participants: p.participants, location: p.location });
    for (const t of p.shown_charts || []) showChart(t);
    for (const x of p.suggestions || []) if (!document.getElementById(`suggestion-${x.suggestion_id}`)) handlers.SuggestionMade({ payload: x, from: workerId });
    if (p.control_requested && isDriver()) handlers.ControlRequested({ from: workerId, force: true });
    if (!socket.replaying) arrive();
  },
  resumed() { if (!state.arrived) arrive(); },
  presence(m) { state.participants = m.payload.participants; render(); },
  nav(m) {
    state.location = m.payload;
    if (!isDriver() && state.mirroring && state.following) goTo(m.payload);
    render();
  },
  scroll(m) {
    if (!isDriver() && state.mirroring && state.following && pathFor(state.location) === location.pathname) applyAnchor(m.payload);
  },
  draft(m) {
    const form = document.querySelector(`form.answer[data-question-id="${CSS.escape(m.payload.question_id)}"]`);
    if (form && m.from !== me) {
      form.querySelector("textarea").value = m.payload.text;
      // The box being typed in stays in sight of the one watching.
      if (state.mirroring && state.following) reveal(form);
    }
    const d = $("live-draft") || note("draft", "");
    d.id = "live-draft";
    d.textContent = `${who(m.from)} is typing: ${m.payload.text}`;
  },
  ControlRequested(m) {
    if (role !== "service_user" || (socket.replaying && !m.force)) return;
    const box = $("live-requests");
    box.replaceChildren();
    const p = document.createElement("p");
    p.textContent = "Your worker asks to drive for a while.";
    const yes = Object.assign(document.createElement("button"), { type: "button", className: "button small primary", id: "live-grant", textContent: "Let them drive" });
    const no = Object.assign(document.createElement("button"), { type: "button", className: "button small", id: "live-refuse", textContent: "Not now" });
    yes.onclick = () => { box.replaceChildren(); socket.durable("ControlHandedOver", { to_user: workerId }); };
    no.onclick = () => { box.replaceChildren(); socket.durable("ControlRefused", {}); };
    box.append(p, yes, no);
  },
  ControlRefused(m) { note("refused", `${who(m.from)} would rather keep driving for now.`, m); },
  ControlHandedOver(m) {
    if (m.payload.epoch <= state.epoch) return;
    state.holder = m.payload.to_user;
    state.epoch = m.payload.epoch;
    note("control", `${drives(state.holder)} now.`, m);
    if (isDriver() && !socket.replaying) announce();
    render();
  },
  SuggestionMade(m) {
    const { suggestion_id: id, topic_id: topic, section_id: section } = m.payload;
    const li = note("suggestion", role === "service_user" ? "Your worker suggests: " : "You suggested: ", m);
    li.id = `suggestion-${id}`;
    li.dataset.suggestionId = id;
    const a = document.createElement("strong");
    a.textContent = section ? title(section) : title(topic);
    li.append(a);
    if (role !== "service_user") return;
    const accept = Object.assign(document.createElement("button"), { type: "button", className: "button small primary live-accept", textContent: "Go there" });
    const dismiss = Object.assign(document.createElement("button"), { type: "button", className: "button small live-dismiss", textContent: "Not now" });
    accept.onclick = async () => {
      await socket.durable("SuggestionAccepted", { suggestion_id: id });
      if (!isDriver()) await socket.durable("ControlHandedOver", { to_user: suId });
      const path = pathFor({ topic_id: topic, section_id: section });
      if (path) location.assign(path);
    };
    dismiss.onclick = () => socket.durable("SuggestionDismissed", { suggestion_id: id });
    li.append(" ", accept, " ", dismiss);
    $("live-suggestions").append(li);
  },
  SuggestionAccepted(m) { document.getElementById(`suggestion-${m.payload.suggestion_id}`)?.remove(); note("accepted", "Suggestion accepted.", m); },
  SuggestionDismissed(m) { document.getElementById(`suggestion-${m.payload.suggestion_id}`)?.remove(); note("dismissed", "Suggestion set aside.", m); },
  MirroringPaused(m) { state.mirroring = false; note("paused", "Mirroring paused: just talking.", m); render(); },
  MirroringResumed(m) {
    state.mirroring = true;
    note("resumed", "Mirroring resumed.", m);
    if (!isDriver() && state.following && state.location && !socket.replaying) goTo(state.location);
    render();
  },
  AnswerSaved(m) {
    const form = document.querySelector(`form.answer[data-question-id="${CSS.escape(m.payload.question_id)}"]`);
    if (form && m.from !== me && m.payload.answer !== null) {
      form.querySelector("textarea").value = m.payload.answer;
      form.dataset.savedText = m.payload.answer;
      const st = form.querySelector(".status");
      if (st) st.textContent = `Saved by ${who(m.from)}.`;
    }
    $("live-draft")?.remove();
    note("AnswerSaved", `${who(m.from)} saved an answer: ${m.payload.answer ?? "(unreadable)"}`, m);
  },
  ChartPointRecorded(m) {
    const values = Object.entries(m.payload.values).map(([k, v]) => `${title(`tracker:${m.payload.tracker_id}:${k}`, k)} ${v}`).join(", ");
    note("ChartPointRecorded", `${who(m.from)} recorded ${title(`tracker:${m.payload.tracker_id}`, m.payload.tracker_id)}: ${values} for ${m.payload.for_date}`, m);
    const sel = `section.tracker[data-tracker-id="${CSS.escape(m.payload.tracker_id)}"]`;
    if (m.from !== me && document.querySelector(sel)) window.tandemSection?.refresh(sel);
  },
  WorksheetItemAdded(m) { worksheet(m, "added to"); },
  WorksheetItemChanged(m) { worksheet(m, "changed"); },
  WorksheetItemRemoved(m) { worksheet(m, "removed from"); },
  ChartShown(m) { showChart(m.payload.tracker_id); note("ChartShown", `${who(m.from)} put the ${title(`tracker:${m.payload.tracker_id}`, m.payload.tracker_id)} chart on the shared screen.`, m); },
  ChartHidden(m) { document.getElementById(`live-chart-${m.payload.tracker_id}`)?.remove(); },
  SectionViewed() {},
  TopicOpened() {},
  SessionEnded() { location.assign(lobby); },
  video(m) { for (const v of videos) v.onRemote(m); },
  buffering(m) { for (const v of videos) v.onRemote(m); },
  error(m) {
    if (m.payload.code === "stale_epoch" || m.payload.code === "not_driver") render();
    else if (m.payload.code !== "rate_limited") note("error", `Not done: ${m.payload.message}`);
  },
};

function worksheet(m, verb) {
  note(m.type, `${who(m.from)} ${verb} the worksheet “${title(`worksheet:${m.payload.worksheet_id}`, m.payload.worksheet_id)}”.`, m);
  const sel = `section.worksheet[data-worksheet-id="${CSS.escape(m.payload.worksheet_id)}"]`;
  if (m.from !== me && document.querySelector(sel)) window.tandemSection?.refresh(sel);
}

async function showChart(trackerId) {
  if (document.getElementById(`live-chart-${trackerId}`)) return;
  const box = document.createElement("div");
  box.id = `live-chart-${trackerId}`;
  box.className = "live-chart";
  $("live-charts").append(box);
  const res = await fetch(`/sessions/${sid}/charts/${encodeURIComponent(trackerId)}`, { credentials: "same-origin" });
  box.innerHTML = res.ok ? await res.text() : "";
  if (role === "service_user") {
    const off = Object.assign(document.createElement("button"), { type: "button", className: "button small", textContent: "Take off the shared screen" });
    off.onclick = () => socket.durable("ChartHidden", { tracker_id: trackerId });
    box.append(off);
  } else {
    const close = Object.assign(document.createElement("button"), { type: "button", className: "button small", textContent: "Hide from my screen" });
    close.onclick = () => box.remove();
    box.append(close);
  }
}

socket.addEventListener("message", (ev) => {
  const m = ev.detail;
  const h = handlers[m.type];
  if (h) h(m);
});

// ---------------------------------------------------------------- controls
const click = (id, fn) => $(id)?.addEventListener("click", fn);
click("live-request-control", () => socket.durable("ControlRequested", {}).then(() => note("asked", "You asked to drive.")));
click("live-return-control", () => socket.durable("ControlHandedOver", { to_user: suId }));
click("live-give-control", () => socket.durable("ControlHandedOver", { to_user: workerId }));
click("live-take-control", () => socket.durable("ControlHandedOver", { to_user: suId }));
click("live-pause", () => socket.durable("MirroringPaused", {}));
click("live-resume", () => socket.durable("MirroringResumed", {}));
click("live-follow", () => {
  state.following = true;
  sessionStorage.removeItem(FOLLOW_KEY);
  socket.ephemeral("presence", { visible: document.visibilityState === "visible", following: true });
  if (state.location) goTo(state.location);
  render();
});
$("live-suggest-form")?.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const topic = $("live-suggest-topic").value;
  socket.durable("SuggestionMade", { suggestion_id: "s-" + newId().slice(0, 12), topic_id: topic, section_id: null });
});
$("live-chart-form")?.addEventListener("submit", (ev) => {
  ev.preventDefault();
  socket.durable("ChartShown", { tracker_id: $("live-chart-tracker").value });
});

// Drafts: typing is mirrored (throttled), never stored; saving is section.js's durable AnswerSaved.
for (const form of document.querySelectorAll("form.answer[data-question-id]")) {
  const box = form.querySelector("textarea");
  let t = null;
  box?.addEventListener("input", () => {
    if (t) return;
    t = setTimeout(() => { t = null; socket.ephemeral("draft", { question_id: form.dataset.questionId, text: box.value.slice(0, 10000) }); }, 300);
  });
}

document.addEventListener("visibilitychange", () => {
  socket.ephemeral("presence", { visible: document.visibilityState === "visible", following: state.following });
});

watchScroll((anchor) => { if (isDriver()) socket.ephemeral("scroll", anchor, { epoch: state.epoch }); });

const videos = [...document.querySelectorAll("video[data-video-id]")].map(
  (v) => new VideoSync(v, { socket, isDriver, epoch: () => state.epoch, following: () => state.following && state.mirroring }),
);

render();
socket.connect();
if (!state.following) setTimeout(() => socket.ephemeral("presence", { visible: true, following: false }), 500);
