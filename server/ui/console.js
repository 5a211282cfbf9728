// durohost console: a single page over the HTTP API (/v1), no framework, no build step.
// Everything shown comes from the API with the token the user signs in with; nothing is
// written into the page as HTML (text nodes only).
"use strict";

const TOKEN_KEY = "durohost.token";
const PAGE_SIZE = 25;
const REFRESH_MS = 5000;
const STATUSES = ["pending", "running", "completed", "failed", "cancelled"];
// A page shows at most this many timeline rows and raw events (a history may hold 100,000
// events); the whole history is a download.
const MAX_ROWS = 500, MAX_EVENTS = 2000;

const state = { token: null, who: null, timers: [], aborts: [] };

// ---- small DOM helpers -------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// mount shows nodes as the page, unless view (the signal of the route that made them) was
// aborted by a newer route meanwhile.
function mount(view, ...nodes) {
  if (view && view.aborted) return;
  const main = document.getElementById("main");
  main.replaceChildren(...nodes.filter(n => n));
}

function badge(status) { return el("span", { class: "badge " + status, "data-status": status }, status); }

function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function fmtDur(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return "";
  if (ms < 1) return "<1 ms";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  if (ms < 3600000) return Math.floor(ms / 60000) + " min " + Math.round((ms % 60000) / 1000) + " s";
  return (ms / 3600000).toFixed(1) + " h";
}

function pretty(v, b64) {
  if (v !== undefined) return JSON.stringify(v, null, 2);
  if (b64) return "(binary, base64) " + b64;
  return "";
}

// ---- API ---------------------------------------------------------------------------------

class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body, signal, signingIn) {
  const opts = { method, headers: { Authorization: "Bearer " + state.token }, signal };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 401 && !signingIn) { signOut("Your token was refused: sign in again."); throw new APIError(401, "unauthenticated", "signed out"); }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new APIError(res.status, e.code || "error", e.message || res.statusText);
  }
  return data;
}

const inst = id => "/v1/instances/" + encodeURIComponent(id);

// localID is an instance's ID within the signed-in namespace: histories name other
// instances (children) by their store keys, "namespace/id".
function localID(id) {
  const prefix = state.who ? state.who.namespace + "/" : "";
  return prefix && id && id.startsWith(prefix) ? id.slice(prefix.length) : id;
}

const instLink = id => "#/instance/" + encodeURIComponent(localID(id));

// ---- session -----------------------------------------------------------------------------

function loadToken() { return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY); }

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
  state.token = null; state.who = null;
  showSignIn(message);
}

function showSignIn(message) {
  stopBackground();
  document.getElementById("bar").hidden = true;
  const err = el("p", { class: "error", role: "alert", id: "signin-error" }, message || "");
  const token = el("input", { id: "token", type: "password", autocomplete: "current-password", required: true, autofocus: true });
  const remember = el("input", { id: "remember", type: "checkbox" });
  const form = el("form", { class: "panel signin", id: "signin" },
    el("h1", {}, "Sign in to durohost"),
    el("p", {}, "Paste a token of your namespace. A read token can look; a write token can also cancel, signal and delete."),
    el("label", { for: "token" }, "Token"), token,
    el("label", { class: "check" }, remember, "Keep me signed in on this device"),
    el("button", { type: "submit" }, "Sign in"), err);
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    state.token = token.value.trim();
    try {
      state.who = await api("GET", "whoami", undefined, undefined, true);
    } catch (e) {
      state.token = null;
      err.textContent = e.status === 401 || e.code === "unauthenticated" ? "Unknown token." : "Cannot sign in: " + e.message;
      return;
    }
    (remember.checked ? localStorage : sessionStorage).setItem(TOKEN_KEY, state.token);
    if (!location.hash || location.hash === "#/signin") location.hash = "#/instances";
    else route();
  });
  mount(null, form);
  token.focus();
}

// ---- background work (auto-refresh, long-polls) stops when the view changes ------------

function stopBackground() {
  state.timers.forEach(clearInterval); state.timers = [];
  state.aborts.forEach(a => a.abort()); state.aborts = [];
}

