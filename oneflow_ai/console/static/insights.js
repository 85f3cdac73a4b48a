// The cost insights page's chart (templates/insights.html), drawn with the vendored Chart.js from the JSON the page
// carries in <script type="application/json" id="insights-data"> (the CSP allows no inline script).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var source = document.getElementById("insights-data");
  var canvas = document.getElementById("chart-savings");
  if (!source || !canvas || typeof window.Chart === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  new window.Chart(canvas, {
    type: "bar",
    data: { labels: data.labels, datasets: [{ label: "credits per 30 days", data: data.saved, backgroundColor: "#2a9d8f" }] },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false, indexAxis: "y",
      scales: { x: { beginAtZero: true } }, plugins: { legend: { display: false } }
    }
  });
});
