// Week-by-week navigation for tracker charts: one week visible at a time.
export function setupWeeks(root = document) {
  for (const box of root.querySelectorAll(".weeks")) {
    const weeks = [...box.querySelectorAll(".week")];
    const nav = box.querySelector(".week-nav");
    if (!nav || weeks.length === 0) continue;
    let index = 0; // 0 = newest
    const [earlier, later] = nav.querySelectorAll("button");
    const show = () => {
      weeks.forEach((w, i) => { w.hidden = i !== index; });
      earlier.disabled = index >= weeks.length - 1;
      later.disabled = index === 0;
    };
    nav.hidden = weeks.length < 2;
    earlier.addEventListener("click", () => { index = Math.min(weeks.length - 1, index + 1); show(); });
    later.addEventListener("click", () => { index = Math.max(0, index - 1); show(); });
    show();
  }
}

if (document.querySelector(".weeks") && !document.querySelector("#section")) setupWeeks();