// every runs fn every ms while the page is visible, but never while its previous run (a
// request a slow server has not answered yet) is still going: an open console would otherwise
// pile a request every ms onto an overloaded server.
function every(ms, fn) {
  let busy = false;
  state.timers.push(setInterval(async () => {
    if (document.hidden || busy) return;
    busy = true;
    try { await fn(); } catch { /* each fn reports its own failures */ } finally { busy = false; }
  }, ms));
}

function abortable() { const a = new AbortController(); state.aborts.push(a); return a.signal; }

// ---- routing -----------------------------------------------------------------------------

// decode is decodeURIComponent that keeps a malformed escape as it is (a hand-made or cut
// link would otherwise throw in route and leave the page dead).
function decode(s) { try { return decodeURIComponent(s); } catch { return s; } }

function parseHash() {
  const h = location.hash.replace(/^#/, "") || "/instances";
  const [path, query] = h.split("?");
  return { parts: path.split("/").filter(Boolean).map(decode), query: new URLSearchParams(query || "") };
}

async function route() {
  stopBackground();
  if (!state.token) return showSignIn();
  const view = abortable(); // aborted by the next route: what this one still renders is dropped
  if (!state.who) {
    try { state.who = await api("GET", "whoami"); } catch (e) { if (e.status !== 401) showError(e); return; }
  }
  const bar = document.getElementById("bar");
  bar.hidden = false;
  document.getElementById("who").replaceChildren(
    el("span", {}, "namespace "), el("b", {}, state.who.namespace), " ", el("span", { class: "badge role", id: "role" }, state.who.role));
  const { parts, query } = parseHash();
  document.title = (parts[0] === "instance" && parts[1] ? parts.slice(1).join("/") : parts[0] === "modules" ? "Modules" : "Instances") + " · durohost";
  for (const a of bar.querySelectorAll("[data-nav]")) a.classList.toggle("on", a.dataset.nav === (parts[0] === "instance" ? "instances" : parts[0]));
  try {
    if (parts[0] === "instance" && parts[1]) return await showInstance(parts.slice(1).join("/"), query, view);
    if (parts[0] === "modules") return await showModules(view);
    return await showInstances(query, view);
  } catch (e) {
    if (e.status !== 401 && e.name !== "AbortError" && !view.aborted) showError(e);
  }
}

function showError(e) {
  mount(null, el("div", { class: "panel" }, el("h2", {}, "Something went wrong"), el("p", { class: "error" }, e.message)));
}

const canWrite = () => state.who && state.who.role === "write";

// ---- instance list -----------------------------------------------------------------------

async function showInstances(query, view) {
  const status = query.get("status") || "", name = query.get("name") || "", prefix = query.get("prefix") || "";
  const token = query.get("page_token") || "";
  const back = (query.get("back") || "").split(",").filter(Boolean);

  const statusSel = el("select", { id: "f-status" }, el("option", { value: "" }, "any"),
    STATUSES.map(s => el("option", { value: s, selected: s === status }, s)));
  const nameIn = el("input", { id: "f-name", value: name, placeholder: "orchestration name" });
  const prefixIn = el("input", { id: "f-prefix", value: prefix, placeholder: "ID prefix" });
  const auto = el("input", { id: "auto", type: "checkbox", checked: sessionStorage.getItem("durohost.auto") !== "off" });
  const form = el("form", { class: "filters", id: "filters" },
    el("div", {}, el("label", { for: "f-status" }, "Status"), statusSel),
    el("div", {}, el("label", { for: "f-name" }, "Orchestration"), nameIn),
    el("div", {}, el("label", { for: "f-prefix" }, "Instance ID starts with"), prefixIn),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Filter"),
      el("button", { type: "button", class: "secondary", onclick: () => { location.hash = "#/instances"; } }, "Clear")));
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (statusSel.value) q.set("status", statusSel.value);
    if (nameIn.value.trim()) q.set("name", nameIn.value.trim());
    if (prefixIn.value.trim()) q.set("prefix", prefixIn.value.trim());
    location.hash = "#/instances" + (q.toString() ? "?" + q : "");
  });

  const tbody = el("tbody", { id: "instances" });
  const table = el("table", { class: "cards list" },
    el("thead", {}, el("tr", {}, ["Instance", "Orchestration", "Status", "Created", "Updated"].map(h => el("th", {}, h)))), tbody);
  const prev = el("button", { class: "secondary", id: "prev", type: "button", disabled: back.length === 0 }, "← Newer");
  const next = el("button", { class: "secondary", id: "next", type: "button", disabled: true }, "Older →");
  const stamp = el("span", { class: "muted", id: "stamp" });
  const startArea = el("div", { id: "start-area" });
  const startButton = canWrite() ? el("button", { type: "button", class: "secondary", id: "act-start",
    onclick: () => startForm(startArea) }, "Start instance") : null;
  mount(view, el("div", { class: "panel" }, form,
    el("div", { class: "toolbar" },
      el("label", { class: "check" }, auto, "Auto-refresh every 5 s"), el("div", { class: "pager" }, stamp, startButton)), startArea),
    el("div", { class: "panel" }, table,
      el("div", { class: "toolbar" }, el("span", { class: "muted", id: "count" }), el("div", { class: "pager" }, prev, next))));

  const go = (tok, backStack) => {
    const q = new URLSearchParams(query);
    q.delete("page_token"); q.delete("back");
    if (tok) q.set("page_token", tok);
    if (backStack.length) q.set("back", backStack.join(","));
    location.hash = "#/instances?" + q;
  };
  let nextToken = "";
  next.addEventListener("click", () => go(nextToken, [...back, token || "-"]));
  prev.addEventListener("click", () => { const b = back.slice(); const t = b.pop(); go(t === "-" ? "" : t, b); });

  const load = async () => {
    const q = new URLSearchParams({ page_size: PAGE_SIZE });
    if (status) q.set("status", status);
    if (name) q.set("name", name);
    if (prefix) q.set("prefix", prefix);
    if (token) q.set("page_token", token);
    const page = await api("GET", "/v1/instances?" + q, undefined, view);
    nextToken = page.next_page_token || "";
    next.disabled = !nextToken;
    tbody.replaceChildren(...(page.instances.length ? page.instances.map(row) :
      [el("tr", {}, el("td", { class: "empty", colspan: 5 }, "No instances match."))]));
    document.getElementById("count").textContent = page.instances.length + (nextToken ? "+" : "") + " instances";
    stamp.textContent = "updated " + new Date().toLocaleTimeString();
  };
  const row = i => el("tr", { "data-id": i.id },
    el("td", { class: "id", "data-label": "Instance" }, el("a", { href: "#/instance/" + encodeURIComponent(i.id) }, i.id)),
    el("td", { "data-label": "Orchestration" }, i.name || "", i.version ? el("small", { class: "muted" }, " " + i.version) : null),
    el("td", { "data-label": "Status" }, badge(i.status)),
    el("td", { "data-label": "Created" }, fmtTime(i.created_at)),
    el("td", { "data-label": "Updated" }, fmtTime(i.completed_at || i.updated_at)));
  await load();
  const refresh = () => load().catch(e => { if (e.name !== "AbortError" && e.status !== 401) stamp.textContent = "refresh failed: " + e.message; });
  auto.addEventListener("change", () => sessionStorage.setItem("durohost.auto", auto.checked ? "on" : "off"));
  every(REFRESH_MS, () => auto.checked ? refresh() : null);
}

