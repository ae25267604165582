/**
 * docs/metrics.md from the Metrics class (server/observability/metrics.ts): the one metric table.
 * Name, type, labels, buckets and help come from the registered metrics themselves; NOTES below adds
 * what a help string cannot carry (the values a label takes, how a metric differs from
 * opa-openshift's). test/metrics-doc.test.ts fails when the committed file differs from what this
 * writes, and when a note names a metric or a label the class no longer has.
 *
 *   npm run docs:metrics            rewrite docs/metrics.md
 *   npm run docs:metrics -- --check exit 1 when docs/metrics.md is stale
 */
import { docFile, generatedDocCommand, isScript } from './lib/generated-doc.js';
import { Metrics } from '../server/observability/metrics.js';
import { registerProcessMetrics } from '../server/observability/process-metrics.js';
import { Registry } from '../server/observability/prom.js';

export const METRICS_DOC = docFile('metrics');

/** What the doc says beyond a metric's help: per label, the values it takes; more meaning; opa-openshift. */
export interface MetricNote {
  /** Label name → the values it takes, or what it holds (markdown). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Appended to the help text (markdown). */
  readonly meaning?: string;
  /** How opa-openshift's metric of the same name differs; absent: opa-openshift has no such metric. */
  readonly openshift?: string;
}

// Kept here, not in the help strings, so that /metrics stays short; a metric without a note is
// still documented, from its help alone.
export const NOTES: Readonly<Record<string, MetricNote>> = {
  http_requests_total: {
    labels: { handler: '`data` (`/v1/data…`), `health`, `forward-auth`, `other` (404s)', code: 'the status; `499` when the client aborted its upload' },
    meaning: 'Requests on the public listener.',
    openshift: 'same name and labels; `handler` as listed',
  },
  http_request_duration_seconds: {
    meaning: 'Reading the body included.',
    openshift: "buckets are a superset: opa-openshift's (0.1 s … 120 s) plus sub-millisecond ones",
  },
  http_request_size_bytes: { meaning: 'From Content-Length.', openshift: 'same type' },
  http_response_size_bytes: { openshift: 'same type and buckets' },
  decisions_total: {
    labels: {
      mode: '`static`, `dynamic`, `openshift-logging`, `openshift-network`',
      result:
        '`allow` (`true`, or `allowed:"true"`), `deny` (`false`, or `allowed:"false"`), `undefined` (no document at the path), `other` (any other document), `error` (the mode failed the decision and answered an error status; malformed requests are not counted)',
    },
  },
  config_reloads_total: {
    labels: {
      config: "`rbac`, `policy`, `data`, `tls` (the public listener's certificate), `internal-tls` (the internal one's)",
      result: '`success`, `failure`',
    },
    meaning: 'The startup load is counted too.',
  },
  config_last_reload_successful: { meaning: 'A rejected file keeps 0 until a valid one arrives; the previous one serves meanwhile.' },
  config_last_reload_success_timestamp_seconds: { meaning: '`{config="tls"}` says when a certificate was last applied.' },
  policy_wasm_memory_bytes: { meaning: 'Read at scrape time; all together bounded by `--policy.max-memory-bytes`.' },
  opa_openshift_cache_requests_total: {
    labels: { result: '`hit`, `miss`' },
    meaning: 'In memory or memcached.',
    openshift: 'counts the memcached cache too (opa-openshift: in-memory only)',
  },
  opa_openshift_cache_inserts_total: { openshift: 'counts the memcached cache too (opa-openshift: in-memory only)' },
  opa_openshift_cache_evictions_total: {
    meaning:
      'The bounds are `--cache.max-entries` and `--cache.max-bytes`; expiries are not counted. Growing steadily: raise the bounds ([operations.md](operations.md#cache-tuning)).',
    openshift: 'evictions to stay within the in-memory bounds; expiry is not counted',
  },
  decision_cache_errors_total: { meaning: 'A refused connection fails fast; a hung memcached costs up to `--memcached.timeout` per get and per set.' },
  decision_cache_entries: { meaning: 'Not set with memcached (there is no in-memory cache behind it).' },
  client_api_requests_total: {
    labels: { code: 'the HTTP status, or `error` when no answer came (timeout, connection refused)', client: 'always `openshift`' },
    openshift: 'same; `code` is `error` when no answer came',
  },
  request_duration_seconds: {
    labels: { client: 'always `openshift`' },
    meaning: 'The wait for a call slot (`--kube.max-concurrent-calls`) is excluded.',
    openshift: 'same',
  },
  healthcheck: { labels: { name: '`http`', check: '`live`' }, openshift: 'same' },
  oidc_token_verifications_total: {
    labels: {
      result:
        '`ok`, `no_token`, `input_trusted` (`--dynamic.accept-input-without-token`), `expired`, `bad_signature`, `wrong_issuer`, `wrong_audience`, `wrong_client`, `unbound_token`, `inactive`, `malformed_token`, `missing_claim`, `unknown_tenant`, `provider_unreachable`, `provider_busy`, `provider_error`',
    },
  },
  oidc_provider_requests_total: {
    labels: { endpoint: '`discovery`, `jwks`, `userinfo`, `introspection`, `other`', code: 'the HTTP status, or `error`' },
  },
  oidc_claims_cache_requests_total: {
    labels: { result: '`hit`, `miss`' },
    meaning: 'A remembered failure, like a joined verification, counts as a `hit`: it cost the provider nothing.',
  },
  decision_logs_dropped_total: { meaning: 'A failed write (disk full, closed pipe) drops its events too.' },
  decision_cache_rejected_entries_total: {
    labels: {
      reason:
        '`format` (no envelope), `key` (an unknown key ID), `mac` (a MAC that does not match the key the entry sits under), `expired` (a genuine entry past its expiry)',
    },
    meaning:
      'Any of them means someone other than this service writes to memcached, or replicas hold different keys ([memcached entry keys](operations.md#memcached-entry-keys)).',
  },
  forward_auth_decisions_total: {
    labels: { result: '`allow`, `unauthenticated`, `forbidden`, `invalid`, `error`, `busy`' },
    meaning: 'See [forward-auth.md](forward-auth.md).',
  },
  forward_auth_cache_requests_total: { labels: { result: '`hit`, `miss`, `shared`' } },
  lokistack_authz_build_info: {
    labels: { version: "package.json's", node_version: 'e.g. `v24.22.3`' },
    meaning: 'Two versions at once during a rollout: `count by (version, node_version) (lokistack_authz_build_info)`.',
  },
};

