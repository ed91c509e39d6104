// amqpd's web console: a plain page over the management API, with RabbitMQ's URL scheme (#/queues/%2F/q).
// Credentials live in sessionStorage and go with every API call as Basic auth.
"use strict";

const POLL_MS = 5000;
const RATE_KEYS = [["publish", "#c60"], ["deliver_get", "#06c"], ["ack", "#393"]];
const CHART_AGE = 600; // seconds of message rates shown
const collected = []; // [{t, publish, deliver_get, ack}]: rates polled, when the API sends no samples
let timer = null;

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const enc = encodeURIComponent;
const num = (v) => (v === undefined || v === null ? "" : Number(v).toLocaleString("en"));
const rate = (stats, key) => (stats && stats[`${key}_details`] ? stats[`${key}_details`].rate : 0);

function credentials() { return sessionStorage.getItem("amqpd-auth"); }

async function api(method, path, body, extraHeaders = {}) {
  const headers = { authorization: `Basic ${credentials()}`, ...extraHeaders };
  if (body !== undefined) headers["content-type"] = "application/json";
  const reply = await fetch(`api${path}`, { method, headers, credentials: "omit", body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await reply.text();
  const data = text ? JSON.parse(text) : null;
  // credentials no longer valid (a user deleted, a password changed): back to the login form;
  // a refusal for lack of rights ("not_authorised") is only shown
  if (reply.status === 401 && (!data || data.error === "not_authorized")) { logout(); throw new Error("Login failed"); }
  if (!reply.ok) throw new Error(data && data.reason ? `${data.error}: ${data.reason}` : `HTTP ${reply.status}`);
  return data;
}

// -- login -----------------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  const user = $("#login-username").value, password = $("#login-password").value;
  const token = btoa(unescape(enc(`${user}:${password}`)));
  // credentials "omit": the browser neither adds its own nor prompts on the API's 401 challenge
  const reply = await fetch("api/whoami", { headers: { authorization: `Basic ${token}` }, credentials: "omit" });
  if (!reply.ok) {
    const error = $("#login-error");
    error.textContent = reply.status === 401 ? "Login failed" : `Login failed (HTTP ${reply.status})`;
    error.hidden = false;
    return;
  }
  sessionStorage.setItem("amqpd-auth", token);
  sessionStorage.setItem("amqpd-user", (await reply.json()).name);
  start();
}

function logout() {
  sessionStorage.removeItem("amqpd-auth");
  sessionStorage.removeItem("amqpd-user");
  clearInterval(timer);
  timer = null;
  collected.length = 0;
  $("#page").innerHTML = "";
  $("#menu").hidden = $("#session").hidden = true;
  $("#login").hidden = false;
  $("#login-password").value = "";
}

function start() {
  $("#login").hidden = $("#login-error").hidden = true;
  $("#menu").hidden = $("#session").hidden = false;
  $("#who").textContent = sessionStorage.getItem("amqpd-user");
  if (!location.hash) location.hash = "#/";
  show();
  timer = setInterval(() => refresh().catch(() => {}), POLL_MS);
}

// -- routing: #/page/vhost/name ----------------------------------------------------------------------

let current = null; // {refresh(): Promise} of the page shown

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  return { page: parts[0] || "", vhost: parts[1], name: parts[2] };
}

function show() {
  const { page, vhost, name } = route();
  document.querySelectorAll("#menu a").forEach((a) =>
    a.classList.toggle("active", a.getAttribute("href") === `#/${page}`));
  const make = name !== undefined ? DETAIL[page] : PAGES[page];
  current = make ? make(vhost, name) : notFound();
  refresh().catch((e) => { $("#page").innerHTML = `<p class="error">${esc(e.message)}</p>`; });
}

async function refresh() {
  if (!credentials() || !current) return;
  await current.refresh();
}

function notFound() {
  $("#page").innerHTML = "<h1>Not found</h1>";
  return { refresh: async () => {} };
}

// A page: static html (forms keep their input) with [data-part] sections that refresh() fills.
function page(html, parts, setup = () => {}) {
  $("#page").innerHTML = html;
  setup($("#page"));
  return {
    refresh: async () => {
      for (const [name, fill] of Object.entries(parts)) {
        const element = $(`[data-part="${name}"]`);
        if (element) element.innerHTML = await fill();
      }
    },
  };
}

