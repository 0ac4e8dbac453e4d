// On every page: drafts kept on this device are removed when the person logs out,
// so the next person on a shared device cannot read them.
for (const form of document.querySelectorAll('form[action="/logout"], form[action="/logout-everywhere"]')) {
  form.addEventListener("submit", () => {
    for (const key of Object.keys(localStorage)) if (key.startsWith("tandem:draft:")) localStorage.removeItem(key);
  });
}
