/* The analysis page: overlay video and angle plots kept in step. Clicking the plot seeks the video; while
   the video plays, a cursor follows it on the plot. Plot time is the source video's time; the overlay video
   starts at the first analysed frame, hence the offset. */
"use strict";
(function () {
  const holder = document.getElementById("angle-chart");
  if (!holder) return;
  const video = document.getElementById("player"), select = document.getElementById("angle-select");
  let data = null, chart = null;

  function draw() {
    const names = [...select.selectedOptions].map(o => o.value);
    const series = names.map(n => ({name: n.replace(/_/g, " "), values: data.angles[n]}));
    chart = SL.lineChart(holder, {x: data.times, series, xLabel: "time (s)", yLabel: "degrees",
                                  onClick: t => seek(t)});
    follow();
  }

  function seek(t) {
    if (!video) { chart.setCursor(t); return; }
    video.currentTime = Math.max(0, t - data.offset);
    chart.setCursor(t);
  }

  function follow() { if (video && chart) chart.setCursor(video.currentTime + data.offset); }

  function loop() { follow(); if (video && !video.paused && !video.ended) requestAnimationFrame(loop); }

  SL.getJSON(holder.dataset.url).then(d => {
    data = d;
    for (const name of Object.keys(d.angles)) {
      const opt = new Option(name.replace(/_/g, " "), name, false, d.default.includes(name));
      select.add(opt);
    }
    select.addEventListener("change", draw);
    draw();
    holder.dataset.ready = "1";
  }).catch(e => { holder.textContent = `Could not load the angles: ${e.message}`; });

  if (video) {
    video.addEventListener("play", () => requestAnimationFrame(loop));
    video.addEventListener("seeked", follow);
    video.addEventListener("timeupdate", follow);
  }
  for (const b of document.querySelectorAll("button.seek")) b.addEventListener("click", () => data && seek(+b.dataset.time));
  window.addEventListener("resize", () => data && draw());
})();
