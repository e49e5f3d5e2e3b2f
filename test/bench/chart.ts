/** The results chart, hand-written SVG: throughput against batch size, and the CDF of ask and echo latency. */

export interface ChartInput {
  readonly title: string;
  /** Folded events/s per batch size (mean of the rounds). */
  readonly throughput: readonly { batchSize: number; eventsPerSecond: number }[];
  /** The bare consumer's events/s, drawn as a reference line. */
  readonly bareEventsPerSecond: number;
  /** Sorted latency samples, ms. */
  readonly ask: readonly number[];
  readonly echo: readonly number[];
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const f = (x: number): string => (Math.round(x * 10) / 10).toString();
const compact = (x: number): string => (x >= 1_000_000 ? `${round1(x / 1_000_000)}M` : x >= 10_000 ? `${Math.round(x / 1000)}k` : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : `${Math.round(x)}`);

interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

const text = (x: number, y: number, s: string, attrs = ''): string => `<text x="${f(x)}" y="${f(y)}" ${attrs}>${esc(s)}</text>`;

const throughputPanel = (b: Box, data: ChartInput['throughput'], bare: number): string => {
  const out: string[] = [];
  const xs = data.map((p) => p.batchSize);
  const ys = [...data.map((p) => p.eventsPerSecond), bare].filter((y) => y > 0 && Number.isFinite(y));
  const lx0 = Math.log10(Math.min(1, ...xs));
  const lx1 = Math.log10(Math.max(1000, ...xs));
  const ly0 = Math.floor(Math.log10(Math.max(1, Math.min(...ys))));
  const ly1 = Math.ceil(Math.log10(Math.max(10, ...ys)) + 0.05);
  const px = (x: number): number => b.x + ((Math.log10(x) - lx0) / (lx1 - lx0)) * b.w;
  const py = (y: number): number => b.y + b.h - ((Math.log10(Math.max(y, 10 ** ly0)) - ly0) / (ly1 - ly0)) * b.h;
  out.push(`<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" fill="none" stroke="#999"/>`);
  for (let e = ly0; e <= ly1; e++) {
    const y = py(10 ** e);
    out.push(`<line x1="${b.x}" y1="${f(y)}" x2="${b.x + b.w}" y2="${f(y)}" stroke="#eee"/>`);
    out.push(text(b.x - 6, y + 4, compact(10 ** e), 'text-anchor="end" font-size="11"'));
  }
  for (const x of [1, 10, 100, 500, 1000]) {
    out.push(`<line x1="${f(px(x))}" y1="${b.y}" x2="${f(px(x))}" y2="${b.y + b.h}" stroke="#eee"/>`);
    out.push(text(px(x), b.y + b.h + 16, String(x), 'text-anchor="middle" font-size="11"'));
  }
  if (bare > 0 && Number.isFinite(bare)) {
    out.push(`<line x1="${b.x}" y1="${f(py(bare))}" x2="${b.x + b.w}" y2="${f(py(bare))}" stroke="#888" stroke-dasharray="6 4"/>`);
    out.push(text(b.x + 6, py(bare) - 6, `bare kafkajs consumer ${compact(bare)}/s`, 'font-size="11" fill="#555"'));
  }
  const pts = [...data].sort((a, c) => a.batchSize - c.batchSize).filter((p) => p.eventsPerSecond > 0);
  out.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${pts.map((p) => `${f(px(p.batchSize))},${f(py(p.eventsPerSecond))}`).join(' ')}"/>`);
  for (const p of pts) {
    out.push(`<circle cx="${f(px(p.batchSize))}" cy="${f(py(p.eventsPerSecond))}" r="4" fill="#1f77b4"/>`);
    out.push(text(px(p.batchSize) + 6, py(p.eventsPerSecond) + 14, `${compact(p.eventsPerSecond)}/s`, 'font-size="11" fill="#1f77b4"'));
  }
  out.push(text(b.x + b.w / 2, b.y - 10, 'coordinator throughput vs batchSize (log–log)', 'text-anchor="middle" font-size="13" font-weight="bold"'));
  out.push(text(b.x + b.w / 2, b.y + b.h + 34, 'batchSize', 'text-anchor="middle" font-size="12"'));
  out.push(text(b.x - 48, b.y + b.h / 2, 'events/s', `text-anchor="middle" font-size="12" transform="rotate(-90 ${b.x - 48} ${b.y + b.h / 2})"`));
  return out.join('\n');
};

const cdfPanel = (b: Box, series: readonly { name: string; color: string; samples: readonly number[] }[]): string => {
  const out: string[] = [];
  // Log scale on x: the echo lives in single milliseconds, the ask's tail in hundreds.
  const all = series.flatMap((s) => s.samples).filter((x) => x > 0);
  const hi = all.length === 0 ? 10 : Math.max(...series.map((s) => s.samples[Math.max(0, Math.ceil(s.samples.length * 0.999) - 1)] ?? 0));
  const lo = all.length === 0 ? 1 : Math.min(...all);
  const lx0 = Math.floor(Math.log10(Math.max(0.1, lo)));
  const lx1 = Math.max(lx0 + 1, Math.ceil(Math.log10(Math.max(hi, 1))));
  const px = (x: number): number => b.x + ((Math.log10(Math.min(Math.max(x, 10 ** lx0), 10 ** lx1)) - lx0) / (lx1 - lx0)) * b.w;
  const py = (q: number): number => b.y + b.h - q * b.h;
  out.push(`<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" fill="none" stroke="#999"/>`);
  for (let e = lx0; e <= lx1; e++) {
    for (const m of [1, 2, 5]) {
      const x = m * 10 ** e;
      if (x > 10 ** lx1) break;
      out.push(`<line x1="${f(px(x))}" y1="${b.y}" x2="${f(px(x))}" y2="${b.y + b.h}" stroke="${m === 1 ? '#ddd' : '#f3f3f3'}"/>`);
      out.push(text(px(x), b.y + b.h + 16, String(Number(x.toPrecision(2))), 'text-anchor="middle" font-size="11"'));
    }
  }
  for (const q of [0, 0.25, 0.5, 0.75, 0.9, 0.99]) {
    out.push(`<line x1="${b.x}" y1="${f(py(q))}" x2="${b.x + b.w}" y2="${f(py(q))}" stroke="#eee"/>`);
    out.push(text(b.x - 6, py(q) + 4, String(q), 'text-anchor="end" font-size="11"'));
  }
  series.forEach((s, k) => {
    const n = s.samples.length;
    if (n === 0) return;
    // At most ~400 steps: every sample is too many points for a chart.
    const every = Math.max(1, Math.floor(n / 400));
    const pts: string[] = [`${f(px(s.samples[0]))},${f(py(0))}`];
    for (let i = 0; i < n; i += every) pts.push(`${f(px(s.samples[i]))},${f(py((i + 1) / n))}`);
    pts.push(`${f(px(s.samples[n - 1]))},${f(py(1))}`);
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    const p99 = s.samples[Math.max(0, Math.ceil(n * 0.99) - 1)];
    out.push(`<line x1="${f(px(p99))}" y1="${b.y}" x2="${f(px(p99))}" y2="${b.y + b.h}" stroke="${s.color}" stroke-dasharray="3 3"/>`);
    out.push(text(b.x, b.y + b.h + 56 + k * 16, `${s.name}: p50 ${f(s.samples[Math.ceil(n * 0.5) - 1])} ms, p99 ${f(p99)} ms (n=${n})`, `font-size="12" fill="${s.color}"`));
  });
  out.push(text(b.x + b.w / 2, b.y - 10, 'round-trip latency at 200 req/s (CDF; dashed: p99)', 'text-anchor="middle" font-size="13" font-weight="bold"'));
  out.push(text(b.x + b.w / 2, b.y + b.h + 34, 'ms (log scale)', 'text-anchor="middle" font-size="12"'));
  out.push(text(b.x - 40, b.y + b.h / 2, 'fraction ≤ x', `text-anchor="middle" font-size="12" transform="rotate(-90 ${b.x - 40} ${b.y + b.h / 2})"`));
  return out.join('\n');
};

export const renderChart = (c: ChartInput): string => {
  const W = 1040;
  const H = 480;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    text(W / 2, 22, c.title, 'text-anchor="middle" font-size="14"'),
    throughputPanel({ x: 80, y: 60, w: 390, h: 320 }, c.throughput, c.bareEventsPerSecond),
    cdfPanel({ x: 600, y: 60, w: 410, h: 320 }, [
      { name: 'client.ask() via coordinator', color: '#d62728', samples: c.ask },
      { name: 'bare kafkajs echo', color: '#555555', samples: c.echo },
    ]),
    '</svg>',
    '',
  ].join('\n');
};
