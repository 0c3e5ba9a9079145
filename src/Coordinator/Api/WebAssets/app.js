// Replug's web view: the cluster as the coordinator's HTTP API tells it, kept live by its event stream.
// Plain module, no dependencies: every call carries the operator's token in a header (never in the URL).

const TOKEN_KEY = "replug.token";
const REFRESH_GAP_MS = 250;       // at most one re-fetch of the cluster per 250 ms, however many events arrive
const TRAFFIC_POLL_MS = 5000;     // NIC traffic is measured, not journaled: no event announces it
const FALLBACK_POLL_MS = 10000;   // while the stream is down, the page still moves
const SAMPLES_KEPT = 120;         // per host: 10 minutes at one sample every 5 s
const FEED_KEPT = 200;
const HOUR_MS = 3600 * 1000;

const $ = (id) => document.getElementById(id);
const scriptStartedMs = performance.now();
const view = {
  hosts: [], ports: new Map(), policies: null, failovers: [], decisions: [],
  migratedFrom: new Map(),   // "host|device" -> the host the NIC came from
  samples: new Map(),        // host -> [{t, u}]
  feedSeeded: false, lastEventId: null, firstRenderMs: null,
  expanded: new Set(),       // hosts whose NIC list an operator opened
  chosenModes: new Map(),    // policy -> the mode an operator picked and has not applied yet
};

// ---- the API ----

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  if (!token()) throw new ApiError(401, "no token: paste the API token above (a standalone coordinator keeps it in data/api-token)");
  const headers = { Authorization: `Bearer ${token()}`, ...(options.body ? { "Content-Type": "application/json" } : {}) };
  const response = await fetch(path, { method: options.method || "GET", headers, body: options.body, cache: "no-store" });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (!response.ok) throw new ApiError(response.status, json?.error || text || response.statusText);
  return json;
}

function explain(error) {
  if (!(error instanceof ApiError)) return `the coordinator did not answer: ${error.message}`;
  if (error.status === 401) return `token missing or refused (401): ${error.message}`;
  if (error.status === 403) return `refused (403): ${error.message}`;
  return `${error.status}: ${error.message}`;
}

/** kind: "fetch" (cleared by the next good refresh), "action" (a refusal: stays until the next action), "info". */
function banner(text, kind = "fetch") {
  const b = $("banner");
  b.dataset.kind = kind;
  if (!text) { b.hidden = true; b.textContent = ""; return; }
  b.hidden = false;
  b.className = `banner ${kind === "info" ? "info" : ""}`;
  b.textContent = text;
}

// ---- refreshing: coalesced, never faster than the rate limit needs ----

let refreshing = false, lastRefresh = -Infinity, timer = null;
const wanted = new Set();

function scheduleRefresh(...parts) {
  for (const p of parts.length ? parts : ["cluster"]) wanted.add(p);
  if (refreshing || timer) return;
  const wait = Math.max(0, lastRefresh + REFRESH_GAP_MS - performance.now());
  timer = setTimeout(runRefresh, wait);
}

async function runRefresh() {
  timer = null;
  refreshing = true;
  lastRefresh = performance.now();
  const parts = new Set(wanted);
  wanted.clear();
  try {
    // The grid needs hosts, ports and policies only: they are asked first and drawn as soon as they
    // are in; the rest is asked after, so it never queues them behind the browser's six connections.
    const asked = performance.now();
    const [hosts, ports, policies] = await Promise.all([api("/hosts"), api("/ports"), api("/policies")]);
    if (view.firstRenderMs === null) $("grid").dataset.firstFetch = `${asked.toFixed(0)}-${performance.now().toFixed(0)}`;
    view.hosts = hosts.hosts;
    view.ports = new Map(ports.ports.map((p) => [p.spec.port, p]));
    view.policies = policies;
    sample();
    render();
    const [failovers, decisions, events] = await Promise.all([
      parts.has("failovers") || parts.has("all") ? api("/failovers") : null,
      parts.has("decisions") || parts.has("all") ? api("/decisions?max=30") : null,
      parts.has("all") ? api("/events?max=1000") : null,
    ]);
    if (failovers) view.failovers = failovers.failovers;
    if (decisions) view.decisions = decisions.decisions;
    const migrations = view.migratedFrom.size;
    if (events) for (const e of events.events) noteMigration(e.type, e.summary);
    // The recent past, oldest first, under whatever the stream brought already.
    if (events && !view.feedSeeded) {
      view.feedSeeded = true;
      const live = [...$("feed").children];
      for (const e of events.events.slice(-50)) feedEvent(e);
      $("feed").prepend(...live);
    }
    if (view.migratedFrom.size !== migrations) render();
    else renderSide();
    if ($("banner").dataset.kind === "fetch") banner("");
  } catch (error) {
    banner(explain(error));
  } finally {
    refreshing = false;
    if (wanted.size) scheduleRefresh();
  }
}