// startForm opens, in area, the form that starts an instance of one of the namespace's
// orchestrations.
async function startForm(area) {
  const regs = (await api("GET", "/v1/orchestrations")).orchestrations || [];
  const names = [...new Set(regs.map(r => r.name))].sort();
  const name = el("select", { id: "start-name", required: true }, names.map(n => el("option", { value: n }, n)));
  const version = el("input", { id: "start-version", placeholder: "latest" });
  const id = el("input", { id: "start-id", placeholder: "generated" });
  const input = el("textarea", { id: "start-input", placeholder: "JSON, e.g. {\"order\": 42}" });
  const msg = el("p", { class: "error", role: "alert" });
  const f = el("form", { class: "start", id: "start-form" },
    el("div", {}, el("label", { for: "start-name" }, "Orchestration"), name),
    el("div", {}, el("label", { for: "start-version" }, "Version"), version),
    el("div", {}, el("label", { for: "start-id" }, "Instance ID"), id),
    el("div", { class: "wide" }, el("label", { for: "start-input" }, "Input (JSON)"), input),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Start"),
      el("button", { type: "button", class: "secondary", onclick: () => area.replaceChildren() }, "Close")), msg);
  if (!names.length) {
    area.replaceChildren(el("p", { class: "muted" }, "No orchestrations yet: push a module first (durohost module push)."));
    return;
  }
  f.addEventListener("submit", async ev => {
    ev.preventDefault();
    msg.textContent = "";
    const body = { name: name.value };
    if (version.value.trim()) body.version = version.value.trim();
    if (id.value.trim()) body.id = id.value.trim();
    if (input.value.trim()) {
      try { body.input = JSON.parse(input.value); } catch (e) { msg.textContent = "The input is not valid JSON: " + e.message; return; }
    }
    try {
      const started = await api("POST", "/v1/instances", body);
      location.hash = "#/instance/" + encodeURIComponent(started.id);
    } catch (e) { msg.textContent = e.message; }
  });
  area.replaceChildren(f);
  name.focus();
}

