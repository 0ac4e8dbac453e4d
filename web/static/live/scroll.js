// Scroll as a content position, not pixels: the id of the block at the top of the
// screen and how far through it we are, so a phone and a tablet show the same passage.

const BLOCKS = "main [id^='p-'], main form.answer[id], main section[id], main h1, main .video, main article > h2[id]";

// The session's own furniture (bar, log, shown charts, notices) is never a content position.
const OURS = "#live-bar, .live-log, #live-charts, #live-notices";

function blocks() {
  return [...document.querySelectorAll("main [id]")].filter((el) => el.offsetParent !== null && el.id !== "main" && !el.closest(OURS));
}

// How much of the top of the screen the pinned session bar covers (0 where it is not pinned).
export function pinnedHeight() {
  const bar = document.getElementById("live-bar");
  if (!bar) return 0;
  const css = getComputedStyle(bar);
  if (css.position !== "sticky" && css.position !== "fixed") return 0;
  return bar.getBoundingClientRect().height + (parseFloat(css.top) || 0);
}

export function currentAnchor() {
  const top = window.scrollY + pinnedHeight() + 8;
  let best = null;
  for (const el of document.querySelectorAll(BLOCKS)) {
    if (!el.id || el.closest(OURS)) continue;
    const r = el.getBoundingClientRect();
    const y = r.top + window.scrollY;
    if (y <= top && y + r.height > top) best = { el, y, h: r.height };
  }
  if (!best) {
    // between blocks or above the first: the nearest block below
    for (const el of blocks()) {
      const y = el.getBoundingClientRect().top + window.scrollY;
      if (y >= top) { best = { el, y, h: el.getBoundingClientRect().height }; break; }
    }
  }
  if (!best) return null;
  const fraction = best.h > 0 ? Math.min(1, Math.max(0, (top - best.y) / best.h)) : 0;
  return { section_id: best.el.id, fraction: Math.round(fraction * 1000) / 1000 };
}

export function applyAnchor({ section_id, fraction }) {
  const el = document.getElementById(section_id);
  if (!el) return false;
  const r = el.getBoundingClientRect();
  window.scrollTo({ top: r.top + window.scrollY + fraction * r.height - pinnedHeight() - 8, behavior: "instant" });
  return true;
}

// Bring an element fully into view below the pinned bar (the least scrolling that does it).
export function reveal(el) {
  const r = el.getBoundingClientRect();
  const top = pinnedHeight() + 8;
  const bottom = window.innerHeight - 8;
  if (r.top < top) window.scrollBy({ top: r.top - top, behavior: "instant" });
  else if (r.bottom > bottom) window.scrollBy({ top: Math.min(r.bottom - bottom, r.top - top), behavior: "instant" });
}

// Call `send(anchor)` at most every `ms` while the page scrolls (driver only).
export function watchScroll(send, ms = 100) {
  let last = 0, timer = null;
  const fire = () => { last = performance.now(); timer = null; const a = currentAnchor(); if (a) send(a); };
  addEventListener("scroll", () => {
    if (timer) return;
    const wait = Math.max(0, ms - (performance.now() - last));
    timer = setTimeout(fire, wait);
  }, { passive: true });
}
