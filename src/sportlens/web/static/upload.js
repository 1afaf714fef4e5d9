/* Upload with drag and drop. The file's size, extension and first bytes (container signature) are
   checked here before a single byte is sent; the server checks all of it again (and decodes the video). */
"use strict";
(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("file-input"), zone = document.getElementById("drop-zone");
  const message = document.getElementById("upload-message"), bar = document.getElementById("upload-progress");
  const button = document.getElementById("upload-button"), nameOut = document.getElementById("file-name");
  const maxBytes = Number(form.dataset.maxBytes), extensions = form.dataset.extensions.split(",");
  let chosen = null;

  function say(text, bad) { message.textContent = text; message.classList.toggle("bad", !!bad); }

  /* Same families as the server (web/uploads.py): ISO-BMFF, Matroska/WebM, AVI. */
  function family(bytes) {
    const ascii = (a, b) => String.fromCharCode(...bytes.slice(a, b));
    const iso = ["ftyp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid", "styp", "moof", "sidx", "meta", "pdin"];
    if (bytes.length >= 8 && iso.includes(ascii(4, 8))) return "iso";
    if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return "ebml";
    if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "AVI ") return "riff";
    return null;
  }
  const EXPECTED = {".mp4": "iso", ".m4v": "iso", ".mov": "iso", ".mkv": "ebml", ".webm": "ebml", ".avi": "riff"};

  async function check(file) {
    const dot = file.name.lastIndexOf("."), ext = dot >= 0 ? file.name.slice(dot).toLowerCase() : "";
    if (!extensions.includes(ext)) return `${file.name}: not a video type this server accepts (${extensions.join(", ")})`;
    if (file.size === 0) return `${file.name} is empty`;
    if (file.size > maxBytes) return `${file.name} is ${(file.size / 1048576).toFixed(0)} MiB: the limit is ${(maxBytes / 1048576).toFixed(0)} MiB`;
    const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
    const kind = family(head);
    if (kind === null) return `${file.name} does not look like a video (its first bytes are not a video container)`;
    if (kind !== EXPECTED[ext]) return `${file.name}: the content does not match the extension ${ext}`;
    return null;
  }

  async function choose(file) {
    chosen = null;
    nameOut.textContent = file ? `${file.name} (${(file.size / 1048576).toFixed(1)} MiB)` : "";
    if (!file) return;
    const problem = await check(file);
    if (problem) { say(problem, true); button.disabled = true; return; }
    chosen = file; button.disabled = false; say("Ready to upload.");
  }

  input.addEventListener("change", () => choose(input.files[0]));
  ["dragenter", "dragover"].forEach(t => zone.addEventListener(t, ev => { ev.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach(t => zone.addEventListener(t, () => zone.classList.remove("over")));
  zone.addEventListener("drop", ev => { ev.preventDefault(); if (ev.dataTransfer.files.length) choose(ev.dataTransfer.files[0]); });
  zone.addEventListener("keydown", ev => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); input.click(); } });

  form.addEventListener("submit", ev => {
    ev.preventDefault();
    if (!chosen) { say("Choose a video first.", true); return; }
    const data = new FormData(form);
    data.set("file", chosen, chosen.name);
    const xhr = new XMLHttpRequest();  // fetch() cannot report upload progress
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", e => { if (e.lengthComputable) bar.value = e.loaded / e.total; });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: keep the status line */ }
      if (xhr.status >= 200 && xhr.status < 300 && body.job_url) { say("Uploaded: analysing…"); location.assign(body.job_url); }
      else { say(body.detail || `Upload failed (HTTP ${xhr.status})`, true); button.disabled = false; }
    });
    xhr.addEventListener("error", () => { say("Upload failed: the connection was interrupted.", true); button.disabled = false; });
    bar.hidden = false; bar.value = 0; button.disabled = true; say("Uploading…");
    xhr.send(data);
  });
})();
