// The section page: every action becomes a durable event via POST /api/events.
// Exposed hooks (window.tandemSection) let a live page mirror the same actions.
import { send, newId, describe } from "./api.js";
import { setupWeeks } from "./charts.js";

const article = document.querySelector("#section");
const suId = article?.dataset.suId;
const editable = article?.dataset.editable === "true";
const say = (el, text) => { if (el) el.textContent = text; };
// One way to write a moment, the same as the server's ("1 Dec, 20:38"), in this device's time.
const when = (d) => `${d.toLocaleDateString("en-GB", { day: "numeric", month: "short" })}, ${d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })}`;
const timeNow = () => when(new Date());
const localTimes = (root) => {
  for (const t of root.querySelectorAll("time[data-local]")) t.textContent = when(new Date(t.dateTime));
};
localTimes(document);

// ---------------------------------------------------------------- section viewed
// Counted once it has really been on screen: the summary at least a quarter visible
// for two seconds in a row (not just loaded in a background tab).
function watchViewed() {
  const target = document.querySelector("#summary");
  if (!target || !("IntersectionObserver" in window)) return;
  let since = null, timer = null, done = false;
  const fire = () => {
    if (done) return;
    done = true;
    observer.disconnect();
    send("SectionViewed", { section_id: article.dataset.sectionId, seconds_on_screen: Math.round((performance.now() - since) / 100) / 10 }).catch(() => {});
  };
  const observer = new IntersectionObserver((entries) => {
    const visible = entries.some((e) => e.isIntersecting) && document.visibilityState === "visible";
    if (visible && since === null) { since = performance.now(); timer = setTimeout(fire, 2000); }
    if (!visible && since !== null) { clearTimeout(timer); since = null; }
  }, { threshold: [0, 0.25] });
  observer.observe(target);
}

// ---------------------------------------------------------------- video
function watchVideo(video) {
  const id = video.dataset.videoId;
  const sent = new Set();
  let last = 0, seeking = false;
  const pos = () => Math.min(86400, Math.max(0, Math.round(video.currentTime * 10) / 10));
  const post = (type, payload) => send(type, { video_id: id, ...payload }).catch(() => {});
  video.addEventListener("play", () => post("VideoPlayed", { position_s: pos() }));
  video.addEventListener("pause", () => { if (!video.ended && !seeking) post("VideoPaused", { position_s: pos() }); });
  video.addEventListener("seeking", () => { seeking = true; });
  video.addEventListener("seeked", () => {
    seeking = false;
    if (Math.abs(video.currentTime - last) > 1) post("VideoSeeked", { from_s: Math.round(last * 10) / 10, to_s: pos() });
    last = video.currentTime;
  });
  video.addEventListener("timeupdate", () => {
    if (!seeking) last = video.currentTime;
    const d = video.duration || Number(video.dataset.duration);
    if (!d || !isFinite(d)) return;
    const tenth = Math.floor((video.currentTime / d) * 10) * 10;
    for (let p = 10; p <= Math.min(tenth, 90); p += 10) {
      if (!sent.has(p)) { sent.add(p); post("VideoProgressed", { percent: p, position_s: pos() }); }
    }
  });
  video.addEventListener("ended", () => {
    if (!sent.has(100)) { sent.add(100); post("VideoProgressed", { percent: 100, position_s: pos() }); }
    post("VideoCompleted", {});
  });
}

function transcriptToggles() {
  for (const btn of document.querySelectorAll(".transcript-toggle")) {
    const box = document.getElementById(btn.getAttribute("aria-controls"));
    btn.addEventListener("click", () => {
      const open = btn.getAttribute("aria-expanded") !== "true";
      btn.setAttribute("aria-expanded", String(open));
      box.hidden = !open;
      btn.textContent = open ? "Hide transcript" : "Show transcript";
    });
  }
}

// ---------------------------------------------------------------- answers
// Drafts live in this browser's localStorage until the server confirms a save;
// "Saved" is only shown after that confirmation.
const draftKey = (qid) => `tandem:draft:${suId}:${qid}`;

function setupAnswer(form) {
  const qid = form.dataset.questionId;
  const box = form.querySelector("textarea");
  const status = form.querySelector(".status");
  let pendingId = null; // reused if the same text is saved again after a failure
  const draft = JSON.parse(localStorage.getItem(draftKey(qid)) || "null");
  if (draft && draft.text !== form.dataset.savedText) {
    box.value = draft.text;
    say(status, "We kept an unsaved draft on this device. Press “Save answer” to keep it.");
  }
  box.addEventListener("input", () => {
    pendingId = null;
    localStorage.setItem(draftKey(qid), JSON.stringify({ text: box.value, at: Date.now() }));
    say(status, "Draft kept on this device (not saved yet).");
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!box.value.trim()) { say(status, "Write something first, then save."); box.focus(); return; }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say(status, "Saving…");
    pendingId = pendingId || "c-" + newId();
    try {
      await send("AnswerSaved", { question_id: qid, answer: box.value }, pendingId);
      form.dataset.savedText = box.value;
      localStorage.removeItem(draftKey(qid));
      pendingId = null;
      say(status, `Saved at ${timeNow()}.`);
      form.dispatchEvent(new CustomEvent("tandem:saved", { bubbles: true, detail: { question_id: qid } }));
    } catch (e) {
      say(status, `Not saved: ${describe(e)} Your draft is still kept on this device.`);
    } finally {
      button.disabled = false;
    }
  });
}

