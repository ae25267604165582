/** bench/results/latest.md from the report data. */
import { targetsMarkdown } from './targets.js';
import type { Report, RunStats, Scenario } from './types.js';

export const fmtMs = (v: number | undefined): string => {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
};
export const fmtBytes = (v: number | undefined): string => {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(1)} KiB`;
  return `${Math.round(v)} B`;
};
const fmtNum = (v: number | undefined, digits = 0): string =>
  v === undefined || !Number.isFinite(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const fmtRatio = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`);

function errorsCell(r: RunStats): string {
  const e = r.load?.errors;
  if (!e) return '–';
  if (e.total === 0) return '0';
  const codes = Object.entries(e.statusCodes)
    .filter(([c]) => !c.startsWith('2'))
    .map(([c, n]) => `${n}×${c}`);
  const parts = [...codes, ...(e.timeouts ? [`${e.timeouts} timeouts`] : []), ...(e.socket ? [`${e.socket} socket`] : [])];
  return `${e.total} (${parts.join(', ')})`;
}

function upstreamCell(r: RunStats): string {
  if (!r.upstream) return r.server === 'opa' || r.server === 'ours' ? 'none' : '–';
  return `${fmtNum(r.upstream.total)} (${fmtNum(r.upstream.perDecision, 2)}/decision)`;
}

/** A run's server, with its variant when the scenario has several runs of it. */
const who = (r: RunStats): string => (r.variant ? `${r.server} (${r.variant})` : r.server);

function runRow(s: Scenario, r: RunStats, label = s.title): string {
  if (r.unavailable) return `| ${label} | ${who(r)} | unavailable (see above) | | | | | | | |`;
  const l = r.load;
  return `| ${label} | ${who(r)} | ${fmtNum(l?.rps, l && l.rps < 10 ? 2 : 0)} | ${fmtMs(l?.latencyMs.p50)} | ${fmtMs(l?.latencyMs.p99)} | ${fmtMs(l?.latencyMs.max)} | ${errorsCell(r)} | ${upstreamCell(r)} | ${fmtBytes(r.memory?.peakRssBytes)} | ${r.cpu ? fmtMs(r.cpu.serverMsPerRequest) : '–'} |`;
}

function ratioLines(s: Scenario): string[] {
  return s.ratios.map((q) =>
    q.unavailable
      ? `- ours vs ${q.peer}: no ratio, ${q.peer} unavailable (${shortReason(q.unavailable)})`
      : `- ours / ${q.peer}: req/s ${fmtRatio(q.rps)} (above 1: ours serves more), p50 ${fmtRatio(q.p50)}, p99 ${fmtRatio(q.p99)} (below 1: ours answers faster), peak RSS ${fmtRatio(q.peakRss)}`,
  );
}

/** The gist of an unavailability reason, for table cells and ratio lines (the full text is in the header). */
function shortReason(reason: string): string {
  return reason.length > 80 ? `${reason.slice(0, 77)}…` : reason;
}

const HEADER = [
  '| scenario | server | req/s | p50 | p99 | max | errors | upstream calls | peak RSS | CPU/request |',
  '|---|---|---:|---:|---:|---:|---|---|---:|---:|',
];