// ---- instance page -----------------------------------------------------------------------

async function showInstance(id, query, view) {
  const execution = query.get("execution") || "";
  const [info, hist, tree, execs] = await Promise.all([
    api("GET", inst(id), undefined, view), api("GET", inst(id) + "/history" + (execution ? "?execution=" + encodeURIComponent(execution) : ""), undefined, view),
    api("GET", inst(id) + "/tree", undefined, view).catch(() => null), api("GET", inst(id) + "/executions", undefined, view).catch(() => null)]);
  if (view.aborted) return;
  const events = (hist.history && hist.history.events) || [];
  const finished = !["pending", "running"].includes(info.status);

  const custom = el("pre", { id: "custom-status" }, pretty(info.custom_status, info.custom_status_base64) || "—");
  const liveTag = el("span", { class: "live", id: "live", hidden: finished }, "live");
  const [acts, actionArea] = actions(id, info);
  const title = el("div", { class: "title" }, el("h1", { id: "instance-id" }, id), badge(info.status), acts);
  const changed = el("p", { class: "muted", id: "changed", hidden: true }, "New events since this page was shown. ",
    el("button", { type: "button", class: "link", id: "reload", onclick: () => route() }, "Reload"));

  const summary = el("div", { class: "summary" },
    field("Orchestration", info.name), field("Version", info.version || "—"), field("Execution", info.execution || 1),
    field("Created", fmtTime(info.created_at)), field(finished ? "Ended" : "Updated", fmtTime(info.completed_at || info.updated_at)),
    field(finished ? "Duration" : "Running for", info.created_at ? fmtDur((finished ? new Date(info.completed_at || info.updated_at) : Date.now()) - new Date(info.created_at)) : ""),
    info.parent_id ? field("Parent", el("a", { href: instLink(info.parent_id) }, localID(info.parent_id))) : null,
    field("Module", el("span", { class: "mono" }, (info.module_hash || "").slice(0, 16))));

  const io = el("div", { class: "grid2" },
    el("div", {}, el("h2", {}, "Input"), el("pre", { id: "input" }, pretty(inputOf(events)) || "—")),
    el("div", {}, el("h2", {}, info.failure ? "Failure" : "Output"),
      el("pre", { id: "output" }, info.failure ? failureText(info.failure) : (pretty(info.output, info.output_base64) || "—"))));

  const children = (tree && tree.children) || [];
  mount(view,
    el("div", { class: "panel" }, title, changed, actionArea, summary, io,
      el("div", { class: "section" }, el("h2", {}, "Custom status ", liveTag), custom)),
    el("div", { class: "panel" }, el("div", { class: "title" }, el("h2", {}, "Timeline"), executionPicker(id, execs, hist.execution)),
      timeline(events, execution && Number(execution) !== (info.execution || 1) ? Object.assign({}, info, { status: "completed" }) : info)),
    children.length ? el("div", { class: "panel" }, el("h2", {}, "Children"), childList(children)) : null,
    el("div", { class: "panel" }, el("div", { class: "title" }, el("h2", {}, "Events (" + events.length + ")"),
      el("button", { type: "button", class: "secondary", id: "download", onclick: () => download(id, hist) }, "Download JSON")),
      rawEvents(events)));

  if (!finished) {
    // The custom status is followed by long-polls; any change of the instance reloads the page's data.
    const signal = view;
    (async () => {
      let etag = null;
      for (;;) {
        const q = etag === null ? "" : "?wait_for_change=" + encodeURIComponent(etag) + "&timeout=25s";
        const cs = await api("GET", inst(id) + "/custom-status" + q, undefined, signal);
        if (etag !== null && cs.etag !== etag) custom.textContent = pretty(cs.custom_status, cs.custom_status_base64) || "—";
        etag = cs.etag;
        if (signal.aborted) return;
        if (cs.status !== "running" && cs.status !== "pending") { route(); return; }
      }
    })().catch(() => {});
    // A change of status reloads the page; other changes reload it while its history is short.
    // A long one (up to the host's MaxEvents) is not downloaded again at every change of an
    // instance that keeps running: a note offers to reload it.
    every(REFRESH_MS, async () => {
      if (document.querySelector("#action-form form")) return; // never under a form being filled in
      const now = await api("GET", inst(id), undefined, view).catch(() => null);
      if (view.aborted || !now) return;
      if (now.status !== info.status || (now.updated_at !== info.updated_at && events.length <= MAX_EVENTS)) route();
      else if (now.updated_at !== info.updated_at) changed.hidden = false;
    });
  }
}

