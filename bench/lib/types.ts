/** The shape of bench/results/latest.json. */
import type { LoadResult } from './load.js';
import type { ProfileSummary } from './profile.js';

/** `bare`: node:http alone parsing the same body and answering {"result":true}, the static limit. */
export type ServerName = 'ours' | 'opa' | 'opa-openshift' | 'bare';

export interface Memory {
  /** VmRSS when the measured load started. */
  startRssBytes: number;
  /** VmRSS when it ended. */
  endRssBytes: number;
  /** VmHWM at the end: the process's peak RSS over its life (it is started per scenario). */
  peakRssBytes: number;
  /**
   * VmRSS of a process that has served nothing, settled: IDLE_SETTLED_MS after ready, once V8's
   * memory reducer (about 8 s after start-up's allocation stops) has given back start-up's
   * transient. What an idle pod holds for the rest of its life.
   */
  idleRssBytes?: number;
  /** VmRSS one second after ready, before any request: start-up's transient included. */
  readyRssBytes?: number;
}

export interface Upstream {
  /** Requests the fake Kubernetes API received during the measured load. */
  total: number;
  /** total / 2xx decisions. */
  perDecision: number;
  byEndpoint: Record<string, number>;
  reviews: { clusterWide: number; namespaced: number };
}

export interface RunStats {
  server: ServerName;
  /** Told apart from the same server's other runs in the scenario (e.g. a flag turned off). */
  variant?: string;
  /** Set when the server could not be run: why. No numbers then. */
  unavailable?: string;
  load?: LoadResult;
  memory?: Memory;
  upstream?: Upstream;
  /** CPU the server (and the fake Kubernetes API) used during the measured load, from /proc/<pid>/stat. */
  cpu?: { serverSec: number; serverMsPerRequest: number; fakeKubeSec?: number };
  /** Ours' decision cache during the measured load (from /metrics). */
  cache?: { hits: number; misses: number; sharedInFlight: number };
  /** Body bytes of one answer (the scenario's first request). */
  responseBytes?: number;
  notes?: string[];
}

export interface Ratio {
  peer: ServerName;
  unavailable?: string;
  /** ours / peer: above 1, ours serves more. */
  rps?: number;
  /** ours / peer: below 1, ours answers faster. */
  p50?: number;
  p99?: number;
  /** ours / peer: below 1, ours uses less memory. */
  peakRss?: number;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ScalingPoint {
  size: number;
  responseBytes: number;
  /** Namespaces in the answer's matcher. */
  namespacesInAnswer: number;
  cold?: RunStats;
  warm?: RunStats;
  /** The same point through a peer (opa-openshift), when it ran at this size. */
  peer?: { server: ServerName; responseBytes: number; namespacesInAnswer: number; cold?: RunStats; warm?: RunStats };
}

export interface Scenario {
  id: string;
  title: string;
  what: string;
  settings: Record<string, string | number | boolean>;
  runs: RunStats[];
  ratios: Ratio[];
  checks: Check[];
  scaling?: {
    xLabel: string;
    points: ScalingPoint[];
    /** Why the peer has no numbers at some sizes (its rate-limited client), or at all. */
    peerNote?: string;
  };
  /** A scenario's own table (header, then rows of cells), shown in place of the runs table. */
  table?: { header: string[]; rows: string[][] };
  extra?: Record<string, unknown>;
  error?: string;
  /** Set when this scenario was carried over from an earlier run (--only). */
  carriedFrom?: string;
  /** The code this scenario measured (git commit, uncommitted changes). */
  code?: string;
}

export interface Report {
  generatedAt: string;
  quick: boolean;
  only?: string[];
  settings: { durationSec: number; connections: number; scalingConnections: number; warmupSec: number };
  environment: {
    node: string;
    cpus: number;
    cpuModel: string;
    memoryBytes: number;
    loadAverageStart: number[];
    loadAverageEnd: number[];
    git: string;
    note: string;
  };
  ours: { how: string; why: string };
  peers: {
    opa: { version?: string; path?: string; unavailable?: string };
    opaOpenshift: { version?: string; path?: string; unavailable?: string };
  };
  scenarios: Scenario[];
  /** Issue 14's targets, each met or not with the figure (computed from the scenarios, lib/targets.ts). */
  targets?: Target[];
  profile?: ProfileSummary & { why: string; loadDuringProfile?: LoadResult; code?: string; generatedAt?: string };
}

export interface Target {
  /** What the issue asks, in words. */
  name: string;
  /** The figure measured, with what it was compared to. */
  measured: string;
  /** undefined: not measured in this report (scenario not run, or a peer unavailable). */
  met?: boolean;
}
