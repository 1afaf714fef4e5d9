/* Side by side: the aligned angle charts are server-rendered SVG (reference time on x). A click on a chart
   seeks the right video to that moment and the left video to the moment DTW aligned with it (data-map:
   [[right time, left time], ...] from each clip's start); the cursor follows the right video. */
"use strict";
(function () {
  const videos = [...document.querySelectorAll(".compare-video")];
  const holder = document.getElementById("compare-chart");
  const charts = holder ? [...holder.querySelectorAll("svg.aligned")] : [];
  const map = holder ? JSON.parse(holder.dataset.map || "[]") : [];

  /* The left side's time aligned with right-side time t (nearest mapped moment). */
  function aligned(t) {
    let best = map[0];
    for (const pair of map) if (Math.abs(pair[0] - t) < Math.abs(best[0] - t)) best = pair;
    return best ? best[1] : t;
  }

  function setCursor(t) {
    for (const svg of charts) {
      const t0 = +svg.dataset.t0, t1 = +svg.dataset.t1, x0 = +svg.dataset.x0, x1 = +svg.dataset.x1;
      const line = svg.querySelector("line.cursor");
      if (!line || t1 <= t0) continue;
      const x = x0 + Math.min(1, Math.max(0, (t - t0) / (t1 - t0))) * (x1 - x0);
      line.setAttribute("x1", x); line.setAttribute("x2", x); line.setAttribute("visibility", "visible");
    }
  }

  for (const svg of charts) {
    svg.addEventListener("click", ev => {
      const box = svg.getBoundingClientRect(), scale = svg.viewBox.baseVal.width / box.width;
      const x = (ev.clientX - box.left) * scale;
      const t0 = +svg.dataset.t0, t1 = +svg.dataset.t1, x0 = +svg.dataset.x0, x1 = +svg.dataset.x1;
      const t = t0 + Math.min(1, Math.max(0, (x - x0) / (x1 - x0))) * (t1 - t0);
      if (videos.length === 2) { videos[1].currentTime = t; videos[0].currentTime = aligned(t); }
      setCursor(t);
    });
  }

  function tick() {
    if (videos.length === 2) setCursor(videos[1].currentTime);
    if (videos.some(v => !v.paused)) requestAnimationFrame(tick);
  }
  for (const v of videos) v.addEventListener("play", () => requestAnimationFrame(tick));
  const play = document.getElementById("play-both");
  if (play) play.addEventListener("click", () => {
    if (videos.length === 2 && map.length) videos[0].currentTime = aligned(videos[1].currentTime);
    for (const v of videos) v.play();
  });
})();