function sample() {
  const now = Date.now();
  for (const h of view.hosts) {
    const traffic = h.traffic || [];
    const capacity = traffic.reduce((s, n) => s + n.capacityBps, 0);
    const bps = traffic.reduce((s, n) => s + Math.max(n.rxBps, n.txBps), 0);
    const list = view.samples.get(h.host) || [];
    if (!list.length || now - list[list.length - 1].t >= 1000) list.push({ t: now, u: capacity > 0 ? bps / capacity : 0 });
    if (list.length > SAMPLES_KEPT) list.shift();
    view.samples.set(h.host, list);
  }
}

// ---- what each thing is, for people ----

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const pct = (u) => `${(u * 100).toFixed(u < 0.1 ? 1 : 0)}%`;

function standby() { return new Set(view.policies?.standby || []); }
function unplugged() { return new Set((view.policies?.unplugged || []).map((u) => `${u.host}|${u.device}`)); }

/** The status a host is shown with: what the API says, drained and standby in its place while up. */
function shownStatus(h, standbyHosts) {
  if (h.status !== "Up") return h.status;
  if (standbyHosts.has(h.host)) return "Standby";
  return h.drained ? "Drained" : "Up";
}

/** One port on its host: each member's role and what is wrong with the port, if anything. */
function portFacts(port, host, pulled) {
  const nics = new Map((host?.nics || []).map((n) => [n.device, n]));
  const members = (port.members || []).map((device) => {
    let role;
    if (device === port.active) role = port.fenced ? "active fenced" : port.forwarding ? "active" : "active escalated";
    else if (pulled.has(`${port.host}|${device}`)) role = "unplugged";
    else if (nics.has(device)) role = nics.get(device).healthy ? "standby" : "standby down";
    else role = "faulted"; // its host no longer has it: removed, or lost with its card
    return { device, role };
  });
  const problems = [];
  if (port.state === "Unplaced") problems.push(["bad", "unplaced"]);
  else if (port.state === "FailingOver") problems.push(["bad", "failing over"]);
  else if (port.state === "Moving") problems.push(["warn", `moving from ${port.movingFrom ?? "?"}`]);
  if (port.fenced) problems.push(["bad", "fenced: not forwarding"]);
  else if (port.state === "Active" && port.active && !port.forwarding) problems.push(["bad", "escalated: not forwarding"]);
  if (port.state === "Active" && !port.active) problems.push(["bad", "no active device"]);
  if (!port.redundant) problems.push(["warn", "no redundancy"]);
  if (members.some((m) => m.role === "faulted")) problems.push(["warn", "faulted member"]);
  return { members, problems };
}

function hostProblems(h, facts) {
  return h.status !== "Up" || facts.some((f) => f.problems.length);
}

// ---- rendering: one HTML string per refresh, set once ----