// executionPicker links the executions of an instance that continued as new (nothing for one).
function executionPicker(id, execs, shown) {
  const list = (execs && execs.executions) || [];
  if (list.length < 2) return null;
  return el("nav", { class: "execs", id: "executions", "aria-label": "Executions" }, el("span", { class: "muted" }, "Execution"),
    list.map(x => el("a", { href: "#/instance/" + encodeURIComponent(id) + "?execution=" + x.id, class: x.id === shown ? "on" : null,
      title: x.status + ", " + x.events + " events" }, String(x.id))));
}

function field(name, value) { return el("div", {}, el("span", {}, name), el("b", {}, value)); }

function inputOf(events) {
  const s = events.find(e => e.kind === "execution_started");
  return s ? (s.input !== undefined ? s.input : undefined) : undefined;
}

function failureText(f) { return [f.kind, f.code].filter(Boolean).join(" / ") + "\n" + (f.message || ""); }

function childList(children) {
  return el("ul", {}, children.map(c => el("li", {},
    el("a", { href: instLink(c.id) }, localID(c.id)), " ", c.name || "", " ", badge(c.status))));
}

// actions returns the buttons of the actions on an instance (cancel, raise event, enqueue,
// delete) and the area where their forms open; nothing for a read token.
function actions(id, info) {
  if (!canWrite()) return [null, null];
  const running = info.status === "running" || info.status === "pending";
  const box = el("div", { class: "acts", id: "actions" });
  const area = el("div", { id: "action-form" });
  const msg = el("p", { class: "error", role: "alert" });
  const done = () => route();
  const form = (label, fields, submit, cls) => {
    const f = el("form", { class: "form" }, ...fields, el("button", { type: "submit", class: cls || "" }, label));
    f.addEventListener("submit", async ev => {
      ev.preventDefault();
      msg.textContent = "";
      try { await submit(); done(); } catch (e) { msg.textContent = e.message; }
    });
    area.replaceChildren(f, msg);
    const first = f.querySelector("input,textarea");
    if (first) first.focus();
  };
  const jsonField = (idName, label) => {
    const t = el("textarea", { id: idName, placeholder: "JSON, e.g. {\"ok\": true}" });
    return [el("div", {}, el("label", { for: idName }, label), t), t];
  };
  if (running) {
    box.append(
      el("button", { type: "button", class: "secondary", id: "act-raise", onclick: () => {
        const n = el("input", { id: "event-name", required: true });
        const [wrap, data] = jsonField("event-data", "Data (JSON)");
        form("Raise event", [el("div", {}, el("label", { for: "event-name" }, "Event name"), n), wrap],
          () => api("POST", inst(id) + "/events/" + encodeURIComponent(n.value), data.value.trim() || "null"));
      } }, "Raise event"),
      el("button", { type: "button", class: "secondary", id: "act-enqueue", onclick: () => {
        const n = el("input", { id: "queue-name", required: true });
        const [wrap, data] = jsonField("queue-data", "Message (JSON)");
        form("Enqueue", [el("div", {}, el("label", { for: "queue-name" }, "Queue"), n), wrap],
          () => api("POST", inst(id) + "/queues/" + encodeURIComponent(n.value), data.value.trim() || "null"));
      } }, "Enqueue"),
      el("button", { type: "button", class: "danger", id: "act-cancel", onclick: () => {
        const r = el("input", { id: "cancel-reason", placeholder: "optional" });
        form("Cancel instance", [el("div", {}, el("label", { for: "cancel-reason" }, "Reason"), r)],
          () => api("POST", inst(id) + "/cancel", { reason: r.value }), "danger");
      } }, "Cancel"));
  }
  box.append(el("button", { type: "button", class: running ? "secondary" : "danger", id: "act-delete", onclick: () => {
    const force = el("input", { id: "delete-force", type: "checkbox" });
    form("Delete for good", [
      el("p", {}, "Deletes the instance, its history and its sub-orchestrations."),
      running ? el("label", { class: "check" }, force, "It is still running: delete it anyway") : null],
      async () => { await api("DELETE", inst(id) + (force.checked ? "?force=true" : "")); location.hash = "#/instances"; }, "danger");
  } }, "Delete"));
  return [el("div", { class: "acts-wrap" }, box), area];
}

