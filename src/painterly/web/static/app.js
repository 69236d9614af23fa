// painterly web page: vanilla JS, no build step. Talks to the JSON API in painterly/web/routes.py.
"use strict";

const $ = (sel) => document.querySelector(sel);
const POLL_MS = 600;
const GALLERY_MS = 5000;
const ACTIVE = ["queued", "running"];

const state = {
  config: null,
  content: null, // {ref, label, url}
  styles: [], // [{ref, label, url, weight}]
  myJobs: JSON.parse(sessionStorage.getItem("painterly-jobs") || "[]"),
  // job id -> the token that lets this page (this tab) steer the run; never put in a URL
  steerTokens: JSON.parse(sessionStorage.getItem("painterly-steer") || "{}"),
  watching: null, // id of the job shown in "Current run"
  lastPreview: 0,
  lastGallery: 0,
  gallerySignature: null,
  galleryPages: 1, // pages of the gallery shown ("Show older runs" adds one)
  inside: null, // id of the gallery entry shown in "See inside"
  insideShown: null, // signature of the panels drawn there
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function showMessage(text, isError = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
  if (isError) box.scrollIntoView({ block: "nearest" });
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (!response.ok) {
    let detail = body && body.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
    throw new Error(detail || `${response.status} ${response.statusText}`);
  }
  return body;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - 60 * m)} s`;
}

function resumedAt(share) {
  return share === null || share === undefined ? "" : `resumed at ${Math.floor(share * 100)} %`;
}

function saveJobs() {
  state.myJobs = state.myJobs.slice(-50);
  sessionStorage.setItem("painterly-jobs", JSON.stringify(state.myJobs));
  const tokens = {};
  for (const id of state.myJobs) if (state.steerTokens[id]) tokens[id] = state.steerTokens[id];
  state.steerTokens = tokens;
  sessionStorage.setItem("painterly-steer", JSON.stringify(tokens));
}

// --- inputs --------------------------------------------------------------------------------------

function renderInputs() {
  const picked = $("#content-picked");
  picked.replaceChildren();
  if (state.content) {
    picked.append(el("img", { src: state.content.url, alt: "content" }), el("span", { class: "label" }, state.content.label));
  } else {
    picked.append(el("span", { class: "empty" }, "none chosen"));
  }
  const list = $("#styles");
  list.replaceChildren();
  if (!state.styles.length) list.append(el("span", { class: "empty" }, "none chosen"));
  state.styles.forEach((style, i) => {
    list.append(
      el(
        "div",
        { class: "style-row" },
        el("img", { src: style.url, alt: `style ${i + 1}` }),
        el("span", { class: "label" }, style.label),
        el(
          "label",
          { title: "relative weight of this style in the blend" },
          "weight ",
          el("input", {
            type: "number", min: "0", step: "0.1", value: style.weight, class: "weight",
            oninput: (e) => { style.weight = e.target.value; },
          })
        ),
        el("button", { class: "small remove", type: "button", onclick: () => { state.styles.splice(i, 1); renderInputs(); } }, "remove")
      )
    );
  });
}

async function uploadFile(file) {
  const limit = state.config.limits.upload_bytes;
  if (file.size > limit) throw new Error(`${file.name}: the file is larger than ${limit / 1048576} MB`);
  const form = new FormData();
  form.append("file", file, file.name);
  return api("/api/uploads", { method: "POST", body: form });
}

async function onFiles(input, asContent) {
  const files = Array.from(input.files);
  input.value = "";
  for (const file of files) {
    showMessage(`Uploading ${file.name}…`);
    try {
      const up = await uploadFile(file);
      const item = { ref: up.ref, label: up.label || file.name, url: up.url, weight: 1 };
      if (asContent) state.content = item;
      else state.styles.push(item);
      renderInputs();
      showMessage("");
    } catch (err) {
      showMessage(`Upload failed: ${err.message}`, true);
      return;
    }
  }
}

function renderSamples() {
  for (const sample of state.config.samples) {
    const item = () => ({ ref: sample.ref, label: sample.name.replace(/_/g, " "), url: sample.url, weight: 1 });
    const button = (onclick) =>
      el("button", { type: "button", title: sample.name.replace(/_/g, " "), "data-sample": sample.name, onclick },
        el("img", { src: sample.url, alt: sample.name }));
    if (sample.content) {
      $("#content-samples").append(button(() => { state.content = item(); renderInputs(); }));
    } else {
      $("#style-samples").append(button(() => { state.styles.push(item()); renderInputs(); }));
    }
  }
}

// --- settings form -------------------------------------------------------------------------------

function renderForm() {
  for (const field of state.config.settings) {
    const id = `set-${field.name}`;
    let input, words = null;
    if (field.type === "choice") {
      input = el("select", { id, name: field.name }, field.choices.map((c) => el("option", { value: c }, c)));
    } else if (field.type === "text") {  // free text (a duration), or a number that may be a word (size: auto)
      words = el("datalist", { id: `${id}-words` }, field.words.map((w) => el("option", { value: w })));
      input = el("input", { id, name: field.name, type: "text", list: `${id}-words`, placeholder: field.words.join(", ") });
    } else {
      input = el("input", {
        id, name: field.name, type: "number", step: field.type === "int" ? "1" : "any",
        min: field.min ?? (field.name === "ema" ? "-1" : "0"),
        max: field.max ?? undefined,
      });
    }
    const label = el("label", { class: "field", for: id, title: field.help },
      el("span", {}, field.label), input, words, el("small", {}, `${field.help} (default ${field.default})`));
    (field.advanced ? $("#advanced-fields") : $("#fields")).append(label);
  }
  resetForm();
}

function resetForm(values = {}) {
  for (const field of state.config.settings) {
    const value = field.name in values ? values[field.name] : field.default;
    $(`#set-${field.name}`).value = String(value);
  }
  $("#preview-every").value = values.preview_every ?? state.config.preview_every;
}

