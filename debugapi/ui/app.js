// pivotua call inspector: logs in with an account's api_key (PUT /v2/api_auth), lists the account's
// calls (GET .../pivot/debug) and shows one call's timeline (GET .../pivot/debug/{call_id}?events=true).
// Every value from the server is put in the page with textContent or checked attributes, never as HTML.
"use strict";

const PAGE_SIZE = 20;
const $ = (id) => document.getElementById(id);

const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem("pivotua-inspector") || "null"); } catch { return null; }
  },
  set(s) { sessionStorage.setItem("pivotua-inspector", JSON.stringify(s)); },
  clear() { sessionStorage.removeItem("pivotua-inspector"); },
};

// el builds an element; children are nodes or strings (as text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, String(v));
    else e[k] = v;
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function show(section) {
  for (const id of ["login", "calls", "call"]) $(id).hidden = !section.includes(id);
}

function setError(id, message) {
  $(id).textContent = message || "";
  $(id).hidden = !message;
}

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const s = session.get();
  const headers = { "Accept": "application/json" };
  if (s && s.token) headers["X-Auth-Token"] = s.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch (e) {
    throw new APIError(0, "pivotua did not answer: " + e.message);
  }
  let env = null;
  try { env = await res.json(); } catch { /* not JSON: reported below */ }
  if (!res.ok || !env || env.status !== "success") {
    throw new APIError(res.status, (env && env.message) || ("HTTP " + res.status));
  }
  return env;
}

// ---- login ----

async function login(account, apiKey) {
  session.clear();
  let env;
  try {
    env = await api("PUT", "/v2/api_auth", { data: { api_key: apiKey } });
  } catch (e) {
    if (e.status === 401) throw new Error("Wrong api_key: pivotua does not know this key (" + e.message + ").");
    throw new Error("Login failed: " + e.message);
  }
  if (env.data.account_id !== account) {
    throw new Error("This api_key belongs to another account, not " + account + ".");
  }
  session.set({ account, name: env.data.account_name || "", token: env.auth_token });
}

function showLogin(message) {
  session.clear();
  document.body.dataset.state = message ? "error" : "login";
  show(["login"]);
  $("who").textContent = "";
  $("logout").hidden = true;
  setError("login-error", message);
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const account = $("login-account").value.trim();
  try {
    await login(account, $("login-key").value);
    $("login-key").value = "";
    route();
  } catch (e) {
    showLogin(e.message);
  }
});

$("logout").addEventListener("click", () => {
  location.hash = "";
  showLogin("");
});

// ---- the list of calls ----

const paging = { keys: [null], page: 0 }; // start_key of each page seen; null = the newest

function gregorianToDate(seconds) { return new Date((seconds - 62167219200) * 1000); }

function fmtDate(d) {
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}

// withoutQuery shortens a URL for the list: a GET webhook's query holds every pivot parameter.
function withoutQuery(uri) {
  const i = (uri || "").indexOf("?");
  return i < 0 ? uri : uri.slice(0, i) + "?…";
}

function accountPath() { return "/v2/accounts/" + encodeURIComponent(session.get().account) + "/pivot/debug"; }

async function loadCalls() {
  const key = paging.keys[paging.page];
  let path = accountPath() + "?page_size=" + PAGE_SIZE;
  if (key) path += "&start_key=" + encodeURIComponent(key);
  const env = await api("GET", path);
  const rows = $("call-rows");
  rows.replaceChildren();
  const selected = currentCall();
  for (const c of env.data) {
    const link = el("a", { href: "#call=" + encodeURIComponent(c.call_id) }, c.call_id);
    const errs = [
      c.has_fetch_errors && (c.status_code && !c.status_code.startsWith("2") ? "HTTP " + c.status_code : "fetch failed"),
      c.has_json_errors && "json",
      c.has_schema_errors && "schema",
    ].filter(Boolean).join(", ");
    rows.append(el("tr", { "data-call-id": c.call_id, class: c.call_id === selected ? "selected" : "" },
      el("td", {}, fmtDate(gregorianToDate(c.created))),
      el("td", {}, link),
      el("td", {}, c.status_code || "—"),
      el("td", { class: "uri", title: c.uri }, withoutQuery(c.uri)),
      el("td", { class: errs ? "error" : "" }, errs)));
  }
  $("calls-empty").hidden = env.data.length > 0;
  paging.keys[paging.page + 1] = env.next_start_key || undefined;
  $("newer").disabled = paging.page === 0;
  $("older").disabled = !env.next_start_key;
}

