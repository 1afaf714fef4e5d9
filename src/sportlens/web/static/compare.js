/* Two sessions side by side: one angle of both on one plot (time from each clip's start), both videos
   played together; clicking the plot seeks both. */
"use strict";
(function () {
  const holder = document.getElementById("compare-chart");
  if (!holder) return;
  const select = document.getElementById("compare-angle"), videos = [...document.querySelectorAll(".compare-video")];
  const names = JSON.parse(holder.dataset.names);
  let a = null, b = null, chart = null;

  function rel(d) { return d.times.map(t => t - d.times[0]); }

  function draw() {
    const key = select.value;
    chart = SL.lineChart(holder, {series: [{name: names[0], x: rel(a), values: a.angles[key]},
                                           {name: names[1], x: rel(b), values: b.angles[key]}],
                                  xLabel: "time from the clip's start (s)", yLabel: "degrees",
                                  onClick: t => { for (const v of videos) v.currentTime = t; chart.setCursor(t); }});
    holder.dataset.ready = "1";
  }

  Promise.all([SL.getJSON(holder.dataset.a), SL.getJSON(holder.dataset.b)]).then(([da, db]) => {
    a = da; b = db;
    for (const key of Object.keys(a.angles)) if (key in b.angles) select.add(new Option(key.replace(/_/g, " "), key, false, key === a.default[0]));
    select.addEventListener("change", draw);
    draw();
  }).catch(e => { holder.textContent = `Could not load the angles: ${e.message}`; });

  function tick() {
    if (chart && videos.length) chart.setCursor(videos[0].currentTime);
    if (videos.some(v => !v.paused)) requestAnimationFrame(tick);
  }
  for (const v of videos) v.addEventListener("play", () => requestAnimationFrame(tick));
  document.getElementById("play-both").addEventListener("click", () => {
    const start = Math.min(...videos.map(v => v.currentTime));
    for (const v of videos) { v.currentTime = start; v.play(); }
  });
})();