function formValues() {
  const out = {};
  for (const field of state.config.settings) {
    const value = $(`#set-${field.name}`).value.trim();
    if (value !== "" && value !== String(field.default)) out[field.name] = value;
  }
  return out;
}

// --- jobs ----------------------------------------------------------------------------------------

async function start() {
  if (!state.content) return showMessage("Choose a content image first.", true);
  if (!state.styles.length) return showMessage("Add at least one style image.", true);
  const body = {
    content: state.content.ref,
    styles: state.styles.map((s) => s.ref),
    style_blend: state.styles.map((s) => Number(s.weight)),
    settings: formValues(),
    preview_every: Number($("#preview-every").value || 0),
  };
  if (body.style_blend.every((w) => w === 1)) body.style_blend = [];
  const button = $("#start");
  button.disabled = true;
  try {
    const job = await api("/api/jobs", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    state.myJobs.push(job.id);
    state.steerTokens[job.id] = job.steer_token;
    saveJobs();
    if (!state.watching || !(await isActive(state.watching))) watch(job.id);
    showMessage(job.position ? `Queued: ${job.position} run(s) ahead of yours.` : "Started.");
    poll();
  } catch (err) {
    showMessage(err.message, true);
  } finally {
    button.disabled = false;
  }
}

async function isActive(id) {
  try {
    return ACTIVE.includes((await api(`/api/jobs/${id}`)).status);
  } catch (e) {
    return false;
  }
}

function watch(id) {
  state.watching = id;
  state.lastPreview = 0;
  $("#preview").hidden = true;
  $("#plot").replaceChildren();
  $("#run-changes").textContent = "";
  hideSteering();
}

async function cancel() {
  if (!state.watching) return;
  $("#cancel").disabled = true;
  try {
    const answer = await api(`/api/jobs/${state.watching}/cancel`, { method: "POST" });
    showMessage(answer.status === "cancelled" ? "Removed from the queue." : "Stopping; the best image so far is kept.");
  } catch (err) {
    showMessage(err.message, true);
  }
  poll();
}

function drawPlot(history, changes = []) {
  const svg = $("#plot");
  svg.replaceChildren();
  if (history.length < 2) return;
  const W = 320, H = 120, pad = 6;
  const ns = "http://www.w3.org/2000/svg";
  const first = history[0][0], last = history[history.length - 1][0];
  const n = last - first || 1;
  const at = (iteration) => pad + ((iteration - first) / n) * (W - 2 * pad);
  // a dashed line where settings changed (before evaluation ``iteration + 1``; one made before the
  // plot's first point, e.g. before the first evaluation, at its left edge)
  const marks = new Map();
  for (const change of changes || []) {
    if (!marks.has(change[0])) marks.set(change[0], []);
    marks.get(change[0]).push(describeChange(change));
  }
  for (const [iteration, texts] of marks) {
    const mark = document.createElementNS(ns, "line");
    const x = at(Math.min(last, Math.max(first, iteration))).toFixed(1);
    for (const [k, v] of [["x1", x], ["x2", x], ["y1", 0], ["y2", H], ["class", "k"], ["data-iteration", iteration]]) {
      mark.setAttribute(k, v);
    }
    const title = document.createElementNS(ns, "title");
    title.textContent = texts.join("\n");
    mark.append(title);
    svg.append(mark);
  }
  for (const [column, cls] of [[1, "c"], [2, "s"]]) {
    const values = history.map((h) => Math.log10(Math.max(h[column] ?? 0, 1e-12)));
    const lo = Math.min(...values), hi = Math.max(...values);
    const span = hi - lo || 1;
    const points = history.map((h, i) => {
      const y = H - pad - ((values[i] - lo) / span) * (H - 2 * pad);
      return `${at(h[0]).toFixed(1)},${y.toFixed(1)}`;
    });
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("class", cls);
    svg.append(line);
  }
}

function showJob(job) {
  const status = $("#run-status");
  const stats = $("#run-stats");
  const progress = $("#progress");
  const preview = $("#preview");
  $("#cancel").disabled = !ACTIVE.includes(job.status);
  const short = job.id.slice(0, 8);
  if (job.status !== "running") hideSteering();
  if (job.status === "queued") {
    status.textContent = `Run ${short} is waiting: ${job.position} run(s) ahead in the queue.`;
    stats.textContent = "";
    progress.value = 0;
    return;
  }
  if (job.status === "running") {
    const live = job.live || {};
    const notes = [live.scale, resumedAt(live.resumed)].filter(Boolean).join(", ");
    status.textContent = live.cancelling ? `Run ${short}: stopping…` : `Run ${short} is running${notes ? ` (${notes})` : ""}.`;
    progress.max = live.total || 1;
    progress.value = live.iteration || 0;
    stats.textContent = `iteration ${live.iteration || 0} / ${live.total || "?"} · elapsed ${duration(live.elapsed)} · remaining ${duration(live.remaining)}`;
    if (job.preview_url && live.preview_iteration !== state.lastPreview) {
      state.lastPreview = live.preview_iteration;
      preview.src = job.preview_url;
      preview.dataset.iteration = live.preview_iteration;
      preview.hidden = false;
    }
    const changes = (live.steering && live.steering.changes) || [];
    drawPlot(live.history || [], changes);
    showChanges(changes);
    showSteering(job);
    return;
  }
  const record = job.record || {};
  const words = { done: "finished", stopped: "was cancelled; the best image so far is kept", failed: "failed", interrupted: "was interrupted" };
  const resumed = resumedAt(record.resumed);
  status.textContent = `Run ${short} ${words[job.status] || job.status}${resumed ? ` (${resumed})` : ""}${job.error ? `: ${job.error}` : "."}`;
  status.dataset.status = job.status;
  if (record.iterations !== undefined) {
    progress.value = progress.max;
    stats.textContent = `${record.iterations} iterations in ${duration(record.elapsed)} on ${record.device}`;
  } else {
    stats.textContent = "";
  }
  if (job.result_url) {
    preview.src = `${job.result_url}?t=${job.finished}`;
    preview.dataset.iteration = "final";
    preview.hidden = false;
  }
  drawPlot(job.history || [], record.changes || []);
  showChanges(record.changes || []);
}

async function renderMyJobs(queue) {
  const list = $("#myjobs");
  list.replaceChildren();
  const mine = queue.filter((q) => q.kind === "run" && state.myJobs.includes(q.id));
  if (!mine.length) list.append(el("li", { class: "empty" }, "none"));
  for (const q of mine) {
    const text = q.status === "running" ? "running now" : `waiting, ${q.position} ahead`;
    list.append(el("li", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); watch(q.id); poll(); } }, q.id.slice(0, 8)), ` ${text}`));
  }
  return mine;
}

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    const queue = await api("/api/queue");
    const mine = await renderMyJobs(queue);
    if (state.watching) {
      let job = null;
      try {
        job = await api(`/api/jobs/${state.watching}`);
      } catch (e) {
        state.watching = null; // deleted elsewhere
      }
      if (job) {
        showJob(job);
        if (!ACTIVE.includes(job.status)) {
          if (job.finished && job.finished > state.lastGallery) loadGallery();
          const next = mine.find((q) => q.id !== job.id);
          if (next) watch(next.id);
        }
      }
    } else if (mine.length) {
      watch(mine[0].id);
    }
    if (state.inside && ACTIVE.includes($("#inside-section").dataset.status)) await pollInside();
  } catch (err) {
    $("#run-status").textContent = `Cannot reach the server (${err.message}); retrying…`;
  } finally {
    polling = false;
  }
}