$("older").addEventListener("click", () => { paging.page++; refreshCalls(); });
$("newer").addEventListener("click", () => { paging.page = Math.max(0, paging.page - 1); refreshCalls(); });

async function refreshCalls() {
  try {
    setError("calls-error", "");
    await loadCalls();
  } catch (e) {
    handleAPIError(e, "calls-error");
  }
}

// ---- one call's timeline ----

function currentCall() {
  const p = new URLSearchParams(location.hash.slice(1));
  return p.get("call");
}

// pretty renders a body for reading: JSON indented, XML indented, a form as one field per line.
function pretty(body, contentType) {
  if (!body) return "";
  const t = (contentType || "").toLowerCase();
  const trimmed = body.trim();
  if (t.includes("json") || trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try { return JSON.stringify(JSON.parse(trimmed), null, 2); } catch { /* not JSON after all */ }
  }
  if (t.includes("xml") || trimmed.startsWith("<")) {
    const x = prettyXML(trimmed);
    if (x) return x;
  }
  if (t.includes("x-www-form-urlencoded")) return formLines(body);
  return body;
}

function prettyXML(text) {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  if (doc.getElementsByTagName("parsererror").length > 0) return "";
  const out = [];
  const walk = (node, depth) => {
    const pad = "  ".repeat(depth);
    const attrs = Array.from(node.attributes).map((a) => " " + a.name + '="' + a.value + '"').join("");
    const kids = Array.from(node.childNodes).filter((n) => n.nodeType === 1 || (n.nodeType === 3 && n.nodeValue.trim()));
    if (kids.length === 0) { out.push(pad + "<" + node.nodeName + attrs + "/>"); return; }
    if (kids.length === 1 && kids[0].nodeType === 3) {
      out.push(pad + "<" + node.nodeName + attrs + ">" + kids[0].nodeValue.trim() + "</" + node.nodeName + ">");
      return;
    }
    out.push(pad + "<" + node.nodeName + attrs + ">");
    for (const k of kids) {
      if (k.nodeType === 1) walk(k, depth + 1);
      else out.push(pad + "  " + k.nodeValue.trim());
    }
    out.push(pad + "</" + node.nodeName + ">");
  };
  walk(doc.documentElement, 0);
  return out.join("\n");
}

// formLines decodes a query string or form body: "name = value" per field, in order.
function formLines(q) {
  return Array.from(new URLSearchParams(q)).map(([k, v]) => k + " = " + v).join("\n");
}

// playable makes a recording URL same-origin when pivotua serves it, and refuses other schemes.
function playable(raw) {
  let u;
  try { u = new URL(raw, location.href); } catch { return null; }
  if (u.pathname.startsWith("/recordings/")) return u.pathname + u.search;
  return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
}

function block(text, label) {
  if (!text) return null;
  const pre = el("pre", {}, text);
  return label ? el("details", {}, el("summary", {}, label), pre) : pre;
}

function headerLines(h) {
  return Object.entries(h || {}).map(([k, v]) => k + ": " + v).join("\n");
}