function render() {
  const started = performance.now();
  const standbyHosts = standby();
  const pulled = unplugged();
  const query = $("search").value.trim().toLowerCase();
  const statusFilter = $("status-filter").value;
  const problemsOnly = $("problems").checked;
  const groupBy = $("group-by").value;
  const byHost = new Map(view.hosts.map((h) => [h.host, h]));

  const counts = { Up: 0, Unreachable: 0, Down: 0, Drained: 0, Standby: 0 };
  const groups = new Map();
  let shown = 0;
  for (const h of view.hosts) {
    const status = shownStatus(h, standbyHosts);
    counts[status] = (counts[status] || 0) + 1;
    const ports = h.ports.map((id) => view.ports.get(id)).filter(Boolean);
    const facts = ports.map((p) => portFacts(p, h, pulled));
    const problem = hostProblems(h, facts);
    if (statusFilter && status !== statusFilter) continue;
    if (problemsOnly && !problem) continue;
    if (query && !matches(h, ports, query)) continue;
    const key = groupBy === "status" ? status : groupBy === "prefix" ? prefixOf(h.host) : "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(hostCard(h, status, ports, facts, problem, pulled));
    shown++;
  }

  const order = ["Down", "Unreachable", "Up", "Drained", "Standby"];
  const keys = [...groups.keys()].sort((a, b) => groupBy === "status" ? order.indexOf(a) - order.indexOf(b) : a.localeCompare(b));
  const html = keys.map((k) => `<section class="group" aria-label="${esc(k || "hosts")}">${k ? `<h3>${esc(k)} (${groups.get(k).length})</h3>` : ""}<div class="cards">${groups.get(k).join("")}</div></section>`).join("");

  const focused = rememberFocus();
  const grid = $("grid");
  grid.innerHTML = html || `<p class="empty">${view.hosts.length ? "no host matches" : "no host registered yet"}</p>`;
  restoreFocus(focused);
  renderAttention(byHost, pulled);
  const allPorts = view.ports.size;
  $("summary").textContent = `${view.hosts.length} hosts (${Object.entries(counts).filter(([, n]) => n).map(([s, n]) => `${n} ${s.toLowerCase()}`).join(", ") || "none"}), ${allPorts} ports; showing ${shown}`;
  renderSide();

  const took = performance.now() - started;
  grid.dataset.rendered = String(Number(grid.dataset.rendered) + 1);
  grid.dataset.renderMs = took.toFixed(1);
  if (view.firstRenderMs === null && view.hosts.length) {
    // Since the navigation began (performance.now()'s origin): what an operator waits for.
    view.firstRenderMs = performance.now();
    grid.dataset.firstRenderMs = view.firstRenderMs.toFixed(0);
    grid.dataset.scriptStartedMs = scriptStartedMs.toFixed(0);
  }
}

function renderSide() {
  renderTimeline();
  renderPolicies();
  renderDecisions();
}

function matches(h, ports, q) {
  if (h.host.toLowerCase().includes(q)) return true;
  if (h.nics.some((n) => n.device.toLowerCase().includes(q) || String(n.identity).toLowerCase().includes(q))) return true;
  return ports.some((p) => p.spec.port.toLowerCase().includes(q));
}

function prefixOf(name) {
  const m = /^(.*?)[-_.]?\d+$/.exec(name);
  return m && m[1] ? m[1] : name.split(/[-_.]/)[0];
}

function sparkline(host) {
  const list = view.samples.get(host) || [];
  if (list.length < 2) return `<svg class="spark" viewBox="0 0 90 20" role="img" aria-label="NIC utilization: not enough samples yet"><line x1="0" y1="19.5" x2="90" y2="19.5"/></svg>`;
  const n = list.length;
  const points = list.map((s, i) => `${((i / (n - 1)) * 90).toFixed(1)},${(19 - Math.min(1, s.u) * 18).toFixed(1)}`).join(" ");
  const last = list[n - 1].u;
  return `<svg class="spark" viewBox="0 0 90 20" role="img" aria-label="NIC utilization over the last ${Math.round((list[n - 1].t - list[0].t) / 1000)} s, now ${pct(last)}"><line x1="0" y1="19.5" x2="90" y2="19.5"/><polyline points="${points}"/></svg>`;
}

