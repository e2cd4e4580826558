// The throughput chart (uPlot, vendored; loaded before this module as the global `uPlot`).

import { formatNumber } from "./dom.js";

const HEIGHT = 220;

function options(width) {
  return {
    width,
    height: HEIGHT,
    // Series names only: the values under the cursor made the legend wrap at this width.
    legend: { live: false },
    scales: { x: { time: true }, rows: { range: (u, min, max) => [0, Math.max(10, max)] },
      imports: { range: (u, min, max) => [0, Math.max(5, max)] } },
    series: [
      {},
      { label: "Rows per minute", scale: "rows", stroke: "#1d4ed8", fill: "rgba(29, 78, 216, 0.12)", width: 2 },
      { label: "Imports succeeded", scale: "imports", stroke: "#15803d", width: 2 },
      { label: "Imports failed", scale: "imports", stroke: "#b91c1c", width: 2, dash: [6, 4] },
    ],
    axes: [
      {},
      { scale: "rows", label: "rows / min", size: 60 },
      { scale: "imports", label: "imports / min", side: 1, grid: { show: false } },
    ],
  };
}

export function throughputChart(container, summary) {
  let plot = null;
  const width = () => Math.max(320, container.clientWidth);
  window.addEventListener("resize", () => plot?.setSize({ width: width(), height: HEIGHT }));
  return function update(minutes) {
    const data = [
      minutes.map((m) => Date.parse(m.minute) / 1000),
      minutes.map((m) => m.rows),
      minutes.map((m) => m.succeeded),
      minutes.map((m) => m.failed),
    ];
    if (plot === null) plot = new window.uPlot(options(width()), data, container);
    else plot.setData(data);
    const total = (series) => formatNumber(series.reduce((a, b) => a + b, 0));
    summary.textContent = `In the last hour: ${total(data[1])} rows processed; `
      + `imports succeeded: ${total(data[2])}, failed: ${total(data[3])}.`;
  };
}
