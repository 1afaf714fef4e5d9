/* The athlete page: progress charts over sessions and the pick of two sessions to compare. */
"use strict";
(function () {
  const holder = document.getElementById("progress-chart"), select = document.getElementById("progress-metric");
  const empty = document.getElementById("progress-empty");
  let points = [];

  /* One step per session (sessions are not evenly spaced in time); ticks name each session's date. */
  function draw() {
    const key = select.value, xs = points.map((p, i) => i), ys = points.map(p => p.metrics[key] ?? null);
    const days = new Set(points.map(p => p.date.slice(0, 10)));
    const label = p => days.size === points.length ? p.date.slice(0, 10) : p.date.slice(5, 16).replace("T", " ");
    SL.lineChart(holder, {x: xs, series: [{name: select.selectedOptions[0].textContent, values: ys, markers: true}],
                          xLabel: "session", yLabel: key.startsWith("rom") ? "degrees" : "%", legend: false,
                          xFormat: v => Number.isInteger(v) && points[v] ? label(points[v]) : "",
                          onClick: i => openNearest(i)});
    holder.dataset.ready = "1";
  }

  function openNearest(i) {
    const best = points[Math.min(points.length - 1, Math.max(0, Math.round(i)))];
    if (best) location.assign(`/analyses/${best.analysis_id}`);
  }

  if (holder) SL.getJSON(holder.dataset.url).then(d => {
    points = d.points;
    if (points.length < 1) { empty.hidden = false; holder.hidden = true; select.closest("label").hidden = true; return; }
    for (const [key, label] of d.metrics) select.add(new Option(label, key));
    select.addEventListener("change", draw);
    draw();
  }).catch(e => { holder.textContent = `Could not load the progress: ${e.message}`; });

  const picks = [...document.querySelectorAll(".compare-pick")], button = document.getElementById("compare-button");
  function update() {
    const on = picks.filter(p => p.checked);
    button.disabled = on.length !== 2;
    if (on.length === 2) {  // the table lists the newest first: A = the older session, B = the newer
      document.getElementById("compare-a").value = on[1].value;
      document.getElementById("compare-b").value = on[0].value;
    }
  }
  for (const p of picks) p.addEventListener("change", update);
})();