function hostCard(h, status, ports, facts, problem, pulled) {
  const badges = [`<span class="badge ${esc(h.status)}">${esc(h.status.toLowerCase())}</span>`];
  if (h.drained) badges.push(`<span class="badge drained">drained</span>`);
  if (status === "Standby") badges.push(`<span class="badge standby">standby</span>`);
  if (h.reserved) badges.push(`<span class="badge">reserved</span>`);
  const id = esc(h.host);
  const drain = h.drained
    ? `<button data-action="undrain" data-host="${id}" aria-label="undrain ${id}">undrain</button>`
    : `<button data-action="drain" data-host="${id}" aria-label="drain ${id}">drain</button>`;
  const forget = `<button data-action="forget" data-host="${id}" class="danger" aria-label="forget ${id}"${h.status === "Down" ? "" : ` disabled title="only a Down host can be forgotten"`}>forget</button>`;

  const migratedIn = h.nics.filter((n) => view.migratedFrom.has(`${h.host}|${n.device}`)).length;
  const nicsOpen = h.nics.length <= 8 || migratedIn > 0 || view.expanded.has(h.host);
  // A closed list is filled when opened: 100 hosts' NICs are most of the page's elements otherwise.
  const nics = nicsOpen ? nicRows(h, pulled) : "";
  const down = h.nics.filter((n) => !n.healthy).length;
  const nicSummary = `${h.nics.length} NIC${h.nics.length === 1 ? "" : "s"}${down ? `, ${down} link down` : ""}${migratedIn ? `, ${migratedIn} migrated in` : ""}`;
  const portRows = ports.map((p, i) => {
    const f = facts[i];
    const worst = f.problems.some(([k]) => k === "bad") ? "bad" : f.problems.length ? "warn" : "";
    const members = f.members.map((m) => `<span class="m ${m.role}" data-role="${m.role}">${esc(m.device)}${m.role === "active" ? " ▶ active" : m.role === "active fenced" ? " (fenced)" : m.role === "active escalated" ? " (escalated)" : m.role === "standby" ? " (standby)" : m.role === "standby down" ? " (standby, link down)" : ` (${m.role})`}</span>`).join("");
    const flags = f.problems.map(([k, text]) => `<span class="flag ${k}">${esc(text)}</span>`).join("");
    return `<li class="port ${worst}" data-port="${esc(p.spec.port)}" data-state="${esc(p.state)}" data-active="${esc(p.active ?? "")}"><span class="name">${esc(p.spec.port)}</span> ${members || `<span class="m faulted">no device</span>`}${flags}</li>`;
  }).join("");

  return `<article class="host s-${status}${problem ? " problem" : ""}" data-host="${id}" data-status="${esc(h.status)}" data-drained="${h.drained}" aria-label="host ${id}, ${esc(status)}">
<header><h4>${id}</h4>${badges.join("")}<span class="actions">${drain}${forget}</span></header>
<div class="meta">${sparkline(h.host)}<span>load ${h.load}/${h.capacity} slots</span></div>
<details class="nics" data-nics-of="${id}"${nicsOpen ? " open" : ""}><summary>${nicSummary}</summary><ul class="nics" aria-label="NICs of ${id}">${nics || (nicsOpen ? `<li class="empty">no NIC</li>` : "")}</ul></details>
<ul class="ports" aria-label="ports of ${id}">${portRows || `<li class="empty">no port</li>`}</ul>
</article>`;
}

function nicRows(h, pulled) {
  const traffic = new Map((h.traffic || []).map((t) => [t.device, t]));
  return h.nics.map((n) => {
    const from = view.migratedFrom.get(`${h.host}|${n.device}`);
    // "healthy" is the link as the agent found it when the NIC appeared (operstate not down).
    const cls = pulled.has(`${h.host}|${n.device}`) ? "unplugged" : n.healthy ? "healthy" : "link-down";
    const t = traffic.get(n.device);
    return `<li class="nic ${cls}" data-device="${esc(n.device)}"><span>${esc(n.device)}</span> <span class="dim">${esc(n.identity)}</span> ${cls === "healthy" ? "" : `<strong>${cls === "link-down" ? "link down" : cls}</strong>`}${t ? ` <span class="dim">${pct(t.capacityBps > 0 ? Math.max(t.rxBps, t.txBps) / t.capacityBps : 0)}</span>` : ""}${from ? ` <span class="from">migrated from ${esc(from)}</span>` : ""}</li>`;
  }).join("");
}