// ---------------------------------------------------------------- regions refreshed from the server
// After a tracker point or worksheet change, re-render that region from the server's page
// so the chart and list always show what the store holds.
async function refresh(selector) {
  const res = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!res.ok) return null;
  const doc = new DOMParser().parseFromString(await res.text(), "text/html");
  const fresh = doc.querySelector(selector);
  const old = document.querySelector(selector);
  if (!fresh || !old) return null;
  old.replaceWith(fresh);
  wire(fresh);
  return fresh;
}

function today() {
  const d = new Date();
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

function setupTracker(form) {
  const tid = form.dataset.trackerId;
  const date = form.querySelector('input[type="date"]');
  if (date && !date.value) { date.value = today(); date.max = today(); }
  // The button says which day it saves: "Save today's sleep" or "Save sleep for 28 Nov".
  const button = form.querySelector("button[type=submit][data-name]");
  const label = () => {
    if (!button || !date) return;
    const day = new Date(`${date.value}T12:00:00`);
    button.textContent = !date.value || date.value === today() ? `Save today's ${button.dataset.name}`
      : `Save ${button.dataset.name} for ${day.toLocaleDateString("en-GB", { day: "numeric", month: "short" })}`;
  };
  date?.addEventListener("input", label);
  label();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const status = form.querySelector(".status");
    const values = {};
    for (const el of form.querySelectorAll("input[name]:not([type=date])")) {
      if ((el.type === "radio" && el.checked) || (el.type !== "radio" && el.value !== "")) values[el.name] = Number(el.value);
    }
    say(status, "Saving…");
    try {
      await send("ChartPointRecorded", { tracker_id: tid, values, for_date: date.value });
      const fresh = await refresh(`section.tracker[data-tracker-id="${tid}"]`);
      const st = fresh?.querySelector(".tracker-entry .status");
      say(st || status, `Saved at ${timeNow()}. It is on your chart below.`);
      st?.focus?.();
    } catch (e) {
      say(status, `Not saved: ${describe(e)}`);
    }
  });
}

function setupWorksheet(section) {
  const wid = section.dataset.worksheetId;
  const selector = `section.worksheet[data-worksheet-id="${wid}"]`;
  const status = () => document.querySelector(`${selector} .worksheet-add .status`);
  const after = async (message) => {
    const fresh = await refresh(selector);
    say(fresh?.querySelector(".worksheet-add .status") || status(), message);
  };
  const add = section.querySelector(".worksheet-add");
  add?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const box = add.querySelector("textarea");
    if (!box.value.trim()) { box.focus(); return; }
    say(status(), "Saving…");
    try {
      await send("WorksheetItemAdded", { worksheet_id: wid, item_id: "i-" + newId(), text: box.value.trim() });
      await after(`Added at ${timeNow()}.`);
    } catch (e) { say(status(), `Not saved: ${describe(e)}`); }
  });
  for (const li of section.querySelectorAll("li[data-item-id]")) {
    const itemId = li.dataset.itemId;
    li.querySelector(".remove-item")?.addEventListener("click", async () => {
      if (!confirm("Remove this from your worksheet?")) return;
      try {
        await send("WorksheetItemRemoved", { worksheet_id: wid, item_id: itemId });
        await after("Removed.");
      } catch (e) { say(status(), `Not removed: ${describe(e)}`); }
    });
    li.querySelector(".edit-item")?.addEventListener("click", () => {
      const text = li.querySelector(".item-text").textContent;
      const f = document.createElement("form");
      f.className = "stack edit-form";
      // Built node by node: the item id was chosen by whoever added the item, maybe the other device.
      const label = Object.assign(document.createElement("label"), { htmlFor: `edit-${itemId}`, textContent: "Edit this item" });
      const box = Object.assign(document.createElement("textarea"), { id: `edit-${itemId}`, rows: 2, maxLength: 1000, required: true, value: text });
      const row = Object.assign(document.createElement("div"), { className: "row" });
      row.append(
        Object.assign(document.createElement("button"), { type: "submit", className: "button primary", textContent: "Save change" }),
        Object.assign(document.createElement("button"), { type: "button", className: "button cancel", textContent: "Cancel" }),
      );
      f.append(label, box, row);
      li.replaceChildren(f);
      f.querySelector("textarea").focus();
      f.querySelector(".cancel").addEventListener("click", () => refresh(selector));
      f.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const value = f.querySelector("textarea").value.trim();
        if (!value) return;
        try {
          await send("WorksheetItemChanged", { worksheet_id: wid, item_id: itemId, text: value });
          await after(`Changed at ${timeNow()}.`);
        } catch (e) { say(status(), `Not saved: ${describe(e)}`); }
      });
    });
  }
}

function wire(root) {
  if (editable) {
    for (const f of root.querySelectorAll("form.tracker-entry")) setupTracker(f);
    for (const s of root.matches?.("section.worksheet") ? [root] : root.querySelectorAll("section.worksheet")) setupWorksheet(s);
  }
  setupWeeks(root.matches?.(".tracker") ? root : root);
}

if (article) {
  watchViewed();
  for (const v of document.querySelectorAll("video[data-video-id]")) watchVideo(v);
  transcriptToggles();
  if (editable) for (const f of document.querySelectorAll("form.answer")) setupAnswer(f);
  wire(document);
  window.tandemSection = { send, refresh };
}
