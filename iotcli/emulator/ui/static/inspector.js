// The inspector's little JavaScript: confirmations, the live event stream, the bucket chart.
// No framework, nothing fetched but this emulator's own pages (the CSP allows nothing else).
"use strict";

(function () {
  // Destructive actions ask first; the server asks too when this script does not run.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var question = form.getAttribute("data-confirm");
    if (!question) return;
    if (!window.confirm(question)) { ev.preventDefault(); return; }
    var flag = document.createElement("input");
    flag.type = "hidden"; flag.name = "confirmed"; flag.value = "1";
    form.appendChild(flag);
  });

  function fmt(ms) {
    var d = new Date(ms);
    return d.toISOString().replace("T", " ").replace("Z", "");
  }

  function summary(ev) {
    var parts = [];
    Object.keys(ev).forEach(function (k) {
      if (k === "id" || k === "ts" || k === "kind") return;
      var v = ev[k];
      parts.push(k + "=" + (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)));
    });
    return parts.join(", ").slice(0, 300);
  }

  // Rows kept in a live table: a page left open under load stays cheap for the browser too.
  var MAX_ROWS = 100;

  function row(ev, highlight) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-id", ev.id);
    if (highlight) tr.className = "new";
    var code = document.createElement("code");
    code.textContent = ev.kind;
    [String(ev.id), fmt(ev.ts), code, summary(ev)].forEach(function (c) {
      var td = document.createElement("td");
      if (typeof c === "string") td.textContent = c; else td.appendChild(c);
      tr.appendChild(td);
    });
    return tr;
  }

  function prepend(table, events) {
    // One DOM change per batch, newest first; only a trickle of events is highlighted (an animation per
    // row would keep the browser repainting under load).
    var body = table.tBodies[0];
    var empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    var newest = body.rows.length ? Number(body.rows[0].getAttribute("data-id")) : 0;
    var fresh = events.filter(function (ev) { return ev.id > newest; }).slice(-MAX_ROWS);
    if (!fresh.length) return;
    var frag = document.createDocumentFragment();
    for (var i = fresh.length - 1; i >= 0; i--) frag.appendChild(row(fresh[i], fresh.length <= 3));
    body.insertBefore(frag, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  }

  // Pages with data-live="kind prefixes" refresh their content when a matching event arrives: a second
  // after it, then at most once every REFRESH_GAP ms while events keep coming (a page left open under
  // load costs the server and the browser one page load every few seconds), and not while you type in
  // one of their forms.
  var REFRESH_GAP = 2500;
  var pending = null;
  var lastRefresh = 0;
  function refresh() {
    if (pending) return;
    var wait = Math.max(1000, lastRefresh + REFRESH_GAP - Date.now());
    pending = setTimeout(function () {
      pending = null;
      lastRefresh = Date.now();
      var active = document.activeElement;
      if (active && active.form && active.tagName !== "BUTTON") { refresh(); return; }
      fetch(window.location.href, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok || r.redirected) return null;
        return r.text();
      }).then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("content");
        var main = document.getElementById("content");
        if (fresh && main) { main.innerHTML = fresh.innerHTML; drawChart(); }
      }).catch(function () {});
    }, wait);
  }

  function startStream() {
    var live = (document.body.getAttribute("data-live") || "").split(/\s+/).filter(Boolean);
    if (!live.length || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var filter = status ? status.getAttribute("data-kind") : "";
    // The server filters for this page: the events themselves only for the journal's page (with its
    // kind filter), for the others only "changed"; at most two small messages a second.
    var url = document.body.getAttribute("data-stream") + "?live=" + encodeURIComponent(live.join(" "));
    if (filter) url += "&kind=" + encodeURIComponent(filter);
    var source = new EventSource(url);
    source.onopen = function () { document.body.classList.add("streaming"); };
    source.onerror = function () { document.body.classList.remove("streaming"); };
    source.onmessage = function (msg) {
      var batch = JSON.parse(msg.data);
      var table = document.getElementById("journal");
      if (live.indexOf("events") >= 0 && table && batch.events.length) prepend(table, batch.events);
      if (batch.skipped && status) status.textContent = batch.skipped + " events went by too fast to show; the journal keeps them all.";
      if (batch.changed) refresh();
    };
  }

  var chart = null;
  function drawChart() {
    var el = document.getElementById("chart");
    var data = document.getElementById("chart-data");
    if (!el || !data || !window.uPlot) return;
    var parsed = JSON.parse(data.textContent);
    var names = Object.keys(parsed.series);
    var colors = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989"];
    var opts = {
      width: Math.max(280, el.clientWidth || 600),
      height: 280,
      series: [{}].concat(names.map(function (n, i) {
        return { label: n, stroke: colors[i % colors.length], width: 2, points: { show: parsed.x.length < 200 } };
      })),
      axes: [{}, {}],
    };
    if (chart) chart.destroy();
    el.innerHTML = "";
    chart = new window.uPlot(opts, [parsed.x].concat(names.map(function (n) { return parsed.series[n]; })), el);
    el.setAttribute("data-drawn", String(parsed.x.length));
  }
  window.addEventListener("resize", function () { if (chart) drawChart(); });

  document.addEventListener("DOMContentLoaded", function () {
    drawChart();
    startStream();
  });
})();
