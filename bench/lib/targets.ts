/**
 * Issue 14's targets, judged from one report's scenarios: each met or not, with the figure beside
 * it. Computed when the report is written, so a report with carried-over scenarios judges them too
 * (the scenario says which run it came from). A target whose scenario or peer is missing is listed
 * as not measured, never as met.
 */
import type { Report, RunStats, Scenario, Target } from './types.js';

const MiB = 1 << 20;

/** The per-entry figure docs/operations.md sizes the cache with: "N KiB of RSS per cached decision". */
export function documentedBytesPerEntry(docsText: string): number | undefined {
  const m = /([\d.]+)\s*KiB of RSS per cached decision/.exec(docsText);
  return m ? Number(m[1]) * 1024 : undefined;
}

export function judgeTargets(report: Pick<Report, 'scenarios'>, documentedPerEntry: number | undefined): Target[] {
  const scenario = (id: string) => report.scenarios.find((s) => s.id === id && !s.error);
  const run = (s: Scenario | undefined, server: string): RunStats | undefined => {
    const r = s?.runs.find((x) => x.server === server);
    return r && !r.unavailable ? r : undefined;
  };
  const out: Target[] = [];
  const staticS = scenario('static');
  const ours = run(staticS, 'ours');
  const bare = run(staticS, 'bare');
  const opa = run(staticS, 'opa');

  const cpuOurs = ours?.cpu?.serverMsPerRequest;
  const cpuBare = bare?.cpu?.serverMsPerRequest;
  out.push(
    ratioTarget(
      'static: CPU per decision ≤ 1.5× the bare node:http server',
      cpuOurs,
      cpuBare,
      (r) => r <= 1.5,
      (r) => `${r.toFixed(2)}× (ours ${us(cpuOurs)}, bare ${us(cpuBare)} per request)`,
    ),
  );
  out.push(
    ratioTarget(
      'static: req/s ≥ 60% of the bare node:http server',
      ours?.load?.rps,
      bare?.load?.rps,
      (r) => r >= 0.6,
      (r) => `${(r * 100).toFixed(0)}% (ours ${n(ours?.load?.rps)}, bare ${n(bare?.load?.rps)} req/s)`,
    ),
  );
  out.push(
    ratioTarget(
      'static: req/s ≥ 1.5× OPA',
      ours?.load?.rps,
      opa?.load?.rps,
      (r) => r >= 1.5,
      (r) => `${r.toFixed(2)}× (ours ${n(ours?.load?.rps)}, OPA ${n(opa?.load?.rps)} req/s)`,
    ),
  );

  const hit = scenario('openshift-hit');
  const hitOurs = run(hit, 'ours');
  const hitPeer = run(hit, 'opa-openshift');
  out.push(
    ratioTarget(
      'openshift cache hit: req/s ≥ 5× opa-openshift',
      hitOurs?.load?.rps,
      hitPeer?.load?.rps,
      (r) => r >= 5,
      (r) => `${r.toFixed(2)}× (ours ${n(hitOurs?.load?.rps)}, opa-openshift ${n(hitPeer?.load?.rps)} req/s)`,
    ),
  );

  out.push(bound('static: peak RSS under the 32-connection load ≤ 90 MiB', ours?.memory?.peakRssBytes, 90 * MiB));
  out.push(bound('openshift: peak RSS under the 32-connection load ≤ 120 MiB', hitOurs?.memory?.peakRssBytes, 120 * MiB));
  out.push(idleBound('static: idle RSS ≤ 60 MiB', ours?.memory));
  out.push(idleBound('openshift: idle RSS ≤ 60 MiB', hitOurs?.memory));

  const tokens = scenario('tokens');
  const perEntry = tokens?.extra?.rssGrowthPerEntryBytes;
  // The target is per entry at 100,000 entries: a quick run's 10,000 spread the heap's warm-up over
  // a tenth of them and would overstate it, so it is shown but not judged.
  const atScale = Number(tokens?.settings.tokens ?? 0) >= 100_000;
  const perEntryN = atScale && typeof perEntry === 'number' && Number.isFinite(perEntry) ? perEntry : undefined;
  const notAtScale =
    tokens && !atScale
      ? `not measured at 100,000 entries (this run: ${tokens.settings.tokens} tokens, ${typeof perEntry === 'number' ? perEntry.toFixed(0) : '–'} B per entry)`
      : undefined;
  out.push(
    perEntryN === undefined
      ? { name: 'RSS growth per cached decision at 100,000 entries ≤ 1.5 KiB', measured: notAtScale ?? 'not measured (scenario tokens not in this report)' }
      : { name: 'RSS growth per cached decision at 100,000 entries ≤ 1.5 KiB', measured: `${perEntryN.toFixed(0)} B`, met: perEntryN <= 1536 },
  );
  out.push(
    perEntryN === undefined || documentedPerEntry === undefined
      ? {
          name: "docs/operations.md's sizing figure per cached decision covers the measured growth",
          measured:
            documentedPerEntry === undefined
              ? 'no "KiB of RSS per cached decision" figure found in docs/operations.md'
              : (notAtScale ?? 'not measured (scenario tokens not in this report)'),
        }
      : {
          name: "docs/operations.md's sizing figure per cached decision covers the measured growth",
          measured: `documented ${documentedPerEntry.toFixed(0)} B, measured ${perEntryN.toFixed(0)} B`,
          met: perEntryN <= documentedPerEntry,
        },
  );

  const cold = scenario('openshift-cold');
  const coldOurs = run(cold, 'ours')?.cpu?.serverMsPerRequest;
  const coldPeer = run(cold, 'opa-openshift')?.cpu?.serverMsPerRequest;
  out.push(
    ratioTarget(
      "openshift cold decision: CPU ≤ opa-openshift's",
      coldOurs,
      coldPeer,
      (r) => r <= 1,
      (r) => `${r.toFixed(2)}× (ours ${ms(coldOurs)}, opa-openshift ${ms(coldPeer)} per decision)`,
    ),
  );
  return out;
}

function ratioTarget(name: string, a: number | undefined, b: number | undefined, ok: (r: number) => boolean, describe: (r: number) => string): Target {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0)
    return { name, measured: 'not measured (scenario or peer missing from this report)' };
  const r = a / b;
  return { name, measured: describe(r), met: ok(r) };
}

function bound(name: string, bytes: number | undefined, max: number): Target {
  if (bytes === undefined || !Number.isFinite(bytes)) return { name, measured: 'not measured (scenario missing from this report)' };
  return { name, measured: `${(bytes / MiB).toFixed(1)} MiB`, met: bytes <= max };
}

/** Judged settled (what an idle pod holds), with the reading one second after ready beside it. */
function idleBound(name: string, memory: RunStats['memory']): Target {
  const target = bound(name, memory?.idleRssBytes, 60 * MiB);
  const ready = memory?.readyRssBytes;
  return target.met === undefined || ready === undefined
    ? target
    : { ...target, measured: `${target.measured} settled (${(ready / MiB).toFixed(1)} MiB 1 s after ready)` };
}

const n = (v: number | undefined) => (v === undefined ? '–' : Math.round(v).toLocaleString('en-US'));
const us = (v: number | undefined) => (v === undefined ? '–' : `${(v * 1000).toFixed(1)} µs`);
const ms = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(2)} ms`);

export function targetsMarkdown(targets: readonly Target[]): string[] {
  return [
    '| target (issue 14) | measured | met |',
    '|---|---|---|',
    ...targets.map((t) => `| ${t.name} | ${t.measured} | ${t.met === undefined ? '– not measured' : t.met ? '✅ met' : '❌ not met'} |`),
  ];
}