function renderAttention(byHost, pulled) {
  const unplaced = [], single = [];
  for (const p of view.ports.values()) {
    if (p.state === "Unplaced") unplaced.push(p);
    else if (!p.redundant) single.push(p);
  }
  const list = (ports, why) => {
    const shown = ports.slice(0, 50).map((p) => `<li><strong>${esc(p.spec.port)}</strong> on ${esc(p.host)}${why(p)}</li>`).join("");
    return `<ul>${shown}${ports.length > 50 ? `<li>and ${ports.length - 50} more</li>` : ""}</ul>`;
  };
  let html = "";
  if (unplaced.length) html += `<details open class="unplaced"><summary>${unplaced.length} unplaced port${unplaced.length > 1 ? "s" : ""}: no host could take ${unplaced.length > 1 ? "them" : "it"}</summary>${list(unplaced, () => "")}</details>`;
  if (single.length) html += `<details class="single"><summary>${single.length} port${single.length > 1 ? "s" : ""} without redundancy</summary>${list(single, (p) => {
    const facts = portFacts(p, byHost.get(p.host), pulled);
    return facts.members.length ? ` (${facts.members.map((m) => esc(m.device)).join(", ")})` : "";
  })}</details>`;
  $("attention").innerHTML = html;
}

function renderTimeline() {
  const now = Date.now();
  const recent = view.failovers.filter((f) => now - Date.parse(f.started) <= HOUR_MS).slice(0, 40);
  if (!recent.length) { $("timeline").innerHTML = `<p class="empty">no fail-over in the last hour</p>`; return; }
  const width = 360, row = 9, top = 14, height = top + recent.length * row + 4;
  const x = (t) => ((t - (now - HOUR_MS)) / HOUR_MS) * width;
  const bars = recent.map((f, i) => {
    const start = Date.parse(f.started), end = f.ended ? Date.parse(f.ended) : now;
    const w = Math.max(2, x(end) - x(start));
    return `<rect class="${esc(f.status)}" x="${x(start).toFixed(1)}" y="${top + i * row}" width="${w.toFixed(1)}" height="${row - 2}"><title>${esc(f.port.port)}: ${esc(f.from ?? "?")} → ${esc(f.target ?? "none")}, ${esc(f.status)}, ${duration(end - start)}</title></rect>`;
  }).join("");
  const ticks = [0, 15, 30, 45, 60].map((m) => `<line class="axis" x1="${(m / 60) * width}" y1="10" x2="${(m / 60) * width}" y2="${height}"/><text x="${Math.min(width - 24, (m / 60) * width + 2)}" y="9">${m === 60 ? "now" : `-${60 - m}m`}</text>`).join("");
  const rows = recent.slice(0, 15).map((f) => {
    const end = f.ended ? Date.parse(f.ended) : now;
    return `<tr><td>${esc(f.port.port)}</td><td>${esc(f.from ?? "?")} → ${esc(f.target ?? "–")}</td><td>${esc(f.status)}</td><td class="num">${duration(end - Date.parse(f.started))}</td></tr>`;
  }).join("");
  $("timeline").innerHTML = `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${recent.length} fail-overs in the last hour">${ticks}${bars}</svg>
<table><thead><tr><th>port</th><th>from → to</th><th>status</th><th>took</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

const POLICIES = [["load-balancing", "loadBalancing", "Load balancing"], ["power-saving", "powerSaving", "Power saving"]];

function renderPolicies() {
  const settings = view.policies?.settings;
  if (!settings) return;
  const el = $("policies");
  if (el.contains(document.activeElement) && document.activeElement.tagName === "SELECT") return; // an operator choosing a mode
  const focused = el.contains(document.activeElement) ? document.activeElement.dataset.policy : null;
  el.innerHTML = POLICIES.map(([name, key, label]) => {
    const mode = settings[key]?.mode ?? "?";
    const chosen = view.chosenModes.get(name) ?? mode;
    const options = ["Off", "Advise", "Auto"].map((m) => `<option${m === chosen ? " selected" : ""}>${m}</option>`).join("");
    return `<div class="policy" data-policy="${name}"><label class="pname" for="mode-${name}">${label}</label><select id="mode-${name}" data-mode-of="${name}">${options}</select><button data-action="mode" data-policy="${name}">apply</button><span class="meta">now ${esc(mode)}</span></div>`;
  }).join("") + `<p class="meta">${view.policies.decisionsMade} decisions made${view.policies.changedAtRunTime ? "; changed at run time" : ""}</p>`;
  if (focused) el.querySelector(`button[data-policy="${CSS.escape(focused)}"]`)?.focus();
}

function renderDecisions() {
  const list = view.decisions.slice(0, 30);
  $("decisions").innerHTML = list.length
    ? list.map((d) => `<li><span class="when">${esc(time(d.at))}</span> <strong>${esc(d.policy)}</strong> ${esc(d.summary)} <em>${esc(d.outcome)}</em> <button data-action="reasons" data-number="${d.number}" aria-label="reasons of decision ${d.number}">reasons</button></li>`).join("")
    : `<li class="empty">no decision yet</li>`;
}

function time(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour12: false });
}

function rememberFocus() {
  const a = document.activeElement;
  return a && $("grid").contains(a) ? { action: a.dataset.action, host: a.dataset.host } : null;
}

function restoreFocus(f) {
  if (!f?.action) return;
  $("grid").querySelector(`[data-action="${CSS.escape(f.action)}"][data-host="${CSS.escape(f.host)}"]`)?.focus();
}

// ---- the live stream: fetch() and a stream parser, because EventSource cannot send the token header ----

let streamAbort = null;

function kindOf(type, summary) {
  if (/Fenced=true/.test(summary)) return "fence";
  if (/^(Failover|Command|PortMoved|EscalationDeferred)/.test(type)) return "failover";
  if (/^(Polic|DeviceOperation)/.test(type)) return "policy";
  if (/^(Nic|PortReported|Migration)/.test(type)) return "device";
  return "host";
}

function noteMigration(type, summary) {
  if (type !== "NicMigrated") return;
  const m = /From=([^,]+), To=([^,]+), Device=([^,]+)/.exec(summary);
  if (m) view.migratedFrom.set(`${m[2]}|${m[3]}`, m[1]);
}

/** Puts an event at the top of the feed; its kind (device, fail-over, fence, policy, host). */
function feedEvent(event) {
  const kind = kindOf(event.type, event.summary);
  const li = document.createElement("li");
  li.dataset.type = event.type;
  li.innerHTML = `<span class="when">${esc(time(event.at))}</span><span class="kind ${kind}">${kind}</span><strong>${esc(event.type)}</strong> ${esc(event.summary)}`;
  const feed = $("feed");
  feed.prepend(li);
  while (feed.children.length > FEED_KEPT) feed.lastElementChild.remove();
  return kind;
}

function onEvent(type, id, data) {
  if (id !== null) view.lastEventId = id;
  if (type === "unavailable") { connection("retrying", "coordinator unavailable: the stream resumes when it answers"); return; }
  if (type === "gap" || type === "reset") { scheduleRefresh("all"); return; }
  if (type === "end") throw new Error("the stream ended");
  connection("live", "live");
  let event;
  try { event = JSON.parse(data); } catch { return; }
  noteMigration(event.type, event.summary);
  const kind = feedEvent(event);
  const parts = ["cluster"];
  if (kind === "failover") parts.push("failovers");
  if (kind === "policy") parts.push("decisions");
  scheduleRefresh(...parts);
}

async function stream() {
  let backoff = 1000;
  for (;;) {
    if (!token()) { connection("off", "no token"); return; }
    streamAbort = new AbortController();
    try {
      const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
      if (view.lastEventId !== null) headers["Last-Event-ID"] = String(view.lastEventId);
      const response = await fetch("/events/stream", { headers, signal: streamAbort.signal, cache: "no-store" });
      if (!response.ok) {
        const body = await response.text();
        let message = body;
        try { message = JSON.parse(body).error; } catch { /* keep the text */ }
        throw new ApiError(response.status, message);
      }
      connection("live", "live");
      backoff = 1000;
      await readEvents(response.body);
    } catch (error) {
      if (streamAbort.signal.aborted) return;
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        banner(explain(error), "action");
        connection("off", "token refused");
        return;
      }
    }
    connection("retrying", `reconnecting in ${backoff / 1000} s`);
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 15000);
    scheduleRefresh("all"); // whatever happened while the stream was down
  }
}

async function readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", type = "message", id = null, data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (data.length) onEvent(type, id, data.join("\n"));
        type = "message"; id = null; data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // a keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = val;
      else if (field === "data") data.push(val);
      else if (field === "id" && /^\d+$/.test(val)) id = Number(val);
    }
  }
}

function connection(kind, text) {
  const c = $("connection");
  c.className = `connection ${kind}`;
  c.textContent = text;
}

// ---- actions: each one that changes the cluster is confirmed first ----

function confirmAction(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-cancel").focus();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

async function act(description, path, method, body) {
  if (!(await confirmAction(description))) return;
  try {
    await api(path, { method, body: body ? JSON.stringify(body) : undefined });
    banner(`done: ${description}`, "info");
    scheduleRefresh("cluster", "decisions");
  } catch (error) {
    banner(`${description} was refused — ${explain(error)}`, "action");
  }
}

function showReasons(number) {
  const d = view.decisions.find((x) => String(x.number) === number);
  if (!d) return;
  const inputs = Object.entries(d.inputs || {}).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(typeof v === "number" ? +v.toFixed(4) : v)}</td></tr>`).join("");
  $("reasons-title").textContent = `Decision ${d.number}: ${d.policy}`;
  $("reasons-body").innerHTML = `<p><strong>${esc(d.summary)}</strong></p><p>${esc(d.reason)}</p>
<table><tbody><tr><th>mode</th><td>${esc(d.mode)}</td></tr><tr><th>outcome</th><td>${esc(d.outcome)}</td></tr><tr><th>at</th><td>${esc(d.at)}</td></tr>${inputs}</tbody></table>`;
  $("reasons").showModal();
}