// --- steering: the running job's weights, changed while it paints -------------------------------------
// Only the page that submitted a run holds its token. Slider moves are coalesced: the latest values wait
// in ``pending`` and go in one request at most every ``gap`` ms (the server allows steer_per_second).

const steer = { job: null, pending: {}, inFlight: false, last: 0, timer: null, refused: new Set() };
const DECADE = 100; // log-scale slider steps per factor of 10
const DECADES = 3; // a weight's slider spans its start value / 1000 to x 1000, and 0

function spoken(name) {
  return name.replace(/_/g, " ");
}

function brief(value) {
  return value === 0 ? 0 : Number(Number(value).toPrecision(3));
}

function describeChange([iteration, name, value]) {
  const shown = Array.isArray(value) ? value.map(brief).join(" : ") : brief(value);
  return `${spoken(name)} → ${shown} at iteration ${iteration}`;
}

function showChanges(changes) {
  const recent = changes.slice(-4).map(describeChange);
  const earlier = changes.length > recent.length ? `${changes.length - recent.length} earlier; ` : "";
  $("#run-changes").textContent = changes.length ? `Changed while painting: ${earlier}${recent.join("; ")}.` : "";
}

// position <-> value of a slider: linear between bounds, else logarithmic around ``center`` (0 at the left)
function linearScale(min, max) {
  return { steps: 100, value: (p) => brief(min + (p / 100) * (max - min)), position: (v) => Math.round(((v - min) / (max - min)) * 100) };
}