const render = {
  request(r) {
    const url = r.uri || "";
    const query = url.includes("?") ? url.slice(url.indexOf("?") + 1) : "";
    const params = r.method === "get" ? formLines(query) : pretty(r.req_body, (r.req_headers || {})["content-type"]);
    return {
      tag: "request", title: (r.method || "").toUpperCase() + " " + url,
      body: [
        r.fetch_error && el("div", { class: "fetch-error" }, "no response: " + r.fetch_error),
        block(params),
        block(headerLines(r.req_headers), "request headers"),
      ],
    };
  },
  response(r) {
    return {
      tag: "response", title: r.resp_status_code + " in " + r.elapsed_ms + " ms",
      body: [block(pretty(r.resp_body, (r.resp_headers || {})["content-type"])), block(headerLines(r.resp_headers), "response headers")],
    };
  },
  error(r) {
    const kind = r.json_errors ? "json_errors" : "schema_errors";
    return {
      tag: "error", title: kind + (r.uri ? " from " + r.uri : ""),
      body: [block(JSON.stringify(r.json_errors || r.schema_errors, null, 2)), block(pretty(r.resp_body), "the document")],
    };
  },
  event(r) {
    const d = r.event_data || {};
    switch (r.event) {
      case "verb": {
        const attrs = Object.entries(d.attrs || {}).map(([k, v]) => k + '="' + v + '"').join(" ");
        const detail = [];
        if (d.text) detail.push(d.text);
        for (const n of d.nested || []) detail.push("<" + n.name + "> " + (n.text || Object.entries(n.attrs || {}).map(([k, v]) => k + "=" + v).join(" ")));
        if (d.data !== undefined) detail.push(JSON.stringify(d.data, null, 2));
        return { tag: "verb", title: d.name + (attrs ? " " + attrs : ""), body: [block(detail.join("\n"))] };
      }
      case "digits": {
        const from = d.verb ? "<" + d.verb + ">" : "collection " + d.collection + (d.type_ahead ? " (pressed during prompts)" : "");
        return { tag: "digits", title: (d.digits ? d.digits : "none (timeout)") + " — " + from, body: [] };
      }
      case "recording": {
        const src = d.playable_url ? playable(d.playable_url) : null;
        const title = d.discarded ? "discarded (" + d.discarded + "), " + d.duration + " s" : d.duration + " s, ended by " + d.ended_by;
        return {
          tag: "recording", title,
          body: [
            src && el("audio", { controls: true, preload: "none", src }),
            d.url && el("div", { class: "muted" }, "reported as " + d.url),
          ],
        };
      }
      case "dial":
        return { tag: "dial", title: d.status + (d.duration ? ", " + d.duration + " s" : "") + (d.dial_call_id ? " (" + d.dial_call_id + ")" : "") + " — " + d.verb, body: [] };
      case "answered":
        return { tag: "answered", title: "200 OK sent", body: [] };
      case "warning":
        return { tag: "warning", title: (d.verb ? "<" + d.verb + "> " : "") + d.message, body: [] };
      case "hangup": {
        let how = d.sip === "response" ? d.code + " " + d.reason : d.sip;
        if (d.by === "media_timeout") how = "no RTP: media timeout";
        return { tag: "hangup", title: "by " + d.by + " (" + how + ")", body: [] };
      }
    }
    return { tag: r.event, title: "", body: [block(JSON.stringify(d, null, 2))] };
  },
};

function timeLabel(us, firstUS) {
  const d = new Date(us / 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  const abs = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  return el("div", { class: "when" }, el("span", { class: "rel" }, "+" + Math.round((us - firstUS) / 1000) + " ms"), abs);
}

async function loadCall(callID) {
  $("call-id").textContent = callID;
  setError("call-error", "");
  const list = $("timeline");
  list.replaceChildren();
  const env = await api("GET", accountPath() + "/" + encodeURIComponent(callID) + "?events=true");
  // In the order things happened: a nested pivot restarts iterations, so the server's order is not time.
  const docs = env.data.map((d, i) => [d, i]).sort((a, b) => (a[0].created_us - b[0].created_us) || (a[1] - b[1])).map((p) => p[0]);
  const first = docs.length ? docs[0].created_us : 0;
  for (const d of docs) {
    const r = (render[d.kind] || render.event)(d);
    list.append(el("li", { class: "entry kind-" + d.kind + (d.event ? " event-" + d.event : ""), "data-kind": d.kind, "data-event": d.event },
      timeLabel(d.created_us, first),
      el("div", { class: "title" }, el("span", { class: "tag" }, r.tag), " ", r.title, el("span", { class: "muted" }, "  #" + d.iteration)),
      el("div", { class: "body" }, ...r.body)));
  }
}

function handleAPIError(e, errorID) {
  if (e.status === 401) {
    showLogin("Your session expired or the key changed: log in again.");
    return;
  }
  setError(errorID, e.message);
  document.body.dataset.state = "error";
}

// ---- routing: #call=<id> shows a call; #account=..&key=.. logs in (then leaves the URL) ----

async function route() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("key")) {
    const account = params.get("account") || "", key = params.get("key");
    const call = params.get("call");
    history.replaceState(null, "", location.pathname + location.search + (call ? "#call=" + encodeURIComponent(call) : ""));
    try {
      await login(account, key);
    } catch (e) {
      showLogin(e.message);
      return;
    }
  }
  const s = session.get();
  if (!s) { showLogin(""); return; }
  $("who").textContent = (s.name ? s.name + " · " : "") + s.account;
  $("logout").hidden = false;
  const call = currentCall();
  show(call ? ["calls", "call"] : ["calls"]);
  document.body.dataset.state = "loading";
  try {
    setError("calls-error", "");
    await loadCalls();
    if (call) await loadCall(call);
    document.body.dataset.state = call ? "call" : "calls";
  } catch (e) {
    handleAPIError(e, call ? "call-error" : "calls-error");
  }
}

window.addEventListener("hashchange", route);
route();