export interface MetricSpec {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** Histogram bucket upper bounds, or a summary's quantiles. */
  readonly bounds?: readonly number[];
}

/** The service's metrics, in the order the class registers them (process metrics left out). */
export function registeredMetrics(): MetricSpec[] {
  return specsOf(new Metrics({ processMetrics: false }).registry);
}

/** The process_* and nodejs_* metrics (server/observability/process-metrics.ts), in their order. */
export function processMetrics(): MetricSpec[] {
  const registry = new Registry();
  registerProcessMetrics(registry);
  return specsOf(registry);
}

function specsOf(registry: Registry): MetricSpec[] {
  return registry.getMetricsAsArray().map((m) => {
    // prom-client keeps these on the instance but leaves them out of its public types.
    const raw = m as unknown as { name: string; type: string; help: string; labelNames?: string[]; upperBounds?: number[]; percentiles?: number[] };
    const type = raw.type;
    const bounds = type === 'histogram' ? raw.upperBounds : type === 'summary' ? raw.percentiles : undefined;
    return { name: raw.name, type, help: raw.help, labelNames: raw.labelNames ?? [], ...(bounds ? { bounds } : {}) };
  });
}

/** `text` in lines of at most `width` characters, broken at spaces (as the page's prose is). */
function wrap(text: string, width = 120): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Text for a table cell: `|` would end the cell. */
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function row(m: MetricSpec, note: MetricNote | undefined): string {
  const type =
    m.bounds === undefined || m.bounds.length === 0
      ? m.type
      : `${m.type}; ${m.type === 'summary' ? 'quantiles' : 'buckets'} ${m.bounds.map((b) => String(b)).join(', ')}`;
  const labels = m.labelNames.length === 0 ? 'none' : m.labelNames.map((l) => (note?.labels?.[l] ? `\`${l}\`: ${note.labels[l]}` : `\`${l}\``)).join('; ');
  const meaning = [m.help, note?.meaning].filter(Boolean).join(' ');
  const peer = note?.openshift ?? '—';
  return `| \`${m.name}\` | ${cell(type)} | ${cell(labels)} | ${cell(meaning)} | ${cell(peer)} |`;
}

/** The whole of docs/metrics.md. */
export function metricsMarkdown(
  specs: readonly MetricSpec[] = registeredMetrics(),
  notes: Readonly<Record<string, MetricNote>> = NOTES,
  processSpecs: readonly MetricSpec[] = processMetrics(),
): string {
  const processNames = processSpecs.map((m) => `\`${m.name}${m.labelNames.length ? `{${m.labelNames.join(',')}}` : ''}\``);
  const out = [
    '# Metrics',
    '',
    '<!-- Generated from server/observability/metrics.ts (Metrics) and the notes in scripts/metrics-doc.ts by `npm run docs:metrics`: edit those, then run it. -->',
    '',
    'All on `/metrics` of the internal listener (`--web.internal.listen`, default `:8081`; 8083 in the gateway pod), in',
    'Prometheus text format. Names follow opa-openshift where it has one, so dashboards made for it keep working; the last',
    "column says how each differs from opa-openshift's (—: opa-openshift has no such metric). Every metric is listed on",
    '`/metrics` in every mode; a labelled one has samples once its mode uses it (the cache and Kubernetes metrics in the',
    "openshift modes, the OIDC ones in dynamic mode, forward-auth's when it is on). The alerts and the dashboard over them:",
    '[operations.md](operations.md#alerts).',
    '',
    '| metric | type | labels | meaning | opa-openshift |',
    '|---|---|---|---|---|',
    ...specs.map((m) => row(m, notes[m.name])),
    '',
    "Plus the process metrics, with the names, types, help and labels that prom-client's `collectDefaultMetrics` gives them",
    '(dashboards made for Node.js services read them), computed by the service at each scrape:',
    ...wrap(`${processNames.join(', ')}.`),
    "Unlike prom-client's: no `nodejs_gc_duration_seconds` (it observed every garbage collection); the CPU counters count",
    "from the process's start, as client_golang's do; a figure that cannot be read (no `/proc`) has no sample.",
    '',
  ];
  return out.join('\n');
}

if (isScript(import.meta.url)) {
  const render = (specs = registeredMetrics()) => ({ text: metricsMarkdown(specs), holds: `${specs.length} metrics` });
  process.exitCode = generatedDocCommand({ topic: 'metrics', render }, process.argv.slice(2));
}