function logScale(center) {
  const steps = 2 * DECADES * DECADE;
  return {
    steps,
    value: (p) => (p <= 0 ? 0 : brief(center * 10 ** ((p - DECADES * DECADE) / DECADE))),
    position: (v) => (v <= 0 ? 0 : Math.min(steps, Math.max(1, Math.round(DECADES * DECADE + DECADE * Math.log10(v / center))))),
  };
}

function slider(id, text, help, scale, value, onValue) {
  const output = el("output", { for: id }, String(brief(value)));
  const input = el("input", {
    type: "range", id, min: "0", max: String(scale.steps), step: "1", value: String(scale.position(value)),
    oninput: () => {
      const v = scale.value(Number(input.value));
      output.textContent = String(v);
      onValue(v);
    },
  });
  input.steerValue = () => scale.value(Number(input.value));
  $("#steer-fields").append(el("label", { for: id, title: help }, text), input, output);
  return input;
}

function buildSteering(job, info) {
  $("#steer-fields").replaceChildren();
  steer.job = job.id;
  steer.pending = {};
  $("#steer").dataset.job = job.id;
  steerNote("Changes apply at the next evaluation and are recorded with the result; a rerun repeats them.");
  for (const field of info.fields) {
    const value = info.values[field.name];
    if (field.type !== "float" && field.type !== "int") continue; // a slider is for numbers
    if (field.many) {  // one relative weight per style image: only worth a slider with several
      if (job.styles.length < 2) continue;
      const weights = value && value.length === job.styles.length ? value : job.styles.map(() => 1);
      const total = weights.reduce((a, b) => a + b, 0) || 1;
      const inputs = job.styles.map((style, i) =>
        slider(`steer-${field.name}-${i}`, `blend: ${style.label}`, field.help, linearScale(0, 1), weights[i] / total, () => {
          steer.pending[field.name] = inputs.map((input) => input.steerValue());
          sendSteering();
        }));
      continue;
    }
    const center = value > 0 ? value : field.default > 0 ? field.default : 1;
    const scale = field.max === null ? logScale(center) : linearScale(field.min, field.max);
    if (field.type === "int") {
      const real = scale.value;
      scale.value = (p) => Math.round(real(p));
    }
    slider(`steer-${field.name}`, spoken(field.name), field.help, scale, value, (v) => {
      steer.pending[field.name] = v;
      sendSteering();
    });
  }
}

