// The collector's dashboard. Reads only the collector's own JSON API (same origin); draws its charts as inline SVG.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const HOUR = 3600 * 1000;
const TOKEN_KEY = "sluice-dashboard-token";
// The largest value a counter can show: sums stop there (saturate) instead of wrapping.
const MAX_COUNT = 9223372036854775807n;

// How each loss counter counts comes from the API (loss_kinds), not from a list of our own:
// event kinds add up to "total", batch kinds to "batches_lost".
const state = { from: 0, to: 0, agent: null, next: null, searchParams: null, kinds: [] };
const eventKinds = () => state.kinds.filter((k) => k.in_total);

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c === null || c === undefined ? "" : c);
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

const fmt = new Intl.NumberFormat("en-US");
// JSON numbers past 2^53 arrive rounded: a saturated counter is shown as the exact maximum it stands for.
const num = (n) => (n >= 9.2e18 ? `${fmt.format(MAX_COUNT)} (max)` : fmt.format(n));
const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
const short = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");
const uid = (v, name) => (v === null || v === undefined ? "" : v === 4294967295 ? "unset" : name ? `${name} (${v})` : String(v));

// ---- API ---------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== "") query.set(k, v);
  }
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path + (query.size ? "?" + query : ""), { headers, credentials: "omit", cache: "no-store" });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.error ? body.error : `${path}: HTTP ${response.status}`;
    if (response.status === 401) askToken(message);
    throw new ApiError(response.status, message);
  }
  return body;
}

