// The replay page: the scrubber, play/pause at 1×, 4×, 16× and jumping to a moment.
// The server computes every state (web/usecases/replay.py); this only asks and shows.
import { getJSON } from "/static/api.js";

const root = document.getElementById("replay");
const scrub = document.getElementById("scrub");
const links = [...root.querySelectorAll(".jsteps a[data-index]")];
const playBtn = document.getElementById("play");
const speeds = root.querySelector(".jspeeds");
const MAX_GAP_S = 3; // idle stretches are shortened when playing
let times = [];
let speed = 1;
let timer = null;
let asked = 0;

const $ = (id) => document.getElementById(id);

function setText(id, text) { $(id).textContent = text; }

function list(id, items) {
  const ul = $(id);
  ul.replaceChildren(...items.map(([strong, rest]) => {
    const li = document.createElement("li");
    const b = document.createElement("strong");
    b.textContent = strong;
    li.append(b, rest);
    return li;
  }));
  $(id + "-box").hidden = items.length === 0;
}

function show(state, index) {
  setText("now-at", state.at ? state.at.slice(11, 16) : "");
  setText("now-text", state.event || "");
  setText("s-topic", state.topic ? state.topic.title : "—");
  setText("s-section", state.section ? state.section.title : "—");
  const v = state.video;
  setText("s-video", v ? `${v.title} at ${v.clock} ${v.playing ? "(playing)" : "(paused)"}` : "—");
  setText("s-driver", state.driver || "—");
  setText("s-passage", state.passage || "");
  $("s-passage-box").hidden = !state.passage;
  list("s-questions", state.questions.map((q) => [q.text, document.createTextNode(" " + (q.answer || "(not answered yet)"))]));
  list("s-charts", state.charts.map((c) => [c.title, `: ${c.count} entries` + (c.latest.length ? `, latest ${c.latest[0].for_date}: ${c.latest[0].text}` : "") + (c.shown ? " (on the shared screen)" : "")]));
  scrub.value = String(index);
  scrub.setAttribute("aria-valuetext", state.event || "");
  setText("scrub-text", `${index + 1} of ${links.length}`);
  links.forEach((a, i) => (i === index ? a.setAttribute("aria-current", "step") : a.removeAttribute("aria-current")));
  root.dataset.position = String(state.position);
}

async function go(index) {
  const ticket = ++asked;
  const position = links[index].dataset.position;
  const data = await getJSON(`${root.dataset.api}?position=${position}&events=0`);
  if (ticket !== asked) return; // a later move won
  show(data.state, index);
  history.replaceState(null, "", `${root.dataset.page}?position=${position}`);
}

function stop() {
  clearTimeout(timer);
  timer = null;
  playBtn.textContent = "Play";
  playBtn.setAttribute("aria-pressed", "false");
}

function tick() {
  const i = Number(scrub.value);
  if (i >= links.length - 1) { stop(); return; }
  const gap = Math.min(Math.max(times[i + 1] - times[i], 0), MAX_GAP_S * speed);
  timer = setTimeout(async () => { await go(i + 1); if (timer) tick(); }, (gap / speed) * 1000);
}

async function start() {
  const data = await getJSON(`${root.dataset.api}?position=${links[0].dataset.position}`);
  times = data.events.map((e) => e.at);
  playBtn.hidden = false;
  speeds.hidden = false;
  scrub.addEventListener("input", () => { stop(); go(Number(scrub.value)); });
  for (const a of links) {
    a.addEventListener("click", (e) => { e.preventDefault(); stop(); go(Number(a.dataset.index)); });
  }
  playBtn.addEventListener("click", () => {
    if (timer) { stop(); return; }
    if (Number(scrub.value) >= links.length - 1) go(0);
    playBtn.textContent = "Pause";
    playBtn.setAttribute("aria-pressed", "true");
    tick();
  });
  for (const b of speeds.querySelectorAll("button[data-speed]")) {
    b.addEventListener("click", () => {
      speed = Number(b.dataset.speed);
      for (const o of speeds.querySelectorAll("button")) {
        o.setAttribute("aria-pressed", String(o === b));
        o.classList.toggle("primary", o === b);
      }
    });
  }
  root.dataset.ready = "1";
}

start();