function showSteering(job) {
  const live = job.live || {};
  const info = live.steering;
  if (!info || live.cancelling || !state.steerTokens[job.id] || steer.refused.has(job.id)) {
    hideSteering();
    return;
  }
  if (steer.job !== job.id) buildSteering(job, info);
  $("#steer").hidden = false;
}

function hideSteering() {
  if (steer.job === null) return;
  steer.job = null;
  steer.pending = {};
  clearTimeout(steer.timer);
  steer.timer = null;
  $("#steer").hidden = true;
  $("#steer-fields").replaceChildren();
}

function steerNote(text, isError = false) {
  const note = $("#steer-status");
  note.textContent = text;
  note.className = isError ? "note error" : "note";
}

async function sendSteering() {
  const id = steer.job;
  if (!id || steer.inFlight || steer.timer || !Object.keys(steer.pending).length) return;
  const gap = 1200 / state.config.limits.steer_per_second;
  const wait = steer.last + gap - Date.now();
  if (wait > 0) {
    steer.timer = setTimeout(() => { steer.timer = null; sendSteering(); }, wait);
    return;
  }
  const body = steer.pending;
  steer.pending = {};
  steer.inFlight = true;
  steer.last = Date.now();
  try {
    const response = await fetch(`/api/jobs/${id}/settings`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Steer-Token": state.steerTokens[id] },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => null);
    const detail = (answer && answer.detail) || `${response.status} ${response.statusText}`;
    if (steer.job !== id) return;
    if (response.ok) {
      steerNote(`${Object.keys(body).map(spoken).join(", ")} sent: applies at the next evaluation.`);
    } else if (response.status === 429) {
      steer.pending = { ...body, ...steer.pending }; // the latest values still count
      steer.last = Date.now();
    } else if (response.status === 403) {
      steer.refused.add(id); // e.g. the server restarted since this page started the run
      hideSteering();
      showMessage(`This page cannot steer run ${id.slice(0, 8)}: ${detail}.`, true);
    } else {
      steerNote(detail, true);
    }
  } catch (err) {
    if (steer.job === id) steerNote(`Cannot reach the server (${err.message})`, true);
  } finally {
    steer.inFlight = false;
    if (steer.job === id) sendSteering();
  }
}

// --- gallery -------------------------------------------------------------------------------------

async function loadGallery() {
  // page by page (the server caps a page's size), each starting where the one before ended
  const jobs = [];
  let next = null;
  try {
    for (let i = 0; i < state.galleryPages; i += 1) {
      const before = next === null ? "" : `&before=${next}`;
      const page = await api(`/api/gallery?limit=${state.config.limits.gallery_page}${before}`);
      jobs.push(...page.jobs);
      next = page.next;
      if (next === null) break;
    }
  } catch (err) {
    return;
  }
  state.lastGallery = Math.max(state.lastGallery, ...jobs.map((j) => j.finished || 0));
  const signature = JSON.stringify([next, jobs.map((j) => [j.id, j.status, j.finished])]);
  if (signature === state.gallerySignature) return;
  state.gallerySignature = signature;
  const grid = $("#gallery");
  grid.replaceChildren();
  if (!jobs.length) grid.append(el("span", { class: "empty" }, "No finished runs yet."));
  for (const job of jobs) grid.append(card(job));
  if (next !== null) {
    const more = () => {
      state.galleryPages += 1;
      loadGallery();
    };
    grid.append(el("button", { class: "small more", type: "button", onclick: more }, "Show older runs"));
  }
}

function card(job) {
  const record = job.record || {};
  const when = new Date((job.finished || job.created) * 1000).toLocaleString();
  const thumb = job.result_url
    ? el("a", { href: job.result_url, target: "_blank" }, el("img", { src: `${job.result_url}?t=${job.finished}`, alt: `result ${job.id.slice(0, 8)}`, loading: "lazy" }))
    : el("div", { class: "none" }, job.error || "no result");
  const buttons = [];
  if (job.result_url) buttons.push(el("a", { href: `${job.result_url}?download=true`, download: "" }, "Download"));
  buttons.push(el("a", { href: job.settings_url, target: "_blank" }, "Settings"));
  buttons.push(el("button", { class: "small", type: "button", onclick: () => prefill(job.id) }, "Re-run…"));
  if (job.status === "done") {
    buttons.push(el("button", { class: "small", type: "button", onclick: () => seeInside(job.id) }, "See inside"));
  }
  if (job.status === "interrupted" || job.status === "failed") {
    buttons.push(el("button", { class: "small", type: "button", onclick: () => resume(job.id) }, "Resume"));
  }
  buttons.push(el("button", { class: "small", type: "button", onclick: () => remove(job.id) }, "Delete"));
  const size = job.size || (job.form && job.form.size) || "";
  const changes = record.changes || [];
  const steered = changes.length
    ? el("span", { class: "steered", title: changes.map(describeChange).join("\n") }, ` · steered (${changes.length})`)
    : null;
  return el(
    "div",
    { class: "card", "data-id": job.id, "data-status": job.status },
    el("div", { class: "thumb" }, thumb),
    el("div", { class: "meta" }, el("span", { class: `badge ${job.status}` }, job.status), " ",
      size ? `${size} px · ` : "", record.iterations !== undefined ? `${record.iterations} it · ${duration(record.elapsed)} · ` : "", when, steered),
    el("div", { class: "inputs" }, [job.content, ...job.styles].map((input) => el("img", { src: input.url, title: input.label, alt: input.label }))),
    el("div", { class: "buttons" }, buttons)
  );
}

async function prefill(id) {
  try {
    const job = await api(`/api/jobs/${id}`);
    state.content = { ...job.content };
    state.styles = job.styles.map((s) => ({ ...s }));
    renderInputs();
    resetForm({ ...job.form, preview_every: job.preview_every });
    showMessage(`Loaded the images and settings of run ${id.slice(0, 8)}: change what you like and press Start.`);
    window.scrollTo({ top: 0, behavior: "smooth" });
  } catch (err) {
    showMessage(err.message, true);
  }
}

async function resume(id) {
  try {
    const job = await api(`/api/jobs/${id}/resume`, { method: "POST" });
    state.myJobs.push(id);
    state.steerTokens[id] = job.steer_token;
    saveJobs();
    watch(id);
    showMessage(`Run ${id.slice(0, 8)} is back in the queue.`);
    loadGallery();
    poll();
  } catch (err) {
    showMessage(err.message, true);
  }
}

async function remove(id) {
  if (!window.confirm("Delete this run and its files?")) return;
  try {
    await api(`/api/jobs/${id}`, { method: "DELETE" });
    if (state.watching === id) state.watching = null;
    if (state.inside === id) closeInside();
    loadGallery();
  } catch (err) {
    showMessage(err.message, true);
  }
}

// --- see inside: a finished run's panels, computed by the queue on demand ---------------------------

async function seeInside(id) {
  state.inside = id;
  state.insideShown = null;
  const section = $("#inside-section");
  section.hidden = false;
  section.dataset.id = id;
  section.dataset.status = "";
  $("#inside-name").textContent = `· run ${id.slice(0, 8)}`;
  $("#inside-panels").replaceChildren();
  $("#inside-status").textContent = "Asking the server…";
  section.scrollIntoView({ behavior: "smooth" });
  try {
    const task = await api(`/api/jobs/${id}/inside`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
    });
    if (state.inside === id) showInside(task);
  } catch (err) {
    $("#inside-status").textContent = err.message;
  }
}