function showError(e) {
  const box = $("error");
  if (e) {
    box.textContent = e.message || String(e);
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

function askToken(reason) {
  $("token-reason").textContent = reason;
  $("token-bar").hidden = false;
}

// ---- time range ---------------------------------------------------------------------------

function toInput(ms) {
  return new Date(ms).toISOString().slice(0, 19);
}

function fromInput(value) {
  const ms = Date.parse(value + "Z");
  return Number.isNaN(ms) ? null : ms;
}

function setRange(from, to) {
  state.from = from;
  state.to = to;
  $("range-from").value = toInput(from);
  $("range-to").value = toInput(to);
  const url = new URL(location.href);
  url.searchParams.set("from", iso(from));
  url.searchParams.set("to", iso(to));
  if (state.agent) url.searchParams.set("host", state.agent);
  else url.searchParams.delete("host");
  history.replaceState(null, "", url);
  const label = `${short(from)} – ${short(to)} UTC`;
  $("fleet-range").textContent = label;
}

// A range ending after now is covered up to now: no agent can have reported the future.
function showCoveredTo(view) {
  const note = view.cut_at_now ? ` (coverage to now: ${short(view.covered_to_unix_ms)})` : "";
  $("fleet-range").textContent = `${short(state.from)} – ${short(state.to)} UTC${note}`;
  $("fleet-range").dataset.cutAtNow = String(view.cut_at_now);
}

function initialRange() {
  const p = new URLSearchParams(location.search);
  const from = Date.parse(p.get("from") || "");
  const to = Date.parse(p.get("to") || "");
  state.agent = p.get("host");
  if (!Number.isNaN(from) && !Number.isNaN(to) && to > from) return [from, to];
  const end = Math.ceil(Date.now() / HOUR) * HOUR;
  return [end - 24 * HOUR, end];
}

function rangeParams() {
  return { from: iso(state.from), to: iso(state.to) };
}

// ---- fleet --------------------------------------------------------------------------------

function fleetHead() {
  const cells = [
    el("th", {}, "Host"), el("th", {}, "Agent"), el("th", {}, "Last seen"), el("th", {}, "Coverage"),
    el("th", { class: "num" }, "Events"), el("th", { class: "num", title: "events lost or suspected lost, each once" }, "Lost"),
    ...eventKinds().map((k) => el("th", { class: "num" }, cap(k.label))),
    el("th", { class: "num", title: "whole batches: spool dropped, quarantined, unreadable" }, "Batches lost"),
    el("th", { class: "num", title: "batches never received that the agent did not report dropped" }, "Delivery gaps"),
    el("th", { class: "num" }, "Refused"),
    el("th", { class: "num", title: "keys taken by other content (ALREADY_EXISTS)" }, "Conflicts"),
    el("th", { title: "two spools or machines send as one agent" }, "Interleaved"),
    el("th", { title: "the host's policy against its group's central policy" }, "Policy"),
  ];
  $("fleet-table").tHead.replaceChildren(el("tr", {}, ...cells));
}

const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);

function interleaved(d) {
  return [d.interleaved_epochs ? "epochs" : null, d.interleaved_boot_ids ? "boot ids" : null].filter((x) => x).join(", ");
}

function fleetSummary(t) {
  let text = `${num(t.hosts)} hosts, ${num(t.complete)} continuous and complete; ${num(t.events)} events, ${num(t.loss.total)} lost.`;
  const more = [];
  if (t.loss.batches_lost > 0) more.push(`${num(t.loss.batches_lost)} whole batches lost`);
  if (t.delivery_gaps > 0) more.push(`${num(t.delivery_gaps)} batches never received`);
  if (t.refused_batches > 0) more.push(`${num(t.refused_batches)} batches refused (${num(t.refused_events)} events, ${num(t.conflicts)} conflicts)`);
  if (t.refusals_unrecorded > 0) more.push(`${num(t.refusals_unrecorded)} refusals not recorded`);
  if (t.interleaved_hosts > 0) more.push(`${num(t.interleaved_hosts)} hosts with interleaved epochs or boot ids`);
  return more.length ? `${text} ${cap(more.join("; "))}.` : text;
}

// The collector serves a fleet view built a few seconds ago at once, while it builds a newer one: say when it was built.
function showAsOf(view) {
  const asOf = $("fleet-as-of");
  asOf.hidden = !(view.age_ms > 0);
  asOf.textContent = asOf.hidden ? "" : `as of ${new Date(view.generated_at).toISOString().slice(11, 19)} UTC`;
  asOf.title = asOf.hidden ? "" : `built ${Math.round(view.age_ms / 1000)} s before it was served`;
}

async function loadFleet() {
  const fleet = await api("/api/fleet", rangeParams());
  state.kinds = fleet.loss_kinds;
  showCoveredTo(fleet);
  showAsOf(fleet);
  fleetHead();
  const body = $("fleet-table").tBodies[0];
  body.replaceChildren();
  const agents = $("search-agent");
  const chosen = agents.value;
  agents.replaceChildren(el("option", { value: "" }, "all"));
  for (const h of fleet.hosts) {
    const d = h.delivery;
    const bad = (n) => "num" + (n > 0 ? " gap" : "");
    const row = el("tr", { "data-agent": h.agent_id, "data-complete": String(h.complete) },
      el("td", { "data-col": "hostname" }, h.hostname),
      el("td", { "data-col": "agent" }, h.agent_id),
      el("td", { "data-col": "lastSeen", class: "time" }, h.last_seen_unix_ms ? short(h.last_seen_unix_ms) : "never"),
      el("td", { "data-col": "verdict", class: h.complete ? "ok" : "gap" }, h.verdict),
      el("td", { "data-col": "events", class: "num" }, num(h.events)),
      el("td", { "data-col": "lost", class: bad(h.loss.total) }, num(h.loss.total)),
      ...eventKinds().map((k) => el("td", { "data-col": k.name, class: "num" }, num(h.loss[k.name]))),
      el("td", { "data-col": "batches_lost", class: bad(h.loss.batches_lost) }, num(h.loss.batches_lost)),
      el("td", { "data-col": "delivery_gaps", class: bad(d.delivery_gaps) }, num(d.delivery_gaps)),
      el("td", { "data-col": "refused_batches", class: bad(d.refused_batches) }, num(d.refused_batches)),
      el("td", { "data-col": "conflicts", class: bad(d.conflicts) }, num(d.conflicts)),
      el("td", { "data-col": "interleaved", class: interleaved(d) ? "gap" : "" }, interleaved(d)),
      el("td", { "data-col": "policy", class: h.policy && h.policy.differs ? "gap" : "", title: policyTitle(h.policy) }, policyText(h.policy)));
    row.addEventListener("click", () => selectHost(h.agent_id));
    if (h.agent_id === state.agent) row.classList.add("selected");
    body.append(row);
    agents.append(el("option", { value: h.agent_id }, `${h.hostname} (${h.agent_id})`));
  }
  agents.value = chosen;
  $("fleet-summary").textContent = fleetSummary(fleet.totals) + policySummary(fleet.policy_differing);
}

// The host's policy state, as the report's policy section has it: "in-force 1a2b3c4d5e6f", "refused: REASON", ...
function policyText(p) {
  if (!p) return "";
  const short = (hash) => (hash ? hash.slice(0, 12) : "local");
  if (p.state === "refused") return `refused ${p.refused_hash.slice(0, 12)}: ${p.refusal}`;
  if (p.state === "in-force") return `in force ${short(p.in_force)}`;
  if (p.state === "none") return "local files";
  return `${p.state} (runs ${short(p.in_force)}, group ${p.group} has ${short(p.group_policy)})`;
}

function policyTitle(p) {
  return p ? `group ${p.group}; group policy ${p.group_policy || "none"}; in force ${p.in_force || "local files"}` : "";
}

function policySummary(differing) {
  if (!differing || differing.length === 0) return "";
  return ` ${num(differing.length)} hosts differ from their group's policy: ${differing.join(", ")}.`;
}

async function selectHost(agentId) {
  state.agent = agentId;
  for (const r of $("fleet-table").tBodies[0].rows) r.classList.toggle("selected", r.dataset.agent === agentId);
  setRange(state.from, state.to);
  await loadHost();
}

// ---- host drill-down ------------------------------------------------------------------------

async function loadHost() {
  const section = $("host");
  if (!state.agent) {
    section.hidden = true;
    return;
  }
  const view = await api("/api/hosts/" + encodeURIComponent(state.agent), rangeParams());
  state.kinds = view.loss_kinds;
  const h = view.host;
  section.hidden = false;
  section.dataset.agent = h.agent_id;
  $("host-name").textContent = h.hostname;
  $("host-agent").textContent = `${h.agent_id}, last seen ${h.last_seen_unix_ms ? short(h.last_seen_unix_ms) + " UTC" : "never"}, rules ${h.rules_hash || "unknown"}`;
  const verdict = $("host-verdict");
  verdict.textContent = h.verdict;
  verdict.className = "verdict " + (h.complete ? "ok" : "gap");
  const policy = $("host-policy");
  policy.textContent = h.policy ? `Policy (group ${h.policy.group}): ${policyText(h.policy)}` : "";
  policy.className = "verdict " + (h.policy && h.policy.differs ? "gap" : "ok");

  coverageChart($("chart-coverage"), view.from_unix_ms, view.to_unix_ms, h.intervals, view.covered_to_unix_ms);
  $("intervals-table").tHead.replaceChildren(el("tr", {},
    el("th", {}, "From"), el("th", {}, "To"), el("th", {}, "Agent"), el("th", { class: "num" }, "Lost"),
    ...eventKinds().map((k) => el("th", { class: "num" }, cap(k.label))), el("th", { class: "num" }, "Batches lost")));
  const rows = $("intervals-table").tBodies[0];
  rows.replaceChildren();
  for (const i of h.intervals) {
    rows.append(el("tr", { "data-connected": String(i.connected) },
      el("td", { class: "time" }, short(i.start_unix_ms)),
      el("td", { class: "time" }, short(i.end_unix_ms)),
      el("td", { class: i.connected ? "ok" : "gap" }, i.connected ? "connected" : "not connected"),
      el("td", { class: "num" }, num(i.loss.total)),
      ...eventKinds().map((k) => el("td", { class: "num" }, num(i.loss[k.name]))),
      el("td", { class: "num" }, num(i.loss.batches_lost))));
  }

  deliveryTable($("delivery-table").tBodies[0], h.delivery);
  lossTable($("loss-table").tBodies[0], h.loss);

  const rules = $("rules-table").tBodies[0];
  rules.replaceChildren();
  if (h.rules_hashes.length === 0) {
    rules.append(el("tr", {}, el("td", { colspan: 2 }, "no rules reported in this range")));
  }
  h.rules_hashes.forEach((r, i) => {
    rules.append(el("tr", { "data-hash": r.rules_hash },
      el("td", { class: "time" }, short(r.at_unix_ms)),
      el("td", { class: i > 0 ? "gap" : "" }, i > 0 ? `${r.rules_hash} (changed)` : r.rules_hash)));
  });

  barChart($("chart-events"), view.events_per_hour.map((p) => ({ t: p.hour_unix_ms, parts: [p.events] })), ["bar"], ["events"]);
  const kinds = eventKinds();
  barChart($("chart-loss"), view.loss_over_time.map((p) => ({ t: p.hour_unix_ms, parts: kinds.map((k) => p.loss[k.name]) })),
    kinds.map((_, i) => "k" + i), kinds.map((k) => k.label));
  const legend = $("chart-loss").querySelector(".legend");
  legend.replaceChildren(...kinds.map((k, i) => el("span", {}, el("span", { class: "swatch k" + i }), k.label)));

  fillEvents($("recent-table").tBodies[0], view.recent_events, false);
}

// What the keys of the host's batches say: each row names a figure; the ones that are a problem are marked.
function deliveryTable(body, d) {
  const gaps = d.gaps.map((g) => (g.epoch ? g.epoch.slice(0, 8) + " " : "") + (g.from === g.to ? g.from : `${g.from}-${g.to}`)).join(", ");
  const byStatus = d.refused_by_status.map((r) => `${r.status} ${num(r.batches)} (${num(r.events)} events)`).join("; ");
  const rows = [
    ["delivery_gaps", "Batches never received (delivery gaps)", num(d.delivery_gaps), d.delivery_gaps > 0],
    ["missing_sequences", "Sequences missing", num(d.missing_sequences), false],
    ["explained_by_agent", "Of those, reported dropped by the agent", num(d.explained_by_agent), false],
    ["missing_ranges", "First missing ranges", gaps || "none", d.delivery_gaps > 0],
    ["refused_batches", "Batches refused", num(d.refused_batches), d.refused_batches > 0],
    ["refused_events", "Events in refused batches", num(d.refused_events), d.refused_events > 0],
    ["refused_by_status", "Refused, by status", byStatus || "none", d.refused_batches > 0],
    ["conflicts", "Conflicts (key taken by other content)", num(d.conflicts), d.conflicts > 0],
    ["refusals_unrecorded", "Refusals not recorded", num(d.refusals_unrecorded), d.refusals_unrecorded > 0],
    ["epochs", "Epochs (spools)", num(d.epochs), false],
    ["interleaved_epochs", "Epochs interleave (two spools as one agent)", d.interleaved_epochs ? "yes" : "no", d.interleaved_epochs],
    ["interleaved_boot_ids", "Boot ids interleave (two machines as one agent)", d.interleaved_boot_ids ? "yes" : "no", d.interleaved_boot_ids],
  ];
  body.replaceChildren(...rows.map(([key, name, value, problem]) =>
    el("tr", { "data-key": key }, el("td", {}, name), el("td", { class: "num" + (problem ? " gap" : "") }, value))));
}

// Every loss counter summed over the range; those that count as loss and are not zero are marked.
function lossTable(body, loss) {
  const rows = [
    el("tr", { "data-kind": "total" }, el("td", {}, "Events lost or suspected lost (total)"), el("td", {}, "events"),
      el("td", { class: "num" + (loss.total > 0 ? " gap" : "") }, num(loss.total))),
    el("tr", { "data-kind": "batches_lost" }, el("td", {}, "Whole batches lost"), el("td", {}, "batches"),
      el("td", { class: "num" + (loss.batches_lost > 0 ? " gap" : "") }, num(loss.batches_lost))),
    ...state.kinds.map((k) => el("tr", { "data-kind": k.name },
      el("td", {}, cap(k.label) + (k.loss ? "" : " (not loss)")), el("td", {}, k.unit),
      el("td", { class: "num" + (k.loss && loss[k.name] > 0 ? " gap" : "") }, num(loss[k.name])))),
  ];
  body.replaceChildren(...rows);
}

// A stacked bar per hour. parts[i] is drawn with classes[i]; every bar carries data-hour and data-value (its sum).
function barChart(figure, points, classes, names) {
  const plot = figure.querySelector(".plot");
  const W = 900, H = 180, left = 48, bottom = 22, top = 8, right = 8;
  const total = points.reduce((s, p) => s + p.parts.reduce((a, b) => a + b, 0), 0);
  const max = Math.max(1, ...points.map((p) => p.parts.reduce((a, b) => a + b, 0)));
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-total": total, "data-max": max, "data-bars": points.length });
  chart.append(svg("title", {}, `${names.join(", ")}: ${num(total)} in ${points.length} hours`));
  const width = (W - left - right) / Math.max(1, points.length);
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  chart.append(svg("line", { class: "axis", x1: left, y1: H - bottom, x2: W - right, y2: H - bottom }));
  chart.append(svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: H - bottom }));
  chart.append(svg("text", { class: "tick", x: left - 4, y: top + 8, "text-anchor": "end" }, num(max)));
  chart.append(svg("text", { class: "tick", x: left - 4, y: H - bottom, "text-anchor": "end" }, "0"));
  points.forEach((p, i) => {
    const sum = p.parts.reduce((a, b) => a + b, 0);
    const g = svg("g", { class: "hour", "data-hour": iso(p.t), "data-value": sum });
    g.append(svg("title", {}, `${short(p.t)} UTC: ${p.parts.map((v, k) => `${num(v)} ${names[k]}`).join(", ")}`));
    let base = 0;
    p.parts.forEach((v, k) => {
      if (v <= 0) return;
      g.append(svg("rect", {
        class: classes[k] + " bar-part", "data-value": v,
        x: left + i * width + width * 0.1, width: Math.max(1, width * 0.8),
        y: y(base + v), height: y(base) - y(base + v),
      }));
      base += v;
    });
    chart.append(g);
  });
  const labels = Math.min(points.length, 8);
  for (let j = 0; j < labels; j++) {
    const i = Math.floor((j * points.length) / labels);
    chart.append(svg("text", { class: "tick", x: left + i * width, y: H - 6 }, short(points[i].t).slice(5, 16)));
  }
  plot.replaceChildren(chart);
  figure.querySelector(".chart-total").textContent = `(${num(total)} in ${points.length} hours)`;
  figure.dataset.total = String(total);
}