// ---- timeline ----------------------------------------------------------------------------

// timeline draws the execution as rows: each activity, timer, child and event wait from its
// decision to its completion, and the turns, on one time axis.
function timeline(events, info) {
  const t = e => e.time ? Date.parse(e.time) : NaN;
  const byId = new Map(events.map(e => [e.id, e]));
  const rows = [];
  const open = new Map();
  const failedBefore = new Map();
  for (const e of events) {
    switch (e.kind) {
      case "activity_scheduled": {
        const retry = failedBefore.get(e.name) || 0;
        const r = { kind: "activity", label: e.name, note: retry ? "retry " + retry : "", start: t(e), end: NaN, id: e.id };
        rows.push(r); open.set(e.id, r); break;
      }
      case "timer_created": {
        const r = { kind: "timer", label: "timer", note: e.fire_at ? "until " + new Date(e.fire_at).toLocaleTimeString() : "", start: t(e), end: NaN, id: e.id };
        rows.push(r); open.set(e.id, r); break;
      }
      case "sub_orchestration_scheduled": {
        const r = { kind: "child", label: e.name, link: e.instance_id, note: "child", start: t(e), end: NaN, id: e.id };
        rows.push(r); open.set(e.id, r); break;
      }
      case "orchestration_started":
        rows.push({ kind: "child", label: e.name, link: e.instance_id, note: "detached", start: t(e), end: t(e), id: e.id }); break;
      case "event_subscribed": case "queue_subscribed": {
        const r = { kind: "event", label: e.name, note: e.kind === "event_subscribed" ? "event" : "queue", start: t(e), end: NaN, id: e.id };
        rows.push(r); open.set("w:" + e.name, r); break;
      }
      case "event_raised": case "queue_message": {
        const r = open.get("w:" + e.name);
        if (r && isNaN(r.end)) r.end = t(e); else rows.push({ kind: "event", label: e.name, note: "received", start: t(e), end: t(e), id: e.id });
        break;
      }
      case "activity_completed": case "activity_failed": case "timer_fired":
      case "sub_orchestration_completed": case "sub_orchestration_failed": case "future_cancelled": {
        const r = open.get(e.ref);
        if (!r) break;
        r.end = t(e);
        if (e.kind.endsWith("_failed")) {
          r.failed = true;
          if (r.kind === "activity") failedBefore.set(r.label, (failedBefore.get(r.label) || 0) + 1);
        }
        if (e.kind === "future_cancelled") r.note = (r.note ? r.note + ", " : "") + "cancelled";
        open.delete(e.ref); break;
      }
    }
  }
  const turns = events.filter(e => e.kind === "turn_started").map(t);
  const times = events.map(t).filter(x => !isNaN(x));
  if (!times.length) return el("p", { class: "muted" }, "No events yet.");
  const finished = !["pending", "running"].includes(info.status);
  // Loops, not Math.min(...times): spreading a history's 100,000s of times into arguments
  // overflows the stack.
  let t0 = Infinity, t1 = finished ? -Infinity : Date.now();
  for (const x of times) { if (x < t0) t0 = x; if (x > t1) t1 = x; }
  const span = Math.max(t1 - t0, 1);
  const pct = x => ((x - t0) / span * 100).toFixed(3) + "%";
  const line = (label, segs, dur, attrs) => el("div", Object.assign({ class: "row" }, attrs || {}),
    el("div", { class: "label" }, label), el("div", { class: "track" }, segs), el("div", { class: "dur" }, dur));
  const out = el("div", { class: "timeline", id: "timeline" });
  // A tick per turn, but at most one per 0.1% of the axis (a history may hold 50,000 turns).
  const ticks = [...new Set(turns.map(x => ((x - t0) / span * 100).toFixed(1)))];
  out.append(line(el("span", {}, "turns", el("small", {}, turns.length)),
    ticks.map(x => el("div", { class: "seg turn", "data-left": x + "%" })), fmtDur(t1 - t0)));
  if (rows.length > MAX_ROWS) {
    out.append(el("p", { class: "muted", id: "timeline-more" }, "The first " + MAX_ROWS + " of " + rows.length + " rows; the events below hold everything."));
    rows.length = MAX_ROWS;
  }
  for (const r of rows) {
    const end = isNaN(r.end) ? (finished ? r.start : t1) : r.end;
    const label = r.link ? el("a", { href: instLink(r.link) }, r.label) : el("span", {}, r.label);
    const seg = el("div", { class: "seg " + r.kind + (r.failed ? " failed" : "") + (isNaN(r.end) ? " open" : ""),
      "data-left": pct(r.start), "data-width": ((end - r.start) / span * 100).toFixed(3) + "%",
      title: r.label + (isNaN(r.end) ? " (waiting)" : "") });
    out.append(line(el("span", {}, label, r.note ? el("small", {}, r.note) : null), [seg],
      isNaN(r.end) ? (finished ? "—" : "waiting") : fmtDur(r.end - r.start), { "data-kind": r.kind }));
  }
  // Positions are set through the CSS object model (the page's policy allows no inline styles).
  for (const s of out.querySelectorAll(".seg")) {
    s.style.left = s.dataset.left;
    if (s.dataset.width) s.style.width = s.dataset.width;
  }
  const legend = el("div", { class: "legend" }, [["activity", "activity"], ["timer", "timer"], ["child", "child"], ["event", "event / queue"], ["turn", "turn"], ["failed", "failed"]]
    .map(([k, n]) => el("span", {}, el("i", { class: "seg " + k, "data-legend": k }), n)));
  for (const i of legend.querySelectorAll("i")) i.style.background = getComputedStyle(document.documentElement).getPropertyValue("--" + (i.dataset.legend === "failed" ? "failed" : i.dataset.legend));
  return el("div", {}, out, legend);
}