async function pollInside() {
  const id = state.inside;
  try {
    const task = await api(`/api/jobs/${id}/inside`);
    if (state.inside === id) showInside(task);
  } catch (err) {
    if (state.inside === id) closeInside(); // the entry was deleted elsewhere
  }
}

function showInside(task) {
  const status = $("#inside-status");
  const progress = $("#inside-progress");
  $("#inside-section").dataset.status = task.status;
  $("#inside-cancel").disabled = !ACTIVE.includes(task.status);
  if (task.status === "queued") {
    status.textContent = `Waiting: ${task.position} run(s) ahead in the queue.`;
    progress.value = 0;
  } else if (task.status === "running") {
    const live = task.live || {};
    progress.max = live.panels || 1;
    progress.value = live.panel || 0;
    const title = live.title ? `: ${live.title}` : "";
    status.textContent = live.cancelling
      ? "Stopping…"
      : `Computing panel ${Math.min((live.panel || 0) + 1, live.panels || 1)} of ${live.panels || "?"}${title} · ${duration(live.elapsed)}`;
  } else if (task.status === "done") {
    progress.max = 1;
    progress.value = 1;
    status.textContent = `${task.panels.length} panels.`;
    drawPanels(task.panels);
  } else {
    progress.value = 0;
    const why = task.error ? `: ${task.error}` : "";
    status.textContent = `The panels were not computed${why}. Press See inside on the entry to try again.`;
  }
}