function coverageChart(figure, from, to, intervals, coveredTo) {
  const W = 900, H = 40, left = 48, right = 8;
  const x = (t) => left + ((W - left - right) * (t - from)) / (to - from);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  for (const i of intervals) {
    chart.append(svg("rect", {
      class: i.connected ? "connected" : "disconnected", "data-connected": String(i.connected),
      x: x(i.start_unix_ms), width: Math.max(1, x(i.end_unix_ms) - x(i.start_unix_ms)), y: 4, height: 18,
    }, svg("title", {}, `${i.connected ? "connected" : "not connected"} ${short(i.start_unix_ms)} – ${short(i.end_unix_ms)} UTC`)));
  }
  if (coveredTo < to) {
    // The rest of the range is in the future: neither connected nor a gap.
    chart.append(svg("rect", { class: "future", x: x(coveredTo), width: Math.max(1, x(to) - x(coveredTo)), y: 4, height: 18 },
      svg("title", {}, `after now (${short(coveredTo)} UTC): not covered yet`)));
  }
  chart.append(svg("text", { class: "tick", x: left, y: H - 4 }, short(from)));
  chart.append(svg("text", { class: "tick", x: W - right, y: H - 4, "text-anchor": "end" }, short(to)));
  figure.querySelector(".plot").replaceChildren(chart);
}

