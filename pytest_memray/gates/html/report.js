/* The pytest-memray HTML report: builds the tables and charts from the JSON in #memray-data.
 * Every text from the data goes in with textContent or as a chart label, never as HTML. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("memray-data").textContent);
  var tests = data.tests;
  var COLORS = ["#2f6fbd", "#d1495b", "#2a9d8f", "#e9a23b", "#6a4c93", "#577590", "#8d6e63", "#43aa8b",
    "#f3722c", "#4d908e"];
  var UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  /* Tick steps for byte axes: 1, 2, 4 ... 512 times each power of 1024, so ticks fall on round
   * binary sizes (2.0MiB, 4.0MiB) rather than on decimal ones. */
  var SIZE_STEPS = [];
  for (var power = 0; power < 6; power += 1) {
    for (var step = 1; step < 1024; step *= 2) { SIZE_STEPS.push(step * Math.pow(1024, power)); }
  }

  function fmtSize(bytes) {
    if (bytes === null || bytes === undefined) { return ""; }
    var value = Math.abs(bytes);
    var unit = 0;
    while (value >= 1024 && unit < UNITS.length - 1) { value /= 1024; unit += 1; }
    return (bytes < 0 ? "-" : "") + value.toFixed(1) + UNITS[unit];
  }

  function fmtSigned(bytes) {
    if (bytes === null || bytes === undefined) { return ""; }
    if (bytes === 0) { return "0 B"; }
    return (bytes > 0 ? "+" : "-") + fmtSize(Math.abs(bytes));
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; }
      else if (key === "className") { node.className = attrs[key]; }
      else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function text(id, value) { document.getElementById(id).textContent = value; }

  function remarks(test) {
    var parts = [];
    if (test.not_measured !== null) { parts.push("not measured: " + test.not_measured); }
    test.notes.forEach(function (note) { parts.push(note); });
    return parts.join("; ");
  }
  tests.forEach(function (test) { test.remarks = remarks(test); });

  /* -- header ------------------------------------------------------------------------------ */

  function header() {
    text("title", data.title);
    var backend = data.backend;
    var info = "Backend: " + backend.name + " " + backend.version +
      (backend.native_allocations ? " (sees native allocations)" : " (Python allocations only)");
    if (backend.fallback_reason) { info += "; auto chose it because " + backend.fallback_reason; }
    if (data.python) { info += ". Python: " + data.python; }
    if (data.plugin_version) { info += ". pytest-memray " + data.plugin_version; }
    text("run-info", info + ".");
    var measured = tests.filter(function (t) { return t.peak !== null; }).length;
    var failed = tests.filter(function (t) { return t.outcome === "failed" || t.outcome === "error"; }).length;
    var counts = tests.length + " tests: " + measured + " measured, " + (tests.length - measured) +
      " not measured, " + failed + " failed or error.";
    var line = document.getElementById("counts");
    line.textContent = counts;
    if (tests.length - measured > 0) { line.className = "nm"; }
    text("footer", "Written by pytest-memray from " + data.path + ". Charts drawn with uPlot.");
  }

  /* -- charts -------------------------------------------------------------------------------- */

  function chartWidth(node) {
    return Math.max(320, Math.floor(node.getBoundingClientRect().width || 900));
  }

  function shortName(nodeid, max) {
    if (nodeid.length <= max) { return nodeid; }
    var tail = nodeid.split("::").slice(1).join("::") || nodeid;
    if (tail.length <= max) { return tail; }
    return "\u2026" + tail.slice(tail.length - max + 1);
  }

  function peaksChart() {
    var node = document.getElementById("peaks-chart");
    var ranked = tests.filter(function (t) { return t.peak !== null; })
      .sort(function (a, b) { return b.peak - a.peak || (a.nodeid < b.nodeid ? -1 : 1); })
      .slice(0, data.chart_tests);
    if (!ranked.length) {
      node.appendChild(el("p", { className: "nm", text: "No test was measured, so there is nothing to chart." }));
      return;
    }
    var xs = ranked.map(function (_, i) { return i; });
    var names = ranked.map(function (t) { return t.nodeid; });
    var peaks = ranked.map(function (t) { return t.peak; });
    var max = Math.max.apply(null, peaks) || 1;
    var opts = {
      width: chartWidth(node),
      height: 60 + 26 * ranked.length,
      scales: {
        x: { time: false, ori: 1, dir: -1, range: [-0.5, ranked.length - 0.5] },
        y: { ori: 0, dir: 1, range: [0, max * 1.08] }
      },
      axes: [
        {
          scale: "x", side: 3, size: 300, gap: 6, grid: { show: false },
          splits: function () { return xs; },
          values: function (u, splits) { return splits.map(function (i) { return shortName(names[i] || "", 44); }); }
        },
        {
          scale: "y", side: 0, size: 36, space: 70, incrs: SIZE_STEPS,
          values: function (u, splits) { return splits.map(fmtSize); }
        }
      ],
      series: [
        { label: "test", value: function (u, i) { return i === null || names[i] === undefined ? "" : names[i]; } },
        {
          label: "peak", stroke: COLORS[0], fill: "rgba(47,111,189,0.55)", width: 1,
          paths: uPlot.paths.bars({ size: [0.7, 24] }), points: { show: false },
          value: function (u, v) { return v === null ? "" : fmtSize(v); }
        }
      ],
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      legend: { show: true }
    };
    node.chart = new uPlot(opts, [xs, peaks], node);
  }

  function trendChart(history) {
    var node = document.getElementById("trend-chart");
    var runs = history.runs.map(function (r) { return r.label; });
    var xs = runs.map(function (_, i) { return i; });
    var drawn = history.tests.filter(function (t) {
      return t.peaks.some(function (p) { return p !== null; });
    }).slice(0, data.trend_tests);
    if (!drawn.length) {
      node.appendChild(el("p", { className: "nm", text: "No test has a measured peak in these runs." }));
      return;
    }
    var series = [{ label: "run", value: function (u, i) { return i === null || runs[i] === undefined ? "" : runs[i]; } }];
    drawn.forEach(function (t, i) {
      series.push({
        label: shortName(t.nodeid, 50), stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false,
        points: { show: true, size: 6 },
        value: function (u, v) { return v === null ? "\u2014" : fmtSize(v); }
      });
    });
    var opts = {
      width: chartWidth(node), height: 320,
      scales: { x: { time: false, range: [-0.2, Math.max(runs.length - 0.8, 0.2)] }, y: { range: function (u, min, max) { return [0, (max || 1) * 1.1]; } } },
      axes: [
        { splits: function () { return xs; }, values: function (u, splits) { return splits.map(function (i) { return runs[i] === undefined ? "" : runs[i]; }); } },
        { size: 70, space: 40, incrs: SIZE_STEPS, values: function (u, splits) { return splits.map(fmtSize); } }
      ],
      series: series,
      legend: { show: true, live: true }
    };
    var columns = [xs].concat(drawn.map(function (t) { return t.peaks.slice(); }));
    node.chart = new uPlot(opts, columns, node);
  }

  /* -- the diff against a baseline ----------------------------------------------------------- */

  function simpleTable(headers, rows, numeric) {
    var table = el("table", { className: "data" });
    var head = el("tr");
    headers.forEach(function (h, i) { head.appendChild(el("th", { className: numeric[i] ? "num" : "", text: h, scope: "col" })); });
    table.appendChild(el("thead", {}, [head]));
    var body = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (cell, i) {
        var td = el("td", { className: numeric[i] ? "num" : (i === 0 ? "test mono" : "") });
        if (typeof cell === "string") { td.textContent = cell; } else { td.appendChild(cell); }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    return el("div", { className: "scroll" }, [table]);
  }

  function percent(change) {
    if (change.change_percent === null) { return "new allocation"; }
    return (change.change_percent > 0 ? "+" : "") + change.change_percent.toFixed(1) + "%";
  }

  function diff(comparison) {
    document.getElementById("diff-section").hidden = false;
    var grew = comparison.grew;
    var shrank = comparison.improved;
    var summary = document.getElementById("diff-summary");
    summary.textContent = "Baseline " + comparison.base + ", allowed increase " + comparison.allowance +
      ", noise floor " + comparison.noise_floor + ": compared " + comparison.compared + " of the " +
      comparison.head_measured + " measured tests; " + comparison.grew_past_allowance + " grew past the allowance, " +
      grew.length + " grew, " + shrank.length + " improved, " + comparison.within_noise +
      " within the noise floor, " + comparison.new.length + " new, " + comparison.gone.length + " gone, " +
      comparison.not_compared.length + " not compared." +
      (comparison.problems.length ? " Could not judge: " + comparison.problems.join("; ") + "." : "");
    summary.className = comparison.grew_past_allowance || comparison.problems.length ? "bad" : "";
    var box = document.getElementById("diff-tables");
    function changeRows(list) {
      return list.map(function (c) {
        var flag = c.over_allowance ? el("span", { className: "bad", text: fmtSigned(c.change_bytes) + " over" }) : fmtSigned(c.change_bytes);
        return [c.nodeid, fmtSize(c.old_bytes), fmtSize(c.new_bytes), flag, percent(c)];
      });
    }
    var heads = ["Test", "Baseline", "This run", "Change", "%"];
    var numeric = [false, true, true, true, true];
    box.appendChild(el("h3", { text: "Growth (" + grew.length + ")" }));
    box.appendChild(grew.length ? simpleTable(heads, changeRows(grew), numeric) : el("p", { className: "muted", text: "No peak grew." }));
    box.appendChild(el("h3", { text: "Improvements (" + shrank.length + ")" }));
    box.appendChild(shrank.length ? simpleTable(heads, changeRows(shrank), numeric) : el("p", { className: "muted", text: "No peak went down." }));
    function entries(title, list) {
      if (!list.length) { return; }
      box.appendChild(el("h3", { text: title + " (" + list.length + ")" }));
      box.appendChild(simpleTable(["Test", "Peak"], list.map(function (e) {
        return [e.nodeid, e.peak_bytes === null ? "not measured: " + e.not_measured : fmtSize(e.peak_bytes)];
      }), [false, false]));
    }
    entries("New tests", comparison.new);
    entries("Gone tests", comparison.gone);
    if (comparison.not_compared.length) {
      box.appendChild(el("h3", { text: "Not compared (" + comparison.not_compared.length + ")" }));
      box.appendChild(simpleTable(["Test", "Why"], comparison.not_compared.map(function (u) {
        var why = [];
        if (u.base !== null) { why.push("baseline: " + u.base); }
        if (u.head !== null) { why.push("this run: " + u.head); }
        return [u.nodeid, why.join("; ")];
      }), [false, false]));
    }
  }

  /* -- history table --------------------------------------------------------------------- */

  function trend(history) {
    document.getElementById("trend-section").hidden = false;
    var jumped = history.tests.filter(function (t) { return t.jump !== null; }).length;
    text("trend-summary", history.runs.length + " runs, " + history.tests.length + " tests; " + jumped +
      " jumped past " + history.allowance + " between two runs. The chart draws the first " +
      Math.min(data.trend_tests, history.tests.length) + " of the table; a gap is a run without a figure.");
    trendChart(history);
    var table = document.getElementById("trend-table");
    var head = el("tr", {}, [el("th", { text: "Test", scope: "col" })]);
    history.runs.forEach(function (run) {
      head.appendChild(el("th", { className: "num", text: run.label, title: (run.date || "") + " " + run.path, scope: "col" }));
    });
    head.appendChild(el("th", { className: "num", text: "Change", scope: "col" }));
    head.appendChild(el("th", { text: "Jumped at", scope: "col" }));
    table.appendChild(el("thead", {}, [head]));
    var body = el("tbody");
    history.tests.forEach(function (t) {
      var tr = el("tr", {}, [el("td", { className: "test mono", text: t.nodeid })]);
      t.peaks.forEach(function (peak, i) {
        var cell;
        if (peak !== null) {
          var outcome = t.outcomes[i];
          cell = el("td", { className: "num", text: fmtSize(peak) + (outcome === "passed" || outcome === "xpassed" ? "" : " (" + outcome + ")") });
        } else if (t.not_measured[i] === "not in this run") {
          cell = el("td", { className: "num muted", text: "\u2014", title: "not in this run" });
        } else {
          cell = el("td", { className: "num nm", text: "not measured", title: t.not_measured[i] || "" });
        }
        tr.appendChild(cell);
      });
      tr.appendChild(el("td", { className: "num", text: fmtSigned(t.change_bytes) }));
      var jump = "";
      if (t.jump !== null) {
        var run = history.runs[t.jump.run];
        jump = (run.commit ? run.commit.slice(0, 12) : run.label) + " (+" + fmtSize(t.jump.new_bytes - t.jump.old_bytes) + ")";
      }
      tr.appendChild(el("td", { className: t.jump ? "bad" : "", text: jump }));
      body.appendChild(tr);
    });
    table.appendChild(body);
  }

  /* -- the table of every test ------------------------------------------------------------- */

  var sortKey = "peak";
  var sortDir = -1;
  var expanded = {};
  var hasBaseline = data.comparison !== null;

  function compare(a, b) {
    var x = a[sortKey];
    var y = b[sortKey];
    var xMissing = x === null || x === undefined || x === "";
    var yMissing = y === null || y === undefined || y === "";
    if (xMissing || yMissing) {
      if (xMissing && yMissing) { return a.nodeid < b.nodeid ? -1 : (a.nodeid > b.nodeid ? 1 : 0); }
      return xMissing ? 1 : -1; /* tests without a figure go last, whichever the direction */
    }
    if (x < y) { return -sortDir; }
    if (x > y) { return sortDir; }
    return a.nodeid < b.nodeid ? -1 : (a.nodeid > b.nodeid ? 1 : 0);
  }

  function shown(test, needle, show) {
    if (needle && test.nodeid.toLowerCase().indexOf(needle) < 0) { return false; }
    switch (show) {
      case "measured": return test.peak !== null;
      case "not-measured": return test.peak === null;
      case "failed": return test.outcome === "failed" || test.outcome === "error";
      case "limited": return test.limit !== null;
      case "grew": return test.change !== null && test.change > 0;
      default: return true;
    }
  }

  function detailRow(test, columns) {
    var cell = el("td", { colspan: String(columns) });
    if (test.sites.length) {
      var table = el("table", { className: "sites mono" });
      table.appendChild(el("tr", {}, [el("th", { text: "Size" }), el("th", { text: "Allocations" }), el("th", { text: "Where" })]));
      test.sites.forEach(function (site) {
        var where = site.function + " " + site.file + (site.line !== null ? ":" + site.line : "");
        var whereCell = el("td", { text: where });
        site.stack.forEach(function (frame) { whereCell.appendChild(el("div", { className: "muted", text: "\u2190 " + frame })); });
        table.appendChild(el("tr", {}, [
          el("td", { className: "num", text: fmtSize(site.bytes) }),
          el("td", { className: "num", text: site.count === null ? "" : String(site.count) }),
          whereCell
        ]));
      });
      cell.appendChild(el("div", { text: "Top allocation sites at the peak:" }));
      cell.appendChild(table);
    } else {
      cell.appendChild(el("p", { className: "muted", text: test.peak === null ? "Not measured, so no allocation sites." : "The document lists no allocation sites for this test." }));
    }
    if (test.flamegraph) {
      cell.appendChild(el("p", {}, [el("a", { href: test.flamegraph, rel: "noopener", text: "Flamegraph of this test" })]));
    }
    if (test.capture_file) {
      cell.appendChild(el("p", { className: "muted", text: "Capture file: " + test.capture_file }));
    }
    return el("tr", { className: "detail" }, [cell]);
  }

  function renderTests() {
    var needle = document.getElementById("filter").value.trim().toLowerCase();
    var show = document.getElementById("show").value;
    var rows = tests.filter(function (t) { return shown(t, needle, show); }).sort(compare);
    var body = document.querySelector("#tests tbody");
    var columns = document.querySelectorAll("#tests thead th:not([hidden])").length;
    body.textContent = "";
    rows.forEach(function (test) {
      var toggle = el("button", { className: "toggle", type: "button", "aria-expanded": expanded[test.nodeid] ? "true" : "false", title: "allocation sites", text: expanded[test.nodeid] ? "\u2212" : "+" });
      toggle.addEventListener("click", function () {
        expanded[test.nodeid] = !expanded[test.nodeid];
        renderTests();
      });
      var testCell = el("td", { className: "test mono" }, [toggle, test.nodeid]);
      var peakCell = test.peak === null ? el("td", { className: "num nm", text: "not measured" }) : el("td", { className: "num", text: fmtSize(test.peak) });
      var headroom = el("td", { className: "num" + (test.headroom !== null && test.headroom < 0 ? " bad" : ""), text: test.headroom === null ? "" : fmtSigned(test.headroom), title: test.headroom_note || "" });
      var cells = [
        testCell,
        el("td", {}, [el("span", { className: "badge " + test.outcome, text: test.outcome })]),
        peakCell,
        el("td", { className: "num", text: fmtSize(test.limit) + (test.limit !== null && test.limit_kind === "leaks" ? " leaks" : ""), title: test.limit_note || "" }),
        headroom
      ];
      if (hasBaseline) {
        cells.push(el("td", { className: "num", text: test.baseline === null ? "" : fmtSize(test.baseline), title: test.baseline_reason || "" }));
        cells.push(el("td", { className: "num" + (test.change > 0 ? " warn" : (test.change < 0 ? " good" : "")), text: fmtSigned(test.change) }));
      }
      cells.push(el("td", { className: "num", text: test.allocations === null ? "" : String(test.allocations) }));
      cells.push(el("td", { className: test.not_measured !== null ? "nm" : "", text: test.remarks }));
      var tr = el("tr", { "data-nodeid": test.nodeid }, cells);
      body.appendChild(tr);
      if (expanded[test.nodeid]) { body.appendChild(detailRow(test, columns)); }
    });
    text("shown-count", rows.length + " of " + tests.length + " tests shown");
  }

  function headroomNote() {
    var unknown = tests.filter(function (t) { return t.limit !== null && t.limit_kind === null; }).length;
    if (!unknown) { return; }
    var note = document.getElementById("headroom-note");
    note.hidden = false;
    note.textContent = "Headroom is left empty for " + unknown + (unknown === 1 ? " test" : " tests") +
      " with a limit: the document does not say whether the limit is on the peak (limit_memory, " +
      "--memray-limit) or on what one call stack leaks (limit_leaks).";
  }

  function setupTable() {
    var heads = document.querySelectorAll("#tests thead th");
    Array.prototype.forEach.call(heads, function (th) {
      if (!hasBaseline && th.classList.contains("needs-baseline")) { th.hidden = true; }
      th.addEventListener("click", function () {
        var key = th.getAttribute("data-key");
        if (key === sortKey) { sortDir = -sortDir; }
        else { sortKey = key; sortDir = th.getAttribute("data-type") === "number" ? -1 : 1; }
        Array.prototype.forEach.call(heads, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
        renderTests();
      });
    });
    document.getElementById("filter").addEventListener("input", renderTests);
    document.getElementById("show").addEventListener("change", renderTests);
    renderTests();
  }

  header();
  headroomNote();
  setupTable();
  peaksChart();
  if (data.comparison) { diff(data.comparison); }
  if (data.history) { trend(data.history); }
}());
