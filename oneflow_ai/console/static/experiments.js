// An experiment's comparison charts (templates/experiment.html), drawn with the vendored Chart.js from the JSON the
// page carries in <script type="application/json" id="experiment-data"> (the CSP allows no inline script).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var source = document.getElementById("experiment-data");
  if (!source || typeof window.Chart === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var options = { responsive: true, maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true } } };

  function chart(id, datasets) {
    var canvas = document.getElementById(id);
    if (canvas) {
      new window.Chart(canvas, { type: "bar", data: { labels: data.labels, datasets: datasets }, options: options });
    }
  }

  chart("chart-credits", [{ label: "credits", data: data.credits, backgroundColor: "#2d5bd3" }]);
  chart("chart-latency", [
    { label: "mean", data: data.mean, backgroundColor: "#2a9d8f" },
    { label: "p95", data: data.p95, backgroundColor: "#e07a1f" }
  ]);
  chart("chart-quality", [
    { label: "error rate", data: data.error_rate, backgroundColor: "#b42318" },
    { label: "mean score", data: data.score, backgroundColor: "#7a5af8" }
  ]);
});