// ---- events ---------------------------------------------------------------------------------

function fillEvents(body, events, withHost) {
  body.replaceChildren();
  appendEvents(body, events, withHost);
}

function appendEvents(body, events, withHost) {
  for (const e of events) {
    const result = e.success === null ? "" : e.success ? "ok" : `failed (${e.exit})`;
    const cells = [el("td", { class: "time" }, short(e.time_unix_ms))];
    if (withHost) cells.push(el("td", {}, e.hostname));
    cells.push(
      el("td", {}, e.syscall ? `${e.first_type} ${e.syscall}` : e.first_type),
      el("td", { class: "num", "data-col": "auid" }, uid(e.auid, e.auid_name)),
      el("td", { class: "num", "data-col": "uid" }, uid(e.uid, e.uid_name)),
      el("td", { class: "num", "data-col": "euid" }, uid(e.euid, e.euid_name)),
      el("td", {}, e.exe || ""),
      el("td", {}, e.key || ""),
      el("td", { class: e.success === false ? "gap" : "" }, result),
      el("td", { class: "argv" }, e.argv || ""));
    const row = el("tr", { "data-agent": e.agent_id, "data-serial": e.serial }, ...cells);
    row.addEventListener("click", () => showDetail(e));
    body.append(row);
  }
}

// ---- event detail: who started the process ----------------------------------------------------
// Every value is set as text (el() appends text nodes): exe, argv, unit and container come from the audited host.

