// A small inline SVG line chart of a series of numbers.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 160;
const HEIGHT = 32;

export function sparkline(points, label) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("width", WIDTH);
  svg.setAttribute("height", HEIGHT);
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("role", "img");
  const values = points.map((point) => point.value);
  const low = Math.min(...values);
  const high = Math.max(...values);
  svg.setAttribute("aria-label", `${label}: from ${low} to ${high} over ${points.length} samples`);
  if (points.length < 2) return svg;
  const spread = high - low || 1;
  const coordinates = values.map((value, index) => {
    const x = (index / (values.length - 1)) * (WIDTH - 2) + 1;
    const y = HEIGHT - 2 - ((value - low) / spread) * (HEIGHT - 4);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", coordinates.join(" "));
  svg.append(line);
  return svg;
}
