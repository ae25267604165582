/**
 * A hand-written SVG line chart of the scaling scenarios (no plotting dependency): for namespaces
 * per query and projects per user, latency p50/p99 (cold and warm; opa-openshift's p50 where it ran) and response bytes, both axes
 * logarithmic.
 */
import type { Scenario, ScalingPoint } from './types.js';

interface Series {
  name: string;
  color: string;
  dash?: string;
  points: Array<[number, number]>;
}

const W = 1100;
const H = 800;
const PANEL_W = 440;
const PANEL_H = 250;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) ticks.push(10 ** e);
  return ticks;
}

function fmtTick(v: number, unit: string): string {
  if (unit === 'B') {
    if (v >= 1e6) return `${v / 1e6} MB`;
    if (v >= 1e3) return `${v / 1e3} kB`;
    return `${v} B`;
  }
  if (unit === 'ms') {
    if (v >= 1000) return `${v / 1000} s`;
    if (v < 1) return `${v} ms`.replace(/^0\./, '0.');
    return `${v} ms`;
  }
  return v >= 1000 ? `${v / 1000}k` : String(v);
}

function panel(x0: number, y0: number, title: string, xLabel: string, yUnit: string, series: Series[]): string {
  const all = series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(y));
  const out: string[] = [`<g transform="translate(${x0},${y0})">`];
  out.push(`<text x="${PANEL_W / 2}" y="-12" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="0" y="0" width="${PANEL_W}" height="${PANEL_H}" fill="#fafafa" stroke="#999"/>`);
  if (all.length === 0) {
    out.push(`<text x="${PANEL_W / 2}" y="${PANEL_H / 2}" text-anchor="middle" fill="#888">no data</text></g>`);
    return out.join('\n');
  }
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const xMin = 10 ** Math.floor(Math.log10(Math.min(...xs)));
  const xMax = 10 ** Math.ceil(Math.log10(Math.max(...xs)));
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  const sx = (x: number) => (xMax === xMin ? PANEL_W / 2 : ((Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * PANEL_W);
  const sy = (y: number) => (yMax === yMin ? PANEL_H / 2 : PANEL_H - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * PANEL_H);
  for (const t of logTicks(xMin, xMax)) {
    out.push(`<line x1="${sx(t)}" y1="0" x2="${sx(t)}" y2="${PANEL_H}" stroke="#ddd"/>`);
    out.push(`<text x="${sx(t)}" y="${PANEL_H + 16}" text-anchor="middle" font-size="11">${fmtTick(t, '')}</text>`);
  }
  for (const t of logTicks(yMin, yMax)) {
    out.push(`<line x1="0" y1="${sy(t)}" x2="${PANEL_W}" y2="${sy(t)}" stroke="#ddd"/>`);
    out.push(`<text x="-6" y="${sy(t) + 4}" text-anchor="end" font-size="11">${fmtTick(t, yUnit)}</text>`);
  }
  out.push(`<text x="${PANEL_W / 2}" y="${PANEL_H + 34}" text-anchor="middle" font-size="12">${esc(xLabel)} (log)</text>`);
  let legendX = 0;
  let legendY = PANEL_H + 52;
  for (const s of series) {
    const pts = s.points.filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(y));
    if (pts.length === 0) continue;
    const d = pts.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    for (const [x, y] of pts) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    // Wrap the legend within the panel's width.
    if (legendX > 0 && legendX + 30 + s.name.length * 6 > PANEL_W + 40) {
      legendX = 0;
      legendY += 15;
    }
    out.push(
      `<line x1="${legendX}" y1="${legendY - 4}" x2="${legendX + 20}" y2="${legendY - 4}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
    );
    out.push(`<text x="${legendX + 24}" y="${legendY}" font-size="11">${esc(s.name)}</text>`);
    legendX += 30 + s.name.length * 6;
  }
  out.push('</g>');
  return out.join('\n');
}

function latencySeries(points: ScalingPoint[]): Series[] {
  const pick = (kind: 'cold' | 'warm', q: 'p50' | 'p99', peer = false) =>
    points.flatMap((p) => {
      const v = (peer ? p.peer?.[kind] : p[kind])?.load?.latencyMs[q];
      return v !== undefined && Number.isFinite(v) ? [[p.size, v] as [number, number]] : [];
    });
  return [
    { name: 'ours cold p50 (new token each)', color: '#1f77b4', points: pick('cold', 'p50') },
    { name: 'cold p99', color: '#1f77b4', dash: '6 4', points: pick('cold', 'p99') },
    { name: 'ours warm p50 (hit)', color: '#d62728', points: pick('warm', 'p50') },
    { name: 'warm p99', color: '#d62728', dash: '6 4', points: pick('warm', 'p99') },
    { name: 'opa-openshift cold p50', color: '#9467bd', dash: '2 3', points: pick('cold', 'p50', true) },
    { name: 'opa-openshift warm p50', color: '#ff7f0e', dash: '2 3', points: pick('warm', 'p50', true) },
  ];
}

function bytesSeries(points: ScalingPoint[]): Series[] {
  return [{ name: 'response body bytes', color: '#2ca02c', points: points.filter((p) => p.responseBytes > 0).map((p) => [p.size, p.responseBytes]) }];
}

export function scalingSvg(namespaces: Scenario | undefined, projects: Scenario | undefined, caption: string): string {
  const ns = namespaces?.scaling?.points ?? [];
  const pr = projects?.scaling?.points ?? [];
  const left = 80;
  const right = left + PANEL_W + 110;
  const body = [
    panel(left, 60, 'Latency vs namespaces per query (namespaced user)', 'namespaces in the query', 'ms', latencySeries(ns)),
    panel(right, 60, 'Latency vs projects per user (cluster-wide reader)', 'projects the user can list', 'ms', latencySeries(pr)),
    panel(left, 60 + PANEL_H + 120, 'Response size vs namespaces per query', 'namespaces in the query', 'B', bytesSeries(ns)),
    panel(right, 60 + PANEL_H + 120, 'Response size vs projects per user', 'projects the user can list', 'B', bytesSeries(pr)),
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">lokistack-authz (ours) and opa-openshift, openshift-logging: scaling</text>`,
    ...body,
    `<text x="${left}" y="${H - 14}" font-size="11" fill="#555">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