const DETAIL_STATES = { known: "known", unknown: "unknown" };

function levelText(exe, pid, serial) {
  const parts = [exe || "(exe unknown)", `pid ${pid}`];
  if (serial) parts.push(`exec serial ${serial}`);
  return parts.join("  ·  ");
}

// The process, then its parent, grandparent ... nested one level deeper each; "unknown" where the chain stops.
function ancestryTree(e) {
  const c = e.context;
  const self = el("li", { "data-level": "0" }, levelText(e.exe, e.pid, c && c.exec_serial) + "  (this process)");
  const root = self;
  let at = self;
  const nest = (li) => {
    const ul = el("ul", {}, li);
    at.append(ul);
    at = li;
  };
  if (!c || !c.parent_state) {
    nest(el("li", { class: "unknown", "data-level": "1" }, "no process context (the agent's enrichment was off, or the event was stored before it)"));
    return root;
  }
  if (c.parent_state === DETAIL_STATES.unknown || !c.parent) {
    nest(el("li", { class: "unknown", "data-level": "1" }, `parent unknown (pid ${e.pid === null ? "?" : e.pid}'s parent was not in the agent's process table)`));
    return root;
  }
  const p = c.parent;
  const levels = c.ancestry && c.ancestry.length ? c.ancestry : [{ pid: p.pid, exe: p.exe, exec_serial: p.exec_serial }];
  levels.forEach((a, i) => {
    if (a.unknown) {
      nest(el("li", { class: "unknown", "data-level": String(i + 1) }, `unknown (pid ${a.pid}: not in the agent's process table; the chain stops here)`));
      return;
    }
    let text = levelText(a.exe, a.pid, a.exec_serial);
    if (i === 0) {
      if (p.argv && p.argv.length) text += `\nargv: ${p.argv.join(" ")}${p.argv_truncated ? " …(cut)" : ""}`;
      if (p.exited) text += "  (exited)";
    }
    nest(el("li", { "data-level": String(i + 1) }, text));
  });
  if (c.ancestry_truncated) nest(el("li", { class: "unknown", "data-level": "cut" }, "… (cut at the agent's ancestry depth)"));
  return root;
}

