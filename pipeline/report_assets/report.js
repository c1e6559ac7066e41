// newsmon report: draws the charts from #report-data as SVG and applies the topic/date filter.
// No library and no network: this file is inlined into the page.
(function () {
  "use strict";
  var body = document.body;
  window.addEventListener("error", function () {
    body.dataset.jsErrors = String(Number(body.dataset.jsErrors || 0) + 1);
  });
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var DAY = 86400000;
  // Okabe-Ito palette: tells colours apart with the common colour-vision deficiencies
  var STANCE = { support: "#0072B2", oppose: "#D55E00", neutral: "#8c8c8c" };
  var SERIES = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
  var STATUS = { ok: "#009E73", not_modified: "#009E73", silent: "#E69F00", failing: "#D55E00",
                 unhealthy: "#D55E00" };

  function el(parent, name, attrs, text) {
    var node = document.createElementNS(NS, name);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function day(s) { return s ? Date.UTC(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10)) : NaN; }
  function iso(t) { return new Date(t).toISOString().slice(0, 10); }
  function fit(text, px) {                       // truncate to the room a label has (about 6.5 px a character)
    var max = Math.max(3, Math.floor(px / 6.5));
    return text.length > max ? text.slice(0, max - 1) + "\u2026" : text;
  }
  function filter() {
    return { topic: document.getElementById("f-topic").value,
             from: day(document.getElementById("f-from").value),
             to: day(document.getElementById("f-to").value) };
  }
  function inRange(f, a, b) {               // does [a, b] (days) overlap the filter's range?
    return !((!isNaN(f.to) && a > f.to) || (!isNaN(f.from) && b < f.from));
  }
  function frame(svg, height) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var width = Math.max(640, svg.parentNode.clientWidth || 960);
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    return width;
  }
  function empty(svg, message) {
    var w = frame(svg, 60);
    el(svg, "text", { x: w / 2, y: 34, "text-anchor": "middle", "class": "empty-note" }, message);
    return 0;
  }
  function timeAxis(svg, x, t0, t1, top, bottom) {
    var g = el(svg, "g", { "class": "axis" });
    var px = x(t1) - x(t0);
    var span = Math.max(1, (t1 - t0) / DAY);
    var want = Math.max(1, Math.floor(px / 90));                 // labels at least 90 px apart: no overlap
    var steps = [1, 2, 7, 14, 30, 61, 91, 182, 365, 730];
    var step = steps[steps.length - 1];
    for (var i = 0; i < steps.length; i++) if (span / steps[i] <= want) { step = steps[i]; break; }
    var width = Number(svg.getAttribute("width")), LABEL = 66, lastRight = -Infinity;
    for (var t = t0; t <= t1; t += step * DAY) {
      var at = x(t);                           // a label near an edge is anchored inside the chart
      var anchor = at > width - 40 ? "end" : at < 40 ? "start" : "middle";
      var left = anchor === "end" ? at - LABEL : anchor === "start" ? at : at - LABEL / 2;
      el(g, "line", { x1: at, x2: at, y1: top, y2: bottom, "class": "grid" });
      if (left < lastRight + 8) continue;      // never two labels on top of each other
      el(g, "text", { x: at, y: bottom + 14, "text-anchor": anchor }, iso(t));
      lastRight = left + LABEL;
    }
  }
  function extent(f, days) {
    var lo = isNaN(f.from) ? Math.min.apply(null, days) : f.from;
    var hi = isNaN(f.to) ? Math.max.apply(null, days) : f.to;
    return [lo, Math.max(hi, lo + DAY)];
  }

  function drawStance(svg, f) {
    var rows = DATA.stance.filter(function (r) {
      return (!f.topic || r.topic === f.topic) && inRange(f, day(r.started_at), day(r.ended_at));
    });
    if (!rows.length) return empty(svg, "No stance periods for this filter.");
    var keys = [], byKey = {};
    rows.forEach(function (r) {
      var k = r.actor_id + "|" + r.topic;
      if (!byKey[k]) { byKey[k] = []; keys.push(k); }
      byKey[k].push(r);
    });
    var rowH = 24, top = 10, labelW = 230;
    var height = top + keys.length * rowH + 30;
    var width = frame(svg, height);
    var days = rows.map(function (r) { return day(r.started_at); })
                   .concat(rows.map(function (r) { return day(r.ended_at) + DAY; }));
    var ext = extent(f, days), t0 = ext[0], t1 = ext[1];
    var x = function (t) { return labelW + (Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0) * (width - labelW - 16); };
    timeAxis(svg, x, t0, t1, top, top + keys.length * rowH);
    var marks = 0;
    keys.forEach(function (k, i) {
      var y = top + i * rowH, first = byKey[k][0];
      var label = (first.actor_name || first.actor_id) + " \u00b7 " + first.topic;
      el(el(svg, "text", { x: labelW - 8, y: y + 16, "text-anchor": "end" }, fit(label, labelW - 12)), "title", {}, label);
      byKey[k].forEach(function (r) {
        var a = x(day(r.started_at)), b = x(day(r.ended_at) + DAY);
        var band = el(svg, "rect", { x: a, y: y + 4, width: Math.max(3, b - a), height: rowH - 8, rx: 2,
                                     fill: STANCE[r.stance] || "#8c8c8c", "class": "band" });
        el(band, "title", {}, r.stance + " from " + r.started_at.slice(0, 10) + " to " + r.ended_at.slice(0, 10) +
           ": " + r.evidence_count + " sentence(s), " + r.sources + " source(s)");
        marks++;
        if (r.period > 1) {                      // a change: a diamond that links to its evidence row
          var link = el(svg, "a", { href: "#ev-" + DATA.stance.indexOf(r), "class": "change" });
          el(link, "path", { d: "M" + a + " " + (y + 1) + " l5 11 l-5 11 l-5 -11 z", fill: "#000" });
          el(link, "title", {}, "change to " + r.stance + " on " + r.started_at.slice(0, 10) + ": see evidence");
        }
      });
    });
    setLegend(svg, [["support", STANCE.support], ["oppose", STANCE.oppose], ["neutral or mixed", STANCE.neutral],
                    ["\u25c6 change (links to its evidence)", null]]);
    return marks;
  }

  function drawVolume(svg, f) {
    var rows = DATA.volume.filter(function (r) {
      return (!f.topic || r.topic === f.topic) && inRange(f, day(r.day), day(r.day));
    });
    if (!rows.length) return empty(svg, "No topic articles for this filter.");
    var topics = DATA.topics.filter(function (t) { return !f.topic || t === f.topic; });
    var height = 240, top = 12, left = 48, bottom = height - 30;
    var width = frame(svg, height);
    var ext = extent(f, rows.map(function (r) { return day(r.day); })), t0 = ext[0], t1 = ext[1];
    var max = Math.max.apply(null, rows.map(function (r) { return r.stories; }).concat([1]));
    var x = function (t) { return left + (t - t0) / (t1 - t0) * (width - left - 16); };
    var y = function (v) { return bottom - v / max * (bottom - top); };
    timeAxis(svg, x, t0, t1, top, bottom);
    var ticks = Math.min(max, 4);
    for (var i = 0; i <= ticks; i++) {
      var v = Math.round(max * i / ticks);
      el(svg, "text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, String(v));
    }
    var spiked = {};
    DATA.spikes.forEach(function (s) { spiked[s.topic + "|" + s.day] = s; });
    var marks = 0, legend = [];
    topics.forEach(function (t, i) {
      var colour = SERIES[i % SERIES.length];
      var pts = rows.filter(function (r) { return r.topic === t; });
      if (!pts.length) return;
      legend.push([t, colour]);
      el(svg, "polyline", { points: pts.map(function (r) { return x(day(r.day)) + "," + y(r.stories); }).join(" "),
                            fill: "none", stroke: colour, "stroke-width": 2, "class": "series" });
      pts.forEach(function (r) {
        var s = spiked[t + "|" + r.day];
        var dot = el(svg, "circle", { cx: x(day(r.day)), cy: y(r.stories), r: s ? 7 : 3,
                                      fill: s ? "none" : colour, stroke: colour, "stroke-width": s ? 3 : 1 });
        el(dot, "title", {}, t + " " + r.day + ": " + r.stories + " stories" + (s ? " (volume spike alert)" : ""));
        marks++;
      });
    });
    setLegend(svg, legend.concat([["circled: volume-spike alert", null]]));
    return marks;
  }

  function drawActors(svg, f) {
    var rows = DATA.actors.filter(function (a) {
      var topics = a.topics && a.topics.length ? a.topics : [a.first_topic];
      return (!f.topic || topics.indexOf(f.topic) >= 0) &&
             inRange(f, day(a.first_topic_seen_at), day(a.first_topic_seen_at));
    }).slice(0, 30);
    if (!rows.length) return empty(svg, "No actor entered the story in this filter.");
    var rowH = 20, top = 10, labelW = 230;
    var height = top + rows.length * rowH + 30;
    var width = frame(svg, height);
    var ext = extent(f, rows.map(function (a) { return day(a.first_topic_seen_at); })), t0 = ext[0], t1 = ext[1];
    var x = function (t) { return labelW + 14 + (t - t0) / (t1 - t0) * (width - labelW - 38); };
    timeAxis(svg, x, t0, t1, top, top + rows.length * rowH);
    rows.forEach(function (a, i) {
      var y = top + i * rowH + rowH / 2;
      var label = a.actor_name + (a.is_known ? "" : " (candidate)");
      el(el(svg, "text", { x: labelW - 8, y: y + 4, "text-anchor": "end" }, fit(label, labelW - 12)), "title", {}, label);
      var dot = el(svg, "circle", { cx: x(day(a.first_topic_seen_at)), cy: y, r: 5 + Math.min(a.topic_sources, 6),
                                    fill: a.is_known ? "#0072B2" : "#E69F00", "fill-opacity": 0.85 });
      el(dot, "title", {}, a.actor_name + ": first in topic context " + a.first_topic_seen_at.slice(0, 10) + " in " +
         a.first_topic_source + "; " + a.topic_sources + " source(s), " + a.topic_sentences + " sentence(s)");
    });
    setLegend(svg, [["candidate (not in the registry)", "#E69F00"], ["registered actor", "#0072B2"],
                    ["bigger: more sources", null]]);
    return rows.length;
  }

  function drawSources(svg, f) {
    var rows = DATA.sources.filter(function (s) { return !f.topic || s.main_topic === f.topic || s.silent; });
    rows = rows.slice().sort(function (a, b) {
      return (b.silent - a.silent) || (b.items_per_day - a.items_per_day) || (a.feed < b.feed ? -1 : 1);
    }).slice(0, 40);
    if (!rows.length) return empty(svg, "No feeds for this filter.");
    var rowH = 20, top = 8, labelW = 230;
    var height = top + rows.length * rowH + 26;
    var width = frame(svg, height);
    var max = Math.max.apply(null, rows.map(function (s) { return s.items_per_day || 0; }).concat([0.1]));
    var x = function (v) { return labelW + v / max * (width - labelW - 70); };
    rows.forEach(function (s, i) {
      var y = top + i * rowH, state = s.silent ? "silent" : s.status;
      el(el(svg, "text", { x: labelW - 8, y: y + 14, "text-anchor": "end" }, fit(s.feed, labelW - 12)), "title", {}, s.feed);
      var bar = el(svg, "rect", { x: labelW, y: y + 3, width: Math.max(2, x(s.items_per_day || 0) - labelW),
                                  height: rowH - 6, fill: STATUS[state] || "#8c8c8c" });
      el(bar, "title", {}, s.feed + ": " + state + ", " + s.items_per_day + " items/day" +
         (s.last_error ? "; last error: " + s.last_error : ""));
      el(svg, "text", { x: x(s.items_per_day || 0) + 6, y: y + 14 }, (s.items_per_day || 0) + "/day \u00b7 " + state);
    });
    setLegend(svg, [["healthy", STATUS.ok], ["silent", STATUS.silent], ["failing", STATUS.failing]]);
    return rows.length;
  }

  function setLegend(svg, items) {
    var box = svg.parentNode.querySelector(".legend");
    if (!box) {
      box = document.createElement("div");
      box.className = "legend";
      svg.parentNode.insertBefore(box, svg);
    }
    box.textContent = "";
    items.forEach(function (item) {
      var span = document.createElement("span");
      if (item[1]) {
        var swatch = document.createElement("i");
        swatch.style.background = item[1];
        span.appendChild(swatch);
      }
      span.appendChild(document.createTextNode(item[0]));
      box.appendChild(span);
    });
  }

  function filterTables(f) {
    var rows = document.querySelectorAll("tr[data-topic]");
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], topics = (r.dataset.topic || "").split(" ");
      var a = day(r.dataset.from), b = day(r.dataset.to);
      var show = (!f.topic || topics.indexOf(f.topic) >= 0 || !r.dataset.topic) &&
                 (isNaN(a) || inRange(f, a, isNaN(b) ? a : b));
      r.classList.toggle("hidden", !show);
    }
  }

  var CHARTS = { stance: drawStance, volume: drawVolume, actors: drawActors, sources: drawSources };
  function draw() {
    var f = filter(), drawn = 0;
    for (var id in CHARTS) {
      var svg = document.querySelector('[data-chart="' + id + '"] svg');
      CHARTS[id](svg, f);
      if (svg.childNodes.length) drawn++;
    }
    filterTables(f);
    body.dataset.chartsDrawn = String(drawn);
  }
  // the filter lives in the address too (#topic=peacekeeping&from=2026-02-10&to=...): links share a view
  var FIELDS = { topic: "f-topic", from: "f-from", to: "f-to" };
  function fromHash() {
    location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
      var kv = pair.split("="), id = FIELDS[kv[0]];
      if (id && kv[1] !== undefined) document.getElementById(id).value = decodeURIComponent(kv[1]);
    });
  }
  function toHash() {
    var parts = [];
    for (var k in FIELDS) {
      var input = document.getElementById(FIELDS[k]);
      if (input.value !== input.defaultValue && !(input.tagName === "SELECT" && !input.value)) {
        parts.push(k + "=" + encodeURIComponent(input.value));
      }
    }
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname);
  }
  ["f-topic", "f-from", "f-to"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", function () { toHash(); draw(); });
  });
  document.getElementById("f-reset").addEventListener("click", function () {
    document.getElementById("filter").reset();
    toHash();
    draw();
  });
  var pending;
  window.addEventListener("resize", function () { clearTimeout(pending); pending = setTimeout(draw, 150); });
  window.addEventListener("hashchange", function () { fromHash(); draw(); });
  fromHash();
  draw();
  body.dataset.ready = "1";
})();
