// Draws each dashboard chart from its Vega-Lite spec (in data-spec) with vega-embed.
// Expressions go through vega-interpreter, so nothing needs eval (strict CSP).
for (const el of document.querySelectorAll(".vl-chart[data-spec]")) {
  const spec = JSON.parse(el.dataset.spec);
  vegaEmbed(el, spec, {
    actions: false,
    defaultStyle: false,
    renderer: "svg",
    ast: true,
    expr: vega.expressionInterpreter,
    tooltip: false,
  }).catch((err) => {
    el.textContent = "The chart could not be drawn; the same numbers are in the table.";
    console.error(err);
  });
}