function contextRows(c) {
  const state = (s, known, none) => (!s ? "not looked up" : s === DETAIL_STATES.unknown ? "unknown" : known || none);
  const k = c && c.container;
  const container = k ? `${k.id} (${k.runtime}${k.pod_uid ? `, pod ${k.pod_uid}` : ""})${k.inherited ? ", inherited from an ancestor" : ""}` : null;
  return [
    ["container", "Container", state(c && c.container_state, container, "none (not in a container)")],
    ["unit", "Systemd unit", state(c && c.unit_state, c && c.unit, "none")],
    ["cgroup", "Cgroup", c && c.cgroup ? c.cgroup + (c.cgroup_inherited ? " (inherited from an ancestor)" : "") : "unknown"],
  ];
}

function showDetail(e) {
  const section = $("event-detail");
  section.hidden = false;
  section.dataset.serial = String(e.serial);
  $("detail-title").textContent = `${e.hostname} ${short(e.time_unix_ms)} UTC, serial ${e.serial}`;
  $("detail-command").textContent = `${e.exe || ""} ${e.argv || ""}`.trim();
  $("detail-tree").replaceChildren(ancestryTree(e));
  $("detail-context").tBodies[0].replaceChildren(...contextRows(e.context).map(([key, name, value]) =>
    el("tr", { "data-key": key }, el("td", {}, name), el("td", {}, value))));
  section.scrollIntoView({ block: "nearest" });
}