// ---- raw events --------------------------------------------------------------------------

function rawEvents(events) {
  const detail = e => {
    const rest = Object.assign({}, e);
    delete rest.id; delete rest.kind; delete rest.time;
    return Object.keys(rest).length ? el("details", {}, el("summary", {}, summaryOf(e)), el("pre", {}, JSON.stringify(rest, null, 2))) : "";
  };
  const more = events.length > MAX_EVENTS ?
    el("p", { class: "muted", id: "events-more" }, "The first " + MAX_EVENTS + " of " + events.length + " events: download the JSON for all of them.") : null;
  return el("div", {}, el("table", { class: "events", id: "events" },
    el("thead", {}, el("tr", {}, ["#", "Kind", "Time", "Details"].map(h => el("th", {}, h)))),
    el("tbody", {}, events.slice(0, MAX_EVENTS).map(e => el("tr", {},
      el("td", { "data-label": "#" }, e.id || ""), el("td", { class: "kind", "data-label": "Kind" }, e.kind),
      el("td", { "data-label": "Time" }, e.time ? new Date(e.time).toLocaleTimeString(undefined, { hour12: false }) + "." + String(new Date(e.time).getMilliseconds()).padStart(3, "0") : ""),
      el("td", { "data-label": "Details" }, detail(e)))))), more);
}

