/* Live job progress: server-sent events, with polling as the fallback when the stream breaks. */
"use strict";
(function () {
  const box = document.getElementById("job");
  if (!box) return;
  const bar = document.getElementById("job-progress"), status = document.getElementById("job-status");
  const msg = document.getElementById("job-message"), err = document.getElementById("job-error");
  const done = document.getElementById("job-done"), cancel = document.getElementById("job-cancel");
  const retry = document.getElementById("job-retry");
  let finished = false, source = null;

  function show(job) {
    bar.value = job.progress || 0;
    status.textContent = job.status;
    msg.textContent = job.message || "";
    err.textContent = job.error || ""; err.hidden = !job.error;
    retry.hidden = !["failed", "cancelled"].includes(job.status);
    if (["done", "failed", "cancelled"].includes(job.status)) {
      finished = true; cancel.hidden = true;
      if (source) source.close();
      if (job.status === "done") { done.hidden = false; location.assign(box.dataset.analysis); }
    }
  }

  async function poll() {
    while (!finished) {
      try { show(await SL.getJSON(box.dataset.poll)); } catch (e) { msg.textContent = e.message; }
      await new Promise(r => setTimeout(r, 1500));
    }
  }

  function listen() {
    finished = false;
    if (!window.EventSource) { poll(); return; }
    source = new EventSource(box.dataset.events);
    source.addEventListener("job", ev => show(JSON.parse(ev.data)));
    source.addEventListener("error", () => { if (!finished) { source.close(); poll(); } });
  }

  async function post(button) {
    const r = await fetch(button.dataset.url, {method: "POST", credentials: "same-origin",
                                               headers: {Accept: "application/json"}});
    const body = await r.json().catch(() => ({}));
    if (!r.ok) { msg.textContent = body.detail || `${button.textContent} failed`; return null; }
    return body;
  }

  cancel.addEventListener("click", () => post(cancel));
  retry.addEventListener("click", async () => {
    const job = await post(retry);
    if (job) { show(job); cancel.hidden = false; listen(); }
  });
  if (status.textContent.trim() === "done") location.assign(box.dataset.analysis);
  else if (!["failed", "cancelled"].includes(status.textContent.trim())) listen();
})();
