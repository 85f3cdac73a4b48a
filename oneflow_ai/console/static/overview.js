// The overview page's charts (templates/overview.html), drawn with the vendored Chart.js from the JSON the page
// carries in <script type="application/json" id="overview-data"> (the CSP allows no inline script).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var source = document.getElementById("overview-data");
  if (!source || typeof window.Chart === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var palette = ["#2d5bd3", "#e07a1f", "#2a9d8f", "#b42318", "#7a5af8", "#c4a000", "#0e7490", "#be185d", "#4d7c0f", "#64748b", "#94a3b8"];
  var common = { responsive: true, maintainAspectRatio: false, animation: false };

  function stacked(id, values) {
    var canvas = document.getElementById(id);
    if (!canvas) {
      return;
    }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.over_time.labels,
        datasets: data.over_time.series.map(function (s, i) {
          return { label: s.label, data: s[values], backgroundColor: palette[i % palette.length], stack: "all" };
        })
      },
      options: Object.assign({}, common, {
        scales: { x: { stacked: true, ticks: { maxRotation: 0, autoSkip: true } }, y: { stacked: true, beginAtZero: true } },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
      })
    });
  }

  function bars(name) {
    var canvas = document.getElementById("chart-" + name);
    var chart = data.bars[name];
    if (!canvas || !chart) {
      return;
    }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: [{ label: "credits", data: chart.credits, backgroundColor: palette[0] }]
      },
      options: Object.assign({}, common, {
        indexAxis: "y",
        scales: { x: { beginAtZero: true } },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              afterLabel: function (item) {
                return chart.requests[item.dataIndex] + " requests";
              }
            }
          }
        }
      })
    });
  }

  stacked("chart-requests-over-time", "requests");
  stacked("chart-credits-over-time", "credits");
  Object.keys(data.bars).forEach(bars);
  var latency = document.getElementById("chart-latency");
  if (latency) {
    new window.Chart(latency, {
      type: "bar",
      data: { labels: data.latency.labels, datasets: [{ label: "calls", data: data.latency.counts, backgroundColor: palette[2] }] },
      options: Object.assign({}, common, { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } })
    });
  }

  // The range chooser: the day inputs count only for a custom range.
  var range = document.getElementById("range");
  if (range) {
    range.addEventListener("change", function () {
      var custom = range.value === "custom";
      ["start-day", "end-day"].forEach(function (id) {
        var input = document.getElementById(id);
        if (input) {
          input.disabled = !custom;
        }
      });
      if (!custom) {
        range.form.submit();
      }
    });
  }
});