document.addEventListener("click", (e) => {
  const button = e.target.closest("button[data-action]");
  if (!button || button.disabled) return;
  const host = button.dataset.host;
  switch (button.dataset.action) {
    case "drain": act(`Drain ${host}: no port is placed on it until it is undrained.`, `/hosts/${encodeURIComponent(host)}/drain`, "POST"); break;
    case "undrain": act(`Undrain ${host}: it takes ports again.`, `/hosts/${encodeURIComponent(host)}/undrain`, "POST"); break;
    case "forget": act(`Forget ${host}: its record, NICs and the commands owed to it are deleted.`, `/hosts/${encodeURIComponent(host)}`, "DELETE"); break;
    case "mode": {
      const policy = button.dataset.policy;
      const mode = document.querySelector(`[data-mode-of="${CSS.escape(policy)}"]`).value;
      act(`Switch ${policy} to ${mode}.`, `/policies/${policy}`, "PUT", { mode }).then(() => view.chosenModes.delete(policy));
      break;
    }
    case "reasons": showReasons(button.dataset.number); break;
  }
});

// ---- start ----

function start() {
  $("token").value = "";
  if (!token()) {
    banner("token missing: paste the API token (a standalone coordinator keeps it in data/api-token) and press “Use token”.", "action");
    connection("off", "no token");
    return;
  }
  $("token").placeholder = "a token is in use (paste another to replace it)";
  scheduleRefresh("all");
  if (streamAbort) streamAbort.abort();
  // The stream holds a connection for as long as the page is open: opened once the first view is asked for.
  setTimeout(stream, 0);
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("token").value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  banner("");
  start();
});
$("token-forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  if (streamAbort) streamAbort.abort();
  view.hosts = []; view.ports = new Map();
  render();
  start();
});
// A picked mode survives the refreshes until it is applied (or the page is reloaded).
$("policies").addEventListener("change", (e) => {
  const policy = e.target.dataset?.modeOf;
  if (policy) view.chosenModes.set(policy, e.target.value);
});
// "toggle" does not bubble: listened to on the way down.
$("grid").addEventListener("toggle", (e) => {
  const details = e.target;
  const host = details.dataset?.nicsOf;
  if (!host) return;
  if (!details.open) { view.expanded.delete(host); return; }
  view.expanded.add(host);
  const list = details.querySelector("ul.nics");
  const h = view.hosts.find((x) => x.host === host);
  if (h && !list.children.length) list.innerHTML = nicRows(h, unplugged()) || `<li class="empty">no NIC</li>`;
}, true);
for (const id of ["search", "status-filter", "problems", "group-by"]) $(id).addEventListener("input", () => render());
setInterval(() => { if (token()) scheduleRefresh(); }, TRAFFIC_POLL_MS);
setInterval(() => { if (token() && !$("connection").classList.contains("live")) scheduleRefresh("all"); }, FALLBACK_POLL_MS);
setInterval(() => { if (token()) scheduleRefresh("failovers", "decisions"); }, 30000);
start();