// download saves the history document as GET /v1/instances/{id}/history gave it.
function download(id, hist) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(hist, null, 2)], { type: "application/json" }));
  const a = el("a", { href: url, download: localID(id).replace(/[^A-Za-z0-9._-]+/g, "_") + "-" + hist.execution + ".json" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function summaryOf(e) {
  const parts = [];
  if (e.name) parts.push(e.name);
  if (e.ref) parts.push("→ #" + e.ref);
  if (e.instance_id) parts.push(localID(e.instance_id));
  if (e.failure) parts.push(e.failure.message || "failure");
  return parts.join(" ") || "details";
}

// ---- modules -----------------------------------------------------------------------------

async function showModules(view) {
  const [mods, plugins] = await Promise.all([api("GET", "/v1/modules", undefined, view), api("GET", "/v1/plugins", undefined, view).catch(() => null)]);
  const list = mods.modules || [];
  const modTable = el("table", { class: "cards", id: "modules" },
    el("thead", {}, el("tr", {}, ["Module", "Version", "Orchestrations", "Size", "Uploaded", "SHA-256"].map(h => el("th", {}, h)))),
    el("tbody", {}, list.length ? list.map(m => el("tr", {},
      el("td", { "data-label": "Module" }, m.name), el("td", { "data-label": "Version" }, m.version),
      el("td", { "data-label": "Orchestrations" }, (m.orchestrations || []).map(o => el("div", {},
        el("a", { href: "#/instances?name=" + encodeURIComponent(o.name) }, o.name), o.version ? el("small", { class: "muted" }, " " + o.version) : null))),
      el("td", { "data-label": "Size" }, (m.size / 1024).toFixed(0) + " KiB"),
      el("td", { "data-label": "Uploaded" }, fmtTime(m.uploaded_at)),
      el("td", { class: "id", "data-label": "SHA-256" }, (m.hash || "").slice(0, 16))))
      : [el("tr", {}, el("td", { class: "empty", colspan: 6 }, "No modules yet: push one with durohost module push."))]));
  const nodes = [el("div", { class: "panel" }, el("h2", {}, "Modules"), modTable)];
  const pl = plugins && (plugins.plugins || []);
  if (pl) {
    nodes.push(el("div", { class: "panel" }, el("h2", {}, "Plugins"),
      el("table", { class: "cards", id: "plugins" },
        el("thead", {}, el("tr", {}, ["Plugin", "Version", "Activities", "Allowed hosts", "Uploaded", "SHA-256"].map(h => el("th", {}, h)))),
        el("tbody", {}, pl.length ? pl.map(p => el("tr", {},
          el("td", { "data-label": "Plugin" }, p.name || ""), el("td", { "data-label": "Version" }, p.version || ""),
          el("td", { "data-label": "Activities" }, (p.activities || []).map(a => el("div", { class: "mono" }, typeof a === "string" ? a : a.name))),
          el("td", { "data-label": "Allowed hosts" }, (p.allowed_hosts || []).join(", ") || "—"),
          el("td", { "data-label": "Uploaded" }, fmtTime(p.uploaded_at)),
          el("td", { class: "id", "data-label": "SHA-256" }, (p.sha256 || p.hash || "").slice(0, 16))))
          : [el("tr", {}, el("td", { class: "empty", colspan: 6 }, "No plugins."))]))));
  }
  mount(view, ...nodes);
}

// ---- start -------------------------------------------------------------------------------

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signout").addEventListener("click", () => { signOut(); location.hash = "#/signin"; });
  state.token = loadToken();
  route();
});
