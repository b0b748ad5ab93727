// vistflow web page: pick or drop 1 image (caption) or 5 (story); calls the REST API of the
// server that served this page and shows the text, and the attention map when the model
// returns one. `?demo=1` captions a generated image without user input (used by smoke tests).
(() => {
  "use strict";

  const model = document.querySelector('meta[name="vistflow-model"]').content;
  const api = `/v1/models/${encodeURIComponent(model)}`;
  const $ = (sel) => document.querySelector(sel);
  const result = $("#result");
  const errorBox = $("#error");
  let signatures = null; // names from :metadata, when it answered

  $("#model-name").textContent = model;
  document.querySelectorAll(".model-name").forEach((el) => { el.textContent = model; });

  function setState(state) { result.dataset.state = state; }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    setState("error");
  }

  function clearError() { errorBox.hidden = true; errorBox.textContent = ""; }

  async function loadStatus() {
    const el = $("#model-status");
    try {
      const resp = await fetch(api);
      const body = await resp.json();
      if (!resp.ok) throw new Error(body.error || resp.statusText);
      const live = body.model_version_status.filter((s) => s.state === "AVAILABLE");
      el.textContent = live.length
        ? `version ${live.map((s) => s.version).join(", ")} available`
        : "no version available yet";
      el.className = "status " + (live.length ? "ok" : "bad");
    } catch (err) {
      el.textContent = `status unavailable: ${err.message}`;
      el.className = "status bad";
    }
    try {
      const resp = await fetch(`${api}/metadata`);
      if (resp.ok) {
        const body = await resp.json();
        signatures = Object.keys(body.metadata.signature_def.signature_def);
      }
    } catch (err) { /* metadata is only used for friendlier errors */ }
  }

  function readBase64(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
      reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
      reader.readAsDataURL(file);
    });
  }

  function loadImage(file) {
    return new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => resolve(null); // the server names the bad file; still show the text
      img.src = URL.createObjectURL(file);
    });
  }

  function asText(value) {
    if (value && typeof value === "object" && "b64" in value) return atob(value.b64);
    return String(value);
  }

  // The (rows, cols) factorisation of n closest to the image's aspect ratio: attention comes
  // flattened as h*w cells of the CNN's feature grid.
  function bestGrid(n, aspect) {
    let best = [1, n];
    let bestErr = Infinity;
    for (let rows = 1; rows <= n; rows++) {
      if (n % rows) continue;
      const cols = n / rows;
      const err = Math.abs(Math.log(cols / rows) - Math.log(aspect));
      if (err < bestErr) { best = [rows, cols]; bestErr = err; }
    }
    return best;
  }

  function meanOverSteps(steps) {
    const out = new Array(steps[0].length).fill(0);
    steps.forEach((row) => row.forEach((v, i) => { out[i] += v / steps.length; }));
    return out;
  }

  function draw(canvas, img, weights) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (img) ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    if (!weights) return;
    const [rows, cols] = bestGrid(weights.length, canvas.width / canvas.height);
    const max = Math.max(...weights) || 1;
    const grid = document.createElement("canvas");
    grid.width = cols;
    grid.height = rows;
    const gctx = grid.getContext("2d");
    const pixels = gctx.createImageData(cols, rows);
    weights.forEach((w, i) => {
      const v = Math.max(0, w) / max;
      // Yellow (little attention) to red (most), opacity rising with the weight.
      pixels.data.set([255, Math.round(220 * (1 - v)), 0, Math.round(200 * v)], i * 4);
    });
    gctx.putImageData(pixels, 0, 0);
    ctx.imageSmoothingEnabled = true; // bilinear upsampling: a smooth heat map, not tiles
    ctx.drawImage(grid, 0, 0, canvas.width, canvas.height);
    canvas.dataset.attention = "drawn";
  }

  function card(file, img, text, score, attention) {
    const el = document.createElement("article");
    el.className = "card";
    const canvas = document.createElement("canvas");
    const width = img ? Math.min(640, img.naturalWidth) : 320;
    canvas.width = width;
    canvas.height = img ? Math.max(1, Math.round((img.naturalHeight * width) / img.naturalWidth)) : 200;
    el.appendChild(canvas);
    const body = document.createElement("div");
    body.className = "text";
    const caption = document.createElement("div");
    caption.className = "caption-text";
    const mean = attention ? meanOverSteps(attention) : null;
    text.split(/\s+/).filter(Boolean).forEach((word, i) => {
      const span = document.createElement("span");
      span.className = "word";
      span.textContent = word;
      if (attention && i < attention.length) {
        span.addEventListener("mouseenter", () => { span.classList.add("active"); draw(canvas, img, attention[i]); });
        span.addEventListener("mouseleave", () => { span.classList.remove("active"); draw(canvas, img, mean); });
      }
      caption.appendChild(span);
      caption.appendChild(document.createTextNode(" "));
    });
    body.appendChild(caption);
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `${file.name} · score ${Number(score).toFixed(3)}`;
    body.appendChild(meta);
    el.appendChild(body);
    draw(canvas, img, mean);
    return el;
  }

  async function run(fileList) {
    clearError();
    const files = Array.from(fileList).sort((a, b) => a.name.localeCompare(b.name));
    if (files.length !== 1 && files.length !== 5) {
      showError(`Got ${files.length} images: pick 1 image for a caption or 5 for a story.`);
      return;
    }
    const story = files.length === 5;
    if (story && signatures && !signatures.includes("story")) {
      showError(`Model ${model} has no "story" signature (it has: ${signatures.join(", ")}).`);
      return;
    }
    setState("pending");
    result.replaceChildren();
    const encoded = await Promise.all(files.map(readBase64));
    const request = story
      ? { signature_name: "story", instances: [encoded.map((b64) => ({ b64 }))] }
      : { signature_name: "serving_default", instances: [{ b64: encoded[0] }] };
    let body;
    try {
      const resp = await fetch(`${api}:predict`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request),
      });
      body = await resp.json();
      if (!resp.ok) { showError(body.error || `HTTP ${resp.status}`); return; }
    } catch (err) {
      showError(`request failed: ${err.message}`);
      return;
    }
    let row = body.predictions[0];
    // A model with a single output answers bare values (TF Serving omits the name).
    if (row === null || typeof row !== "object" || Array.isArray(row) || "b64" in row) {
      row = story ? { sentences: row } : { captions: row };
    }
    const images = await Promise.all(files.map(loadImage));
    const texts = story ? row.sentences : [row.captions];
    const scores = story ? (row.scores || []) : [row.scores];
    const attention = row.attention ? (story ? row.attention : [row.attention]) : [];
    result.classList.toggle("single", !story);
    files.forEach((file, i) => {
      result.appendChild(card(file, images[i], asText(texts[i]), scores[i] ?? NaN, attention[i]));
    });
    setState("done");
  }

  // --- input: picker and drag & drop ---
  $("#files").addEventListener("change", (e) => { if (e.target.files.length) run(e.target.files); });
  const drop = $("#drop");
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => {
    e.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => { e.preventDefault(); run(e.dataTransfer.files); });
  // A file dropped beside the zone must not navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  async function demo() {
    const canvas = document.createElement("canvas");
    canvas.width = 96;
    canvas.height = 64;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#f02818";
    ctx.fillRect(0, 0, 96, 64);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(60, 8, 28, 20); // a bright patch for the attention to find
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    await run([new File([blob], "demo.png", { type: "image/png" })]);
  }

  loadStatus().then(() => {
    if (new URLSearchParams(location.search).has("demo")) demo();
  });
})();