function searchParams() {
  const f = $("search-form");
  const p = { ...rangeParams() };
  for (const name of ["key", "user", "exe", "argv", "parent_exe", "container", "unit", "agent", "limit"]) {
    const v = f.elements[name].value.trim();
    if (v) p[name] = v;
  }
  return p;
}

async function search(more) {
  const params = more ? { ...state.searchParams, before: state.next } : searchParams();
  const page = await api("/api/events", params);
  state.searchParams = more ? state.searchParams : params;
  state.next = page.next;
  const body = $("search-table").tBodies[0];
  if (more) appendEvents(body, page.events, true);
  else fillEvents(body, page.events, true);
  $("search-more").hidden = !page.next;
  $("search-summary").textContent = `${num(body.rows.length)} events shown${page.next ? ", more older ones" : ""}.`;
}

// ---- wiring ---------------------------------------------------------------------------------

async function refresh() {
  showError(null);
  try {
    await loadFleet();
    await loadHost();
    document.body.dataset.loaded = "true";
  } catch (e) {
    showError(e);
    document.body.dataset.loaded = "error";
  }
}

function guard(action) {
  return async (event) => {
    if (event) event.preventDefault();
    showError(null);
    try {
      await action();
    } catch (e) {
      showError(e);
    }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const [from, to] = initialRange();
  setRange(from, to);
  $("range").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = fromInput($("range-from").value);
    const t = fromInput($("range-to").value);
    if (f === null || t === null || t <= f) {
      showError(new Error("The range needs a From before its To."));
      return;
    }
    setRange(f, t);
    refresh();
  });
  for (const b of document.querySelectorAll(".presets button")) {
    b.addEventListener("click", () => {
      const end = Math.ceil(Date.now() / HOUR) * HOUR;
      setRange(end - Number(b.dataset.hours) * HOUR, end);
      refresh();
    });
  }
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value);
    $("token-input").value = "";
    $("token-bar").hidden = true;
    refresh();
  });
  $("search-form").addEventListener("submit", guard(() => search(false)));
  $("search-more").addEventListener("click", guard(() => search(true)));
  refresh();
});