export function markdown(report: Report): string {
  const out: string[] = [];
  const r = report;
  out.push(`# lokistack-authz benchmark${r.quick ? ' (quick smoke run)' : ''}`);
  out.push('');
  out.push(`Generated ${r.generatedAt} by \`npm run bench${r.quick ? ' -- --quick' : ''}${r.only ? ` -- --only ${r.only.join(',')}` : ''}\`.`);
  out.push('');
  out.push(
    `**Indicative numbers.** ${r.environment.note} Machine: ${r.environment.cpus} cores (${r.environment.cpuModel}), ${fmtBytes(r.environment.memoryBytes)}, Node ${r.environment.node}; load average ${r.environment.loadAverageStart.map((v) => v.toFixed(2)).join(' ')} at the start, ${r.environment.loadAverageEnd.map((v) => v.toFixed(2)).join(' ')} at the end. The loader (autocannon), the server under test and the fake Kubernetes API share these cores.`,
  );
  out.push('');
  out.push(`- Code: ${r.environment.git}`);
  out.push(`- Ours: ${r.ours.how}. Why: ${r.ours.why}`);
  out.push(
    `- OPA: ${r.peers.opa.unavailable ? `unavailable: ${r.peers.opa.unavailable}` : `${r.peers.opa.version} (\`opa run --server\`, ${r.peers.opa.path})`}`,
  );
  out.push(
    `- opa-openshift: ${r.peers.opaOpenshift.unavailable ? `**unavailable: ${r.peers.opaOpenshift.unavailable}** — its columns and ratios are left empty, no numbers are estimated` : `${r.peers.opaOpenshift.version} (${r.peers.opaOpenshift.path})`}`,
  );
  out.push(
    `- Load: ${r.settings.connections} connections × ${r.settings.durationSec} s per measurement after ${r.settings.warmupSec} s of warm-up (peer comparisons); scaling points ${r.settings.scalingConnections} connections × ${r.settings.durationSec} s. Latency percentiles are over every response, from autocannon's per-response timings (µs resolution). Peak RSS is VmHWM of the server's process, started afresh per scenario. CPU/request is the server process's user+system CPU time during the measured load (from /proc) divided by the responses: less sensitive to the other work on this machine than req/s.`,
  );
  out.push('');
  if (r.targets?.length) {
    out.push('## Targets (issue 14)');
    out.push('');
    out.push(
      "Each target judged from this report's scenarios (a scenario carried over from an earlier run says so below). Static: each server's median round of the alternating rounds; the bare server is `node:http` alone parsing the same body and answering `{\"result\":true}` (`bench/lib/bare-server.mjs`). Idle RSS: VmRSS of a process that has served nothing, 12 s after ready, once V8's memory reducer (about 8 s after start-up's allocation stops) has given back start-up's transient; the reading one second after ready is shown beside it. Peak RSS: VmHWM after the 32-connection load.",
    );
    out.push('');
    out.push(...targetsMarkdown(r.targets));
    out.push('');
  }
  out.push('## Summary');
  out.push('');
  out.push(...HEADER);
  for (const s of r.scenarios) {
    if (s.error) {
      out.push(`| ${s.title} | | failed: ${s.error.split('\n')[0]} | | | | | | | |`);
      continue;
    }
    if (s.scaling) {
      for (const p of s.scaling.points) {
        for (const kind of ['cold', 'warm'] as const) {
          const run = p[kind];
          if (run) out.push(runRow(s, run, `${s.title}: ${p.size} ${kind}`));
          const peer = p.peer?.[kind];
          if (peer) out.push(runRow(s, peer, `${s.title}: ${p.size} ${kind}`));
        }
      }
      continue;
    }
    for (const run of s.runs) out.push(runRow(s, run));
  }
  out.push('');
  const ratioScenarios = r.scenarios.filter((s) => s.ratios.length > 0);
  if (ratioScenarios.length > 0) {
    out.push('Ratios of ours to each peer (same requests, connections and duration):');
    out.push('');
    for (const s of ratioScenarios) {
      out.push(`- **${s.title}**`);
      for (const l of ratioLines(s)) out.push(`  ${l}`);
    }
    out.push('');
  }

  for (const s of r.scenarios) {
    out.push(`## ${s.title}`);
    out.push('');
    if (s.carriedFrom) out.push(`_Carried over from the run of ${s.carriedFrom}${s.code ? `, which measured ${s.code}` : ''} (this run used --only)._\n`);
    else if (s.code && s.code !== r.environment.git) out.push(`_Measured ${s.code}._\n`);
    out.push(s.what);
    out.push('');
    const settings = Object.entries(s.settings).map(([k, v]) => `${k}=${v}`);
    if (settings.length) out.push(`Settings: ${settings.join(', ')}.`, '');
    if (s.error) {
      out.push('```', s.error, '```', '');
      continue;
    }
    if (s.checks.length) {
      for (const c of s.checks) out.push(`- ${c.ok ? '✅' : '❌'} ${c.name}: ${c.detail}`);
      out.push('');
    }
    if (s.table) {
      out.push(`| ${s.table.header.join(' | ')} |`, `|${s.table.header.map(() => '---').join('|')}|`);
      for (const row of s.table.rows) out.push(`| ${row.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
      out.push('');
    } else if (s.scaling) {
      const table = (server: string, rows: Array<{ size: number; responseBytes: number; namespacesInAnswer: number; cold?: RunStats; warm?: RunStats }>) => {
        out.push(`${server}:`, '');
        out.push(
          `| ${s.scaling!.xLabel} | answer bytes | namespaces in answer | cold req/s | cold p50 | cold p99 | cold max | cold upstream/decision | cold CPU/request (server, fake API) | warm req/s | warm p50 | warm p99 | warm CPU/request | errors | peak RSS |`,
        );
        out.push('|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|');
        for (const p of rows) {
          const c = p.cold;
          const w = p.warm;
          const errs = [c, w]
            .filter((x): x is RunStats => !!x)
            .map(errorsCell)
            .join(' / ');
          const peak = Math.max(c?.memory?.peakRssBytes ?? 0, w?.memory?.peakRssBytes ?? 0);
          out.push(
            `| ${fmtNum(p.size)} | ${fmtBytes(p.responseBytes)} | ${fmtNum(p.namespacesInAnswer)} | ${fmtNum(c?.load?.rps, c?.load && c.load.rps < 10 ? 2 : 0)} | ${fmtMs(c?.load?.latencyMs.p50)} | ${fmtMs(c?.load?.latencyMs.p99)} | ${fmtMs(c?.load?.latencyMs.max)} | ${fmtNum(c?.upstream?.perDecision, 1)} | ${c?.cpu ? `${fmtMs(c.cpu.serverMsPerRequest)}, ${c.cpu.fakeKubeSec !== undefined && c.load?.completed ? fmtMs((c.cpu.fakeKubeSec * 1000) / c.load.completed) : '–'}` : '–'} | ${fmtNum(w?.load?.rps)} | ${fmtMs(w?.load?.latencyMs.p50)} | ${fmtMs(w?.load?.latencyMs.p99)} | ${w?.cpu ? fmtMs(w.cpu.serverMsPerRequest) : '–'} | ${errs} | ${fmtBytes(peak)} |`,
          );
        }
        out.push('');
      };
      table('ours', s.scaling.points);
      const peerRows = s.scaling.points.flatMap((p) => (p.peer ? [{ size: p.size, ...p.peer }] : []));
      if (peerRows.length) table('opa-openshift', peerRows);
      if (s.scaling.peerNote) out.push(s.scaling.peerNote, '');
      for (const run of s.runs) {
        if (run.unavailable) out.push(`${who(run)}: unavailable (${shortReason(run.unavailable)}).`, '');
        for (const n of run.notes ?? []) out.push(`- Note (${who(run)}): ${n}`);
      }
      for (const p of peerRows) {
        const w = p.warm;
        if (w?.load && w.load.completed === 0)
          out.push(
            `- Note (${p.server}, ${fmtNum(p.size)}): no warm decision was answered within the ${fmtNum(w.load.durationSec)} s measurement (in-flight ones are not counted); ${fmtNum(w.upstream?.total)} upstream calls were made meanwhile: its warm decisions review the namespaces again.`,
          );
      }
      out.push('');
      out.push('![scaling](scaling.svg)');
      out.push('');
    } else {
      out.push(...HEADER);
      for (const run of s.runs) out.push(runRow(s, run));
      out.push('');
      for (const run of s.runs) {
        if (run.upstream && Object.keys(run.upstream.byEndpoint).length) {
          out.push(
            `Upstream calls by ${who(run)}: ${Object.entries(run.upstream.byEndpoint)
              .map(([k, v]) => `${k} ${fmtNum(v)}`)
              .join(', ')}; access reviews cluster-wide ${fmtNum(run.upstream.reviews.clusterWide)}, namespaced ${fmtNum(run.upstream.reviews.namespaced)}.`,
          );
        }
        if (run.cpu)
          out.push(
            `CPU during the load: ${who(run)} ${run.cpu.serverSec.toFixed(2)} s (${fmtMs(run.cpu.serverMsPerRequest)} per request)${run.cpu.fakeKubeSec !== undefined ? `, the fake Kubernetes API ${run.cpu.fakeKubeSec.toFixed(2)} s` : ''}.`,
          );
        if (run.cache)
          out.push(
            `Decision cache of ${who(run)} during the load: ${fmtNum(run.cache.hits)} hits, ${fmtNum(run.cache.misses)} misses, ${fmtNum(run.cache.sharedInFlight)} joined a computation in flight.`,
          );
        if (run.responseBytes !== undefined) out.push(`Answer size (${who(run)}, first request): ${fmtBytes(run.responseBytes)}.`);
        if (run.memory)
          out.push(
            `RSS of ${who(run)}: ${fmtBytes(run.memory.startRssBytes)} at the start of the measured load, ${fmtBytes(run.memory.endRssBytes)} at its end, peak ${fmtBytes(run.memory.peakRssBytes)}.`,
          );
        for (const n of run.notes ?? []) out.push(`Note (${who(run)}): ${n}`);
      }
      out.push('');
      for (const l of ratioLines(s)) out.push(l);
      if (s.ratios.length) out.push('');
    }
    if (s.extra && Object.keys(s.extra).length) {
      out.push('<details><summary>details</summary>', '', '```json', JSON.stringify(s.extra, null, 2), '```', '', '</details>', '');
    }
  }

  if (r.profile) {
    const p = r.profile;
    out.push('## Where ours spends its time on static decisions (CPU profile)');
    out.push('');
    if (p.code && (p.code !== r.environment.git || p.generatedAt !== r.generatedAt))
      out.push(`_From the run of ${p.generatedAt ?? '?'}, which measured ${p.code}._`, '');
    out.push(p.why);
    out.push('');
    out.push(
      `Profile: \`${p.file}\` (gunzip it, then open it in Chrome DevTools or speedscope); ${fmtNum(p.sampledMs)} ms sampled, ${fmtNum(p.busyMs)} ms not idle. Percentages are of the non-idle time.`,
    );
    if (p.loadDuringProfile)
      out.push(
        `Load while profiling: ${fmtNum(p.loadDuringProfile.rps)} req/s, p50 ${fmtMs(p.loadDuringProfile.latencyMs.p50)} (the profiler itself costs some throughput).`,
      );
    out.push('');
    out.push('By area (self time):');
    out.push('');
    out.push('| area | self ms | % |', '|---|---:|---:|');
    for (const a of p.areas.slice(0, 16)) out.push(`| ${a.area} | ${fmtNum(a.selfMs)} | ${a.pct.toFixed(1)} |`);
    out.push('');
    out.push('Top functions by self time:');
    out.push('');
    out.push('| function | where | area | self % | total % |', '|---|---|---|---:|---:|');
    for (const f of p.topSelf) out.push(`| \`${f.fn}\` | ${f.where} | ${f.area} | ${f.selfPct.toFixed(1)} | ${f.totalPct.toFixed(1)} |`);
    out.push('');
    out.push('Top functions by inclusive time:');
    out.push('');
    out.push('| function | where | area | total % | self % |', '|---|---|---|---:|---:|');
    for (const f of p.topTotal) out.push(`| \`${f.fn}\` | ${f.where} | ${f.area} | ${f.totalPct.toFixed(1)} | ${f.selfPct.toFixed(1)} |`);
    out.push('');
  }
  out.push('---');
  out.push('Machine-readable: `latest.json`. Plot: `scaling.svg`. How to run, and the findings with proposed fixes: `bench/README.md`.');
  out.push('');
  return out.join('\n');
}