function drawPanels(panels) {
  const signature = JSON.stringify(panels.map((p) => p.url));
  if (signature === state.insideShown) return;
  state.insideShown = signature;
  const rows = new Map();
  for (const panel of panels) {
    if (!rows.has(panel.row)) rows.set(panel.row, []);
    rows.get(panel.row).push(panel);
  }
  const box = $("#inside-panels");
  box.replaceChildren();
  for (const [name, members] of rows) {
    box.append(
      el("h3", {}, name),
      el("div", { class: "inside-row" }, members.map((panel) =>
        el("figure", { class: "inside-panel" },
          el("img", { src: panel.url, alt: panel.title }),
          el("figcaption", {}, el("strong", {}, panel.title), panel.caption))))
    );
  }
}

async function cancelInside() {
  if (!state.inside) return;
  $("#inside-cancel").disabled = true;
  try {
    await api(`/api/jobs/${state.inside}/inside/cancel`, { method: "POST" });
  } catch (err) {
    showMessage(err.message, true);
  }
  pollInside();
}

function closeInside() {
  state.inside = null;
  state.insideShown = null;
  $("#inside-section").hidden = true;
  $("#inside-panels").replaceChildren();
}

// --- start-up ------------------------------------------------------------------------------------

async function init() {
  try {
    state.config = await api("/api/config");
  } catch (err) {
    showMessage(`Cannot load the page's configuration: ${err.message}`, true);
    return;
  }
  renderForm();
  renderSamples();
  const demo = state.config.samples.find((s) => s.content);
  const firstStyle = state.config.samples.find((s) => !s.content);
  if (demo) state.content = { ref: demo.ref, label: demo.name, url: demo.url };
  if (firstStyle) state.styles = [{ ref: firstStyle.ref, label: firstStyle.name.replace(/_/g, " "), url: firstStyle.url, weight: 1 }];
  renderInputs();
  $("#content-file").addEventListener("change", (e) => onFiles(e.target, true));
  $("#style-file").addEventListener("change", (e) => onFiles(e.target, false));
  $("#start").addEventListener("click", start);
  $("#reset").addEventListener("click", () => resetForm());
  $("#cancel").addEventListener("click", cancel);
  $("#inside-cancel").addEventListener("click", cancelInside);
  $("#inside-close").addEventListener("click", closeInside);
  const active = [];
  for (const id of state.myJobs) if (await isActive(id)) active.push(id);
  if (active.length) watch(active[0]);
  loadGallery();
  poll();
  setInterval(poll, POLL_MS);
  setInterval(loadGallery, GALLERY_MS);
  document.body.dataset.ready = "1";
}

init();
