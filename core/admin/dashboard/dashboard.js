// Switchyard dashboard. The page is rendered on the server; this script
// keeps it current without reloading it:
//   - every second it reads {prefix}/api/stats and draws requests per second
//     and P50/P99 latency from the difference with the previous reading;
//   - it fetches the page again and swaps in each [data-section] whose markup
//     changed: every few seconds (live plugin and pool statistics), and at
//     once when the config version or the reload history changes.
"use strict";

(() => {
  const prefix = document.body.dataset.prefix || "";
  const api = (p) => prefix + "/api/" + p;
  const STATS_EVERY_MS = 1000;
  const PAGE_EVERY_MS = 3000;
  const WINDOW = 120; // samples kept: two minutes

  const $ = (id) => document.getElementById(id);
  const samples = [];
  let prev = null;
  let shown = pageState(document);
  let refreshing = null;
  let disconnected = false;

  function pageState(doc) {
    const el = doc.getElementById("page-state");
    return el ? { version: el.dataset.version, lastReload: el.dataset.lastReload } : {};
  }

  function setStatus(text, bad) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("bad", !!bad);
  }

  // --- the page sections ---------------------------------------------------

  async function refreshPage() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      const res = await fetch(location.pathname, { cache: "no-store", headers: { Accept: "text/html" } });
      if (!res.ok) throw new Error("dashboard: HTTP " + res.status);
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      for (const fresh of doc.querySelectorAll("[data-section]")) {
        const cur = document.querySelector(`[data-section="${fresh.dataset.section}"]`);
        if (!cur) continue;
        // Keep what the reader opened open.
        for (const d of fresh.querySelectorAll("details[id]")) {
          const open = document.getElementById(d.id);
          if (open) d.open = open.open;
        }
        if (cur.innerHTML !== fresh.innerHTML) cur.innerHTML = fresh.innerHTML;
      }
      document.title = doc.title;
      shown = pageState(document);
    })();
    try {
      await refreshing;
    } finally {
      refreshing = null;
    }
  }

  // --- traffic ---------------------------------------------------------------

  // quantile estimates the q-quantile of the requests between two readings
  // from the difference of their cumulative buckets, as Prometheus's
  // histogram_quantile(q, rate(...)) does; null when there were none.
  function quantile(q, a, b) {
    const count = b.count - a.count;
    if (count <= 0 || a.buckets.length !== b.buckets.length || b.buckets.length === 0) return null;
    const rank = q * count;
    let lower = 0, below = 0;
    for (let i = 0; i < b.buckets.length; i++) {
      const cum = b.buckets[i].count - a.buckets[i].count;
      const le = b.buckets[i].le;
      if (cum >= rank) {
        const inBucket = cum - below;
        return inBucket === 0 ? le : lower + (le - lower) * (rank - below) / inBucket;
      }
      lower = le;
      below = cum;
    }
    return b.buckets[b.buckets.length - 1].le;
  }

  function fmtMS(s) {
    if (s === null || s === undefined) return "–";
    const ms = s * 1000;
    return (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)) + " ms";
  }

  function fmtRate(r) {
    return r < 10 ? r.toFixed(1) : Math.round(r).toLocaleString();
  }

  async function pollStats() {
    let s;
    try {
      const res = await fetch(api("stats"), { cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      s = await res.json();
    } catch (e) {
      setStatus("disconnected: " + e.message, true);
      disconnected = true;
      prev = null;
      return;
    }
    if (disconnected) {
      disconnected = false;
      setStatus("");
    }
    if (prev && s.time > prev.time) {
      const dt = s.time - prev.time;
      const sample = {
        t: s.time,
        rps: Math.max(0, s.requests_total - prev.requests_total) / dt,
        eps: Math.max(0, s.errors_total - prev.errors_total) / dt,
        p50: quantile(0.5, prev.latency, s.latency),
        p99: quantile(0.99, prev.latency, s.latency),
      };
      samples.push(sample);
      if (samples.length > WINDOW) samples.shift();
      $("rps").textContent = fmtRate(sample.rps);
      $("errors").textContent = fmtRate(sample.eps);
      // A second without requests has no quantiles: the readouts keep
      // the last known ones (the chart shows the gap).
      if (sample.p50 !== null) $("p50").textContent = fmtMS(sample.p50);
      if (sample.p99 !== null) $("p99").textContent = fmtMS(sample.p99);
      draw();
    }
    $("inflight").textContent = s.in_flight.toLocaleString();
    $("total").textContent = s.requests_total.toLocaleString();
    prev = s;
    if (s.version !== shown.version || (s.last_reload || "") !== (shown.lastReload || "")) {
      refreshPage().catch((e) => setStatus(e.message, true));
    }
  }

  // --- charts (inline SVG) ----------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";
  const W = 600, H = 150, L = 44, R = 8, T = 10, B = 18;

  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // path draws one series; a null value (no request in that second) breaks
  // the line.
  function path(values, max, cls) {
    const x = (i) => L + (W - L - R) * (i + WINDOW - values.length) / (WINDOW - 1);
    const y = (v) => T + (H - T - B) * (1 - v / max);
    let d = "", pen = false;
    values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
      pen = true;
    });
    return el("path", { d: d || "M0 0", class: "series " + cls });
  }

  function chart(svg, series, unit) {
    const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
    const max = niceMax(Math.max(0, ...all) * 1.1);
    svg.replaceChildren();
    for (const f of [0, 0.5, 1]) {
      const y = T + (H - T - B) * (1 - f);
      svg.append(el("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
      const v = max * f;
      svg.append(el("text", { x: L - 4, y: y + 4, "text-anchor": "end", class: "axis" },
        (v < 10 && v !== 0 ? +v.toFixed(2) : Math.round(v)) + unit));
    }
    svg.append(el("text", { x: L, y: H - 4, class: "axis" }, "−2 min"));
    svg.append(el("text", { x: W - R, y: H - 4, "text-anchor": "end", class: "axis" }, "now"));
    for (const s of series) svg.append(path(s.values, max, s.cls));
  }

  function draw() {
    chart($("chart-rps"), [{ values: samples.map((s) => s.rps), cls: "rps" }], "");
    chart($("chart-latency"), [
      { values: samples.map((s) => (s.p99 === null ? null : s.p99 * 1000)), cls: "p99" },
      { values: samples.map((s) => (s.p50 === null ? null : s.p50 * 1000)), cls: "p50" },
    ], "");
  }

  // --- actions ------------------------------------------------------------------

  async function post(what, body) {
    const res = await fetch(api(what), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    return { ok: res.ok, body: await res.json() };
  }

  $("reload-now").addEventListener("click", async () => {
    setStatus("reloading…");
    try {
      const r = await post("reload");
      setStatus(r.ok ? "reloaded: version " + r.body.version : "reload rejected (see above)", !r.ok);
      await refreshPage();
    } catch (e) {
      setStatus("reload failed: " + e.message, true);
    }
  });

  $("purge").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const prefixValue = new FormData(ev.target).get("prefix");
    try {
      const r = await post("cache/purge", { prefix: prefixValue });
      const n = r.ok ? r.body.purged : 0;
      setStatus(r.ok ? "purged " + n + (n === 1 ? " entry" : " entries") : "purge failed: " + r.body.error, !r.ok);
      await refreshPage();
    } catch (e) {
      setStatus("purge failed: " + e.message, true);
    }
  });

  // --- start ----------------------------------------------------------------------

  draw();
  pollStats();
  setInterval(pollStats, STATS_EVERY_MS);
  setInterval(() => refreshPage().catch((e) => setStatus(e.message, true)), PAGE_EVERY_MS);
})();
