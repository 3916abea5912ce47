// Draws the report's charts (report_html.go writes their data) with uPlot:
// wall-clock time in the policy's time zone, disruption windows and
// scheduled minimums shaded, drag to zoom (the run-long charts zoom
// together), hover for values. Each drawn chart's element gets
// data-points, the number of values it shows, which the browser test reads.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const tz = data.tz;
  const shadeFill = {
    disruption: "rgba(70,130,220,0.18)",
    minimum: "rgba(240,170,30,0.22)",
    incident: "rgba(220,40,40,0.15)",
  };

  // shade fills each span behind the series, clipped to the plot area.
  function shade(spans) {
    return {
      hooks: {
        drawClear: [(u) => {
          const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
          const left = u.bbox.left, right = left + u.bbox.width;
          ctx.save();
          for (const s of spans) {
            const x0 = Math.max(left, u.valToPos(s.from, "x", true));
            const x1 = Math.min(right, u.valToPos(s.to, "x", true));
            if (x1 <= x0) continue;
            ctx.fillStyle = shadeFill[s.kind] || shadeFill.incident;
            ctx.fillRect(x0, top, x1 - x0, h);
          }
          ctx.restore();
        }],
      },
    };
  }

  // The drawn charts, for a reader's console and the browser test.
  const drawn = (window.headroomReport = { charts: [] }).charts;
  const synced = [];
  let syncing = false;
  function syncX(u, key) {
    if (key !== "x" || syncing) return;
    syncing = true;
    const { min, max } = u.scales.x;
    for (const o of synced) if (o !== u) o.setScale("x", { min, max });
    syncing = false;
  }

  function draw(spec, el) {
    const width = Math.max(320, el.clientWidth || 640);
    const axes = [{}, { label: spec.y, size: 60 }];
    const scales = { x: { time: true } };
    if (spec.y2) {
      axes.push({ label: spec.y2, scale: "r", side: 1, size: 60, grid: { show: false } });
      scales.r = {};
    }
    const opts = {
      title: spec.title,
      width: width,
      height: 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz),
      scales: scales,
      axes: axes,
      cursor: spec.sync ? { sync: { key: "run" } } : {},
      series: [{ label: "time" }].concat(spec.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        dash: s.dash ? [5, 3] : undefined,
        scale: s.scale || "y",
        points: { show: false },
      }))),
      bands: (spec.bands || []).map((b) => ({ series: [b.hi + 1, b.lo + 1], fill: b.color })),
      plugins: [shade(spec.shade || [])],
      hooks: spec.sync ? { setScale: [syncX] } : {},
    };
    const u = new uPlot(opts, [spec.x].concat(spec.series.map((s) => s.values)), el);
    if (spec.sync) synced.push(u);
    drawn.push(u);
    let n = 0;
    for (const s of spec.series) for (const v of s.values) if (v !== null) n++;
    el.dataset.points = String(n);
    return u;
  }

  for (const spec of data.charts) draw(spec, document.getElementById(spec.id));

  // An incident's chart is drawn when its details are first opened.
  for (const el of document.querySelectorAll(".incident-chart")) {
    const details = el.closest("details");
    const once = () => {
      if (!details.open || el.dataset.points) return;
      draw(data.incidents[Number(el.dataset.incident)], el);
    };
    details.addEventListener("toggle", once);
  }
  // A link to an incident opens it.
  function openHash() {
    const d = location.hash && document.getElementById(location.hash.slice(1));
    if (d && d.tagName === "DETAILS") d.open = true;
  }
  window.addEventListener("hashchange", openHash);
  openHash();
})();
