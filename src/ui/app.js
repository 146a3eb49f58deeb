// The status page: read-only views over the REST API with the pasted token.
// Every value from the daemon is untrusted text (tenant names, pg_dump's
// stderr): it is only ever set with textContent, never parsed as HTML.
"use strict";

const KEY = "containarium.token";
let config = { maxAge: "" };
let timer = null;

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function api(path) {
  const token = sessionStorage.getItem(KEY);
  const resp = await fetch(path, {
    headers: { Authorization: "Bearer " + token },
    credentials: "omit",
    cache: "no-store",
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(body.message || "HTTP " + resp.status);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function age(iso) {
  if (!iso) return null;
  return Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
}

function human(secs) {
  if (secs === null) return "never";
  if (secs < 90) return Math.round(secs) + " s ago";
  if (secs < 5400) return Math.round(secs / 60) + " min ago";
  if (secs < 172800) return Math.round(secs / 3600) + " h ago";
  return Math.round(secs / 86400) + " d ago";
}

function bytes(n) {
  n = Number(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

// A small SVG line of the sizes, oldest to newest.
function trend(sizes) {
  const ns = "http://www.w3.org/2000/svg";
  const w = 120, h = 28, pad = 3;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "trend");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  const title = document.createElementNS(ns, "title");
  title.textContent = sizes.map(bytes).join(" → ");
  svg.appendChild(title);
  if (sizes.length === 0) return svg;
  const max = Math.max(...sizes), min = Math.min(...sizes);
  const span = max - min || 1;
  const pts = sizes.map((s, i) => {
    const x = sizes.length === 1 ? w / 2 : pad + (i * (w - 2 * pad)) / (sizes.length - 1);
    const y = h - pad - ((s - min) * (h - 2 * pad)) / span;
    return [x, y];
  });
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.map((p) => p.join(",")).join(" "));
  svg.appendChild(line);
  const last = pts[pts.length - 1];
  const dot = document.createElementNS(ns, "circle");
  dot.setAttribute("cx", last[0]);
  dot.setAttribute("cy", last[1]);
  dot.setAttribute("r", 2.5);
  svg.appendChild(dot);
  return svg;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function renderFreshness(check, records, staleAfter) {
  const rows = check.statuses.map((s) => {
    const mine = records
      .filter((r) => r.username === s.username && r.database === s.database)
      .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
    const tr = el("tr", null, s.ok ? "fresh" : "stale");
    tr.dataset.tenant = s.username;
    tr.dataset.database = s.database;
    tr.appendChild(el("td", s.username));
    tr.appendChild(el("td", s.database || "—"));
    const a = age(s.lastBackupAt);
    const ratio = a === null || !staleAfter ? 2 : a / staleAfter;
    const cls = ratio < 0.5 ? "age-ok" : ratio < 1 ? "age-warn" : "age-bad";
    const ageCell = el("td", human(a), cls);
    if (s.lastBackupAt) ageCell.title = s.lastBackupAt;
    tr.appendChild(ageCell);
    const tests = mine.filter((r) => r.lastVerification).map((r) => r.lastVerification);
    tests.sort((x, y) => Date.parse(y.verifiedAt) - Date.parse(x.verifiedAt));
    if (tests.length) {
      const v = tests[0];
      const passed = v.result === "VERIFICATION_RESULT_PASSED";
      const td = el("td", (passed ? "passed " : "FAILED ") + human(age(v.verifiedAt)), passed ? "pass" : "fail");
      td.title = v.error || v.verifiedAt;
      tr.appendChild(td);
    } else {
      tr.appendChild(el("td", "never", "dim"));
    }
    const sizes = mine.slice(-12).map((r) => Number(r.sizeBytes));
    const td = el("td");
    td.appendChild(trend(sizes));
    if (sizes.length) td.appendChild(el("span", " " + bytes(sizes[sizes.length - 1]), "dim"));
    tr.appendChild(td);
    const status = el("td");
    const badge = el("span", s.ok ? "fresh" : "stale", "badge");
    status.appendChild(badge);
    if (s.problem) status.appendChild(el("div", s.problem, "dim"));
    tr.appendChild(status);
    return tr;
  });
  fill($("freshness").tBodies[0], rows);
}

function renderOperations(ops) {
  const rows = ops.operations.map((o) => {
    const tr = el("tr");
    tr.appendChild(el("td", o.kind));
    tr.appendChild(el("td", o.username));
    tr.appendChild(el("td", o.database));
    tr.appendChild(el("td", o.phase));
    const td = el("td");
    const total = Number(o.bytesTotal), done = Number(o.bytesDone);
    if (total > 0) {
      const p = el("progress");
      p.max = total;
      p.value = done;
      td.appendChild(p);
      td.appendChild(el("span", " " + Math.floor((100 * done) / total) + "% of " + bytes(total), "dim"));
    } else {
      td.appendChild(el("span", bytes(done)));
    }
    tr.appendChild(td);
    tr.appendChild(el("td", human(age(o.startedAt))));
    return tr;
  });
  fill($("operations").tBodies[0], rows);
  $("operations-empty").hidden = rows.length > 0;
  const failures = ops.failures.map((f) => {
    const tr = el("tr");
    tr.appendChild(el("td", human(age(f.at))));
    tr.appendChild(el("td", f.event, "fail"));
    tr.appendChild(el("td", f.username));
    tr.appendChild(el("td", f.database || "—"));
    tr.appendChild(el("td", f.message));
    return tr;
  });
  fill($("failures").tBodies[0], failures);
  $("failures-empty").hidden = failures.length > 0;
}

async function refresh() {
  try {
    const q = "/v1/backups:check?maxAge=" + encodeURIComponent(config.maxAge);
    const [check, list, ops] = await Promise.all([api(q), api("/v1/backups"), api("/v1/operations")]);
    renderFreshness(check, list.records, config.staleAfterSecs);
    renderOperations(ops);
    $("updated").textContent = "Updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  } catch (e) {
    if (e.status === 401) return signOut("Signed out: " + e.message);
    $("updated").textContent = "Could not refresh: " + e.message;
  }
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch (_) {
    return {};
  }
}

function showSignedIn() {
  const c = claims(sessionStorage.getItem(KEY));
  const roles = Array.isArray(c.roles) && c.roles.includes("admin") ? " (admin)" : "";
  $("who").textContent = "Signed in as " + (c.username || "?") + roles;
  $("session").hidden = false;
  $("sign-in-panel").hidden = true;
  $("status").hidden = false;
  refresh();
  timer = setInterval(refresh, 5000);
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  delete document.body.dataset.loaded;
  $("session").hidden = true;
  $("status").hidden = true;
  $("sign-in-panel").hidden = false;
  $("error").textContent = message || "";
  fill($("freshness").tBodies[0], []);
}

async function signIn() {
  const token = $("token").value.trim();
  $("token").value = "";
  if (!token) return;
  sessionStorage.setItem(KEY, token);
  try {
    await api("/v1/operations");
  } catch (e) {
    return signOut("Sign-in refused: " + e.message);
  }
  $("error").textContent = "";
  showSignedIn();
}

async function start() {
  config = await fetch("/ui/config.json", { cache: "no-store" }).then((r) => r.json());
  $("threshold").textContent = "(stale after " + config.maxAge + ")";
  $("sign-in").addEventListener("click", signIn);
  $("sign-out").addEventListener("click", () => signOut(""));
  if (sessionStorage.getItem(KEY)) showSignedIn();
}

document.addEventListener("DOMContentLoaded", start);