function table(columns, rows, empty = "Nothing to show.") {
  if (!rows.length) return `<p>${empty}</p>`;
  const head = columns.map(([title]) => `<th>${esc(title)}</th>`).join("");
  const body = rows.map((row) => `<tr>${columns.map(([, cell]) => `<td>${cell(row)}</td>`).join("")}</tr>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

const link = (kind, vhost, name, label) => `<a href="#/${kind}/${enc(vhost)}/${enc(name)}">${esc(label ?? name)}</a>`;
const exchangeLabel = (name) => name || "(AMQP default)";
const exchangePath = (name) => name || "amq.default";

function pairs(object) {
  return `<table>${Object.entries(object).map(([k, v]) =>
    `<tr><th>${esc(k)}</th><td>${esc(typeof v === "object" ? JSON.stringify(v) : v)}</td></tr>`).join("")}</table>`;
}

// -- overview ----------------------------------------------------------------------------------------

async function rateSeries() {
  const query = `?msg_rates_age=${CHART_AGE}&msg_rates_incr=${POLL_MS / 1000}`;
  const overview = await api("GET", `/overview${query}`);
  const stats = overview.message_stats || {};
  const series = {};
  let sampled = false;
  for (const [key] of RATE_KEYS) {
    const given = stats[`${key}_details`] && stats[`${key}_details`].samples;
    if (given && given.length > 1) { // RabbitMQ's samples: cumulative counts with their times (ms)
      const samples = [...given].sort((a, b) => b.timestamp - a.timestamp);
      sampled = true;
      series[key] = samples.slice(0, -1).map((s, i) => ({
        t: s.timestamp, v: Math.max(0, (s.sample - samples[i + 1].sample) * 1000 / ((s.timestamp - samples[i + 1].timestamp) || 1)),
      }));
    }
  }
  if (!sampled) { // no samples from this API: the rates this page polled
    collected.push({ t: Date.now(), ...Object.fromEntries(RATE_KEYS.map(([key]) => [key, rate(stats, key)])) });
    while (collected.length && collected[0].t < Date.now() - CHART_AGE * 1000) collected.shift();
    for (const [key] of RATE_KEYS) series[key] = collected.map((point) => ({ t: point.t, v: point[key] })).reverse();
  }
  return { overview, series, sampled };
}

function chart(series) {
  const width = 600, height = 160, now = Date.now(), from = now - CHART_AGE * 1000;
  const peak = Math.max(1, ...Object.values(series).flat().map((p) => p.v));
  const x = (t) => ((t - from) / (now - from)) * width, y = (v) => height - (v / peak) * (height - 10);
  const lines = RATE_KEYS.map(([key, colour]) => {
    const points = (series[key] || []).map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    return `<polyline data-series="${key}" fill="none" stroke="${colour}" stroke-width="2" points="${points}"/>`;
  }).join("");
  const latest = (key) => ((series[key] || [])[0] || { v: 0 }).v;
  const legend = RATE_KEYS.map(([key, colour]) =>
    `<span><i class="swatch" style="background:${colour}"></i>${key} <b data-rate="${key}">${latest(key).toFixed(1)}</b>/s</span>`).join("");
  return `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<text x="4" y="12" font-size="10">${peak.toFixed(1)}/s</text>${lines}</svg><div class="legend">${legend}</div>`;
}

const PAGES = {
  "": () => {
    let data = null;
    const load = async () => { data = await rateSeries(); return ""; };
    return page(`<h1>Overview</h1><div data-part="load"></div><h2>Totals</h2><div data-part="totals"></div>
      <h2>Message rates (last ${CHART_AGE / 60} minutes)</h2><div data-part="chart"></div>
      <h2>Listeners</h2><div data-part="listeners"></div>`, {
      load,
      totals: async () => {
        const o = data.overview, t = o.object_totals || {}, q = o.queue_totals || {};
        return `<table id="totals"><tr><th>Node</th><td>${esc(o.node)}</td></tr>` +
          ["connections", "channels", "exchanges", "queues", "consumers"].map((k) =>
            `<tr><th>${k}</th><td class="num" data-total="${k}">${num(t[k])}</td></tr>`).join("") +
          [["messages", "Messages"], ["messages_ready", "Ready"], ["messages_unacknowledged", "Unacked"]].map(([k, label]) =>
            `<tr><th>${label}</th><td class="num" data-total="${k}">${num(q[k])}</td></tr>`).join("") + "</table>";
      },
      chart: async () => chart(data.series),
      listeners: async () => table([["Protocol", (l) => esc(l.protocol)], ["Bound to", (l) => esc(l.ip_address)],
        ["Port", (l) => esc(l.port)]], data.overview.listeners || []),
    });
  },
  connections: () => page(`<h1>Connections</h1><p data-note class="note"></p><div data-part="list"></div>`, {
    list: async () => table([
      ["Name", (c) => esc(c.name) + (c.user_provided_name ? `<br><small>${esc(c.user_provided_name)}</small>` : "")],
      ["User", (c) => esc(c.user)], ["Virtual host", (c) => esc(c.vhost)], ["State", (c) => esc(c.state)], ["Channels", (c) => num(c.channels)], ["Client", (c) => esc(clientName(c))],
      ["", (c) => `<button type="button" data-close="${esc(c.name)}">Force close</button>`],
    ], await api("GET", "/connections"), "No connections."),
  }, (root) => root.addEventListener("click", async (event) => {
    const name = event.target.dataset.close;
    if (!name || !confirm(`Close connection ${name}?`)) return;
    await act(root, () => api("DELETE", `/connections/${enc(name)}`, undefined, { "x-reason": "Closed via management plugin" }),
      `Connection ${name} closed.`);
  })),
  channels: () => page(`<h1>Channels</h1><div data-part="list"></div>`, {
    list: async () => table([
      ["Channel", (c) => esc(c.name)], ["User", (c) => esc(c.user)], ["Virtual host", (c) => esc(c.vhost)],
      ["Confirm", (c) => (c.confirm ? "yes" : "")], ["Prefetch", (c) => num(c.prefetch_count)],
      ["Unacked", (c) => num(c.messages_unacknowledged)], ["Consumers", (c) => num(c.consumer_count)],
    ], await api("GET", "/channels"), "No channels."),
  }),
  exchanges: () => page(`<h1>Exchanges</h1><div data-part="list"></div>`, {
    list: async () => table([
      ["Virtual host", (x) => esc(x.vhost)], ["Name", (x) => link("exchanges", x.vhost, exchangePath(x.name), exchangeLabel(x.name))],
      ["Type", (x) => esc(x.type)], ["Durable", (x) => (x.durable ? "D" : "")],
      ["Rate in", (x) => rate(x.message_stats, "publish_in").toFixed(1)], ["Rate out", (x) => rate(x.message_stats, "publish_out").toFixed(1)],
    ], await api("GET", "/exchanges")),
  }),
  queues: () => page(`<h1>Queues</h1><div data-part="list"></div>`, {
    list: async () => table([
      ["Virtual host", (q) => esc(q.vhost)], ["Name", (q) => link("queues", q.vhost, q.name)],
      ["Type", (q) => esc(q.type)], ["Durable", (q) => (q.durable ? "D" : "")],
      ["Ready", (q) => num(q.messages_ready)], ["Unacked", (q) => num(q.messages_unacknowledged)],
      ["Total", (q) => num(q.messages)], ["Consumers", (q) => num(q.consumers)],
    ], await api("GET", "/queues"), "No queues."),
  }),
  users: () => page(`<h1>Users</h1><div data-part="list"></div>`, {
    list: async () => table([["Name", (u) => esc(u.name)], ["Tags", (u) => esc([].concat(u.tags).join(", "))]],
      await api("GET", "/users")),
  }),
  vhosts: () => page(`<h1>Virtual hosts</h1><div data-part="list"></div>`, {
    list: async () => table([["Name", (v) => esc(v.name)], ["Messages", (v) => num(v.messages)],
      ["Description", (v) => esc(v.description)]], await api("GET", "/vhosts")),
  }),
  policies: () => page(`<h1>Policies</h1><div data-part="list"></div>`, {
    list: async () => table([["Virtual host", (p) => esc(p.vhost)], ["Name", (p) => esc(p.name)],
      ["Pattern", (p) => esc(p.pattern)], ["Apply to", (p) => esc(p["apply-to"])], ["Priority", (p) => esc(p.priority)],
      ["Definition", (p) => esc(JSON.stringify(p.definition))]], await api("GET", "/policies"), "No policies."),
  }),
};

function clientName(connection) {
  const props = connection.client_properties || {};
  return [props.product, props.version].filter(Boolean).join(" ");
}

// Run an action from a form or button; its outcome goes in the page's [data-note].
async function act(root, action, success) {
  const note = $("[data-note]", root);
  try {
    const result = await action();
    note.className = "note";
    note.textContent = typeof success === "function" ? success(result) : success;
    await refresh();
  } catch (e) {
    note.className = "error";
    note.textContent = e.message;
  }
}

function onSubmit(root, selector, handler) {
  $(selector, root).addEventListener("submit", (event) => { event.preventDefault(); handler(new FormData(event.target)); });
}

// "k=v" lines (or a JSON object) as a headers table
function headers(text) {
  text = (text || "").trim();
  if (!text) return {};
  if (text.startsWith("{")) return JSON.parse(text);
  return Object.fromEntries(text.split("\n").filter((l) => l.includes("=")).map((l) => {
    const at = l.indexOf("=");
    return [l.slice(0, at).trim(), l.slice(at + 1).trim()];
  }));
}

const PUBLISH_FORM = (key) => `<h2>Publish message</h2><form class="panel" data-form="publish">
  ${key ? "" : '<label>Routing key <input name="routing_key"></label>'}
  <label>Headers (k=v lines) <textarea name="headers"></textarea></label>
  <label>Delivery mode <select name="delivery_mode"><option value="1">1 - Non-persistent</option><option value="2">2 - Persistent</option></select></label>
  <label>Payload <textarea name="payload"></textarea></label>
  <button type="submit">Publish message</button></form>`;

function publishFrom(form, exchange, vhost, routingKey) {
  const properties = { delivery_mode: Number(form.get("delivery_mode")), headers: headers(form.get("headers")) };
  return api("POST", `/exchanges/${enc(vhost)}/${enc(exchangePath(exchange))}/publish`, {
    properties, routing_key: routingKey ?? form.get("routing_key"), payload: form.get("payload"), payload_encoding: "string",
  });
}

const published = (result) => (result.routed ? "Message published." : "Message published, but not routed.");

function messages(items, empty) {
  if (!items.length) return `<p>${empty}</p>`;
  return items.map((m, i) => `<table class="message"><tr><th>Message ${i + 1}</th><td>${m.message_count} messages remaining</td></tr>` +
    `<tr><th>Exchange</th><td>${esc(exchangeLabel(m.exchange))}</td></tr><tr><th>Routing key</th><td>${esc(m.routing_key)}</td></tr>` +
    `<tr><th>Redelivered</th><td>${m.redelivered ? "yes" : "no"}</td></tr><tr><th>Properties</th><td>${esc(JSON.stringify(m.properties))}</td></tr>` +
    `<tr><th>Payload</th><td>${m.payload_bytes} bytes, encoding: ${esc(m.payload_encoding)}<pre class="payload">${esc(m.payload)}</pre></td></tr></table>`).join("");
}

// -- objects: #/exchanges/vhost/name, #/queues/vhost/name ------------------------------------------------

const bindingColumns = [["From", (b) => esc(exchangeLabel(b.source))], ["To", (b) => esc(b.destination)],
  ["Routing key", (b) => esc(b.routing_key)], ["Arguments", (b) => esc(JSON.stringify(b.arguments))]];

const DETAIL = {
  exchanges: (vhost, name) => {
    const path = `/exchanges/${enc(vhost)}/${enc(name)}`, label = name === "amq.default" ? "" : name;
    return page(`<h1>Exchange: ${esc(exchangeLabel(label))}</h1><p data-note class="note"></p>
      <div data-part="details"></div><h2>Bindings</h2><div data-part="bindings"></div>
      ${PUBLISH_FORM(false)}
      <h2>Explain a route</h2><form class="panel" data-form="route">
        <label>Routing key <input name="routing_key"></label>
        <label>Headers (k=v lines, or JSON) <textarea name="headers"></textarea></label>
        <button type="submit">Explain route</button></form><div id="route-result"></div>`, {
      details: async () => {
        const x = await api("GET", path);
        return pairs({ type: x.type, durable: x.durable, auto_delete: x.auto_delete, internal: x.internal, arguments: x.arguments });
      },
      bindings: async () => table(bindingColumns, await api("GET", `${path}/bindings/source`), "No bindings."),
    }, (root) => {
      onSubmit(root, '[data-form="publish"]', (form) => act(root, () => publishFrom(form, label, vhost), published));
      onSubmit(root, '[data-form="route"]', async (form) => {
        const out = $("#route-result");
        try {
          const result = await api("POST", `${path}/route`, { routing_key: form.get("routing_key"), properties: { headers: headers(form.get("headers")) } });
          out.innerHTML = `<p data-unroutable="${result.unroutable}">${result.unroutable ? "Unroutable: no queue would get this message." :
            `Queues reached: ${result.queues.map((q) => link("queues", q.vhost, q.name)).join(", ")}`}</p>` +
            table([["From", (h) => esc(exchangeLabel(h.source))], ["To", (h) => esc(h.destination)], ["Type", (h) => esc(h.destination_type)],
              ["Routing key", (h) => esc(h.routing_key)], ["Arguments", (h) => esc(JSON.stringify(h.arguments))], ["Via", (h) => esc(h.via)]],
            result.routes, "No hops.");
        } catch (e) {
          out.innerHTML = `<p class="error">${esc(e.message)}</p>`;
        }
      });
    });
  },
  queues: (vhost, name) => {
    const path = `/queues/${enc(vhost)}/${enc(name)}`;
    return page(`<h1>Queue: ${esc(name)}</h1><p data-note class="note"></p>
      <div data-part="details"></div><h2>Consumers</h2><div data-part="consumers"></div>
      <h2>Bindings</h2><div data-part="bindings"></div>
      ${PUBLISH_FORM(true)}
      <h2>Get messages</h2><form class="panel" data-form="get">
        <label>Ack mode <select name="ackmode"><option value="ack_requeue_true">Nack message requeue true</option>
          <option value="ack_requeue_false">Automatic ack</option><option value="reject_requeue_true">Reject requeue true</option>
          <option value="reject_requeue_false">Reject requeue false</option></select></label>
        <label>Messages <input name="count" type="number" value="1" min="1"></label>
        <button type="submit">Get Message(s)</button></form><div id="got"></div>
      <h2>Browse messages (nothing is taken)</h2><form class="panel" data-form="peek">
        <label>Messages <input name="count" type="number" value="10" min="1" max="1000"></label>
        <button type="submit">Browse</button></form><div id="browsed"></div>
      <h2>Purge</h2><button type="button" data-action="purge">Purge Messages</button>
      <h2>Delete</h2><button type="button" data-action="delete">Delete Queue</button>`, {
      details: async () => {
        const q = await api("GET", path);
        return `<table id="counts"><tr><th></th><th>Total</th><th>Ready</th><th>Unacked</th></tr><tr><th>Messages</th>` +
          `<td class="num" data-count="messages">${num(q.messages)}</td><td class="num" data-count="messages_ready">${num(q.messages_ready)}</td>` +
          `<td class="num" data-count="messages_unacknowledged">${num(q.messages_unacknowledged)}</td></tr></table>` +
          pairs({ type: q.type, durable: q.durable, auto_delete: q.auto_delete, exclusive: q.exclusive, arguments: q.arguments,
            policy: q.policy || "", consumers: q.consumers });
      },
      consumers: async () => table([["Channel", (c) => esc(c.channel_details && c.channel_details.name)],
        ["Consumer tag", (c) => esc(c.consumer_tag)], ["Ack required", (c) => (c.ack_required ? "yes" : "no")],
        ["Prefetch", (c) => num(c.prefetch_count)]], (await api("GET", path)).consumer_details || [], "No consumers."),
      bindings: async () => table(bindingColumns, await api("GET", `${path}/bindings`), "No bindings."),
    }, (root) => {
      onSubmit(root, '[data-form="publish"]', (form) => act(root, () => publishFrom(form, "", vhost, name), published));
      onSubmit(root, '[data-form="get"]', (form) => act(root, async () => {
        const got = await api("POST", `${path}/get`, { count: Number(form.get("count")), ackmode: form.get("ackmode"), encoding: "auto", truncate: 50000 });
        $("#got").innerHTML = messages(got, "Queue is empty");
        return got;
      }, (got) => `${got.length} message(s) fetched.`));
      onSubmit(root, '[data-form="peek"]', (form) => act(root, async () => {
        const seen = await api("GET", `${path}/peek?count=${enc(form.get("count"))}`);
        $("#browsed").innerHTML = messages(seen, "Queue is empty");
        return seen;
      }, (seen) => `${seen.length} message(s) shown, none taken.`));
      root.addEventListener("click", (event) => {
        const action = event.target.dataset.action;
        if (action === "purge" && confirm(`Purge queue ${name}?`)) {
          act(root, () => api("DELETE", `${path}/contents`), "Queue purged.");
        } else if (action === "delete" && confirm(`Delete queue ${name}?`)) {
          act(root, async () => { await api("DELETE", path); location.hash = "#/queues"; }, "Queue deleted.");
        }
      });
    });
  },
};

window.addEventListener("hashchange", () => { if (credentials()) show(); });
$("#login").addEventListener("submit", login);
$("#logout").addEventListener("click", logout);
if (credentials()) start(); else logout();
