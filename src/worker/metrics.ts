// batchkeeper's business metrics, exported beside the Temporal runtime's own on BATCHKEEPER_METRICS_PORT.
// This table is the one list of names: the instruments, the histogram buckets, docs/metrics.md and the Grafana
// dashboard's test all read it.
import type {
  MetricCounter,
  MetricGauge,
  MetricHistogram,
  MetricMeter,
  MetricTags,
} from '@temporalio/common';
import { TERMINAL_STATUSES } from '../../workflows/contract';

export type MetricLabel = 'provider' | 'status' | 'operation' | 'outcome';

/** `operation` of provider calls: the Batch API call a request made (see provider-calls.ts). */
export const PROVIDER_OPERATIONS = [
  'retrieve',
  'cancel',
  'create',
  'list',
  'upload',
  'download',
  'delete',
  'file_retrieve',
  'file_list',
  'other',
] as const;
export type ProviderOperation = (typeof PROVIDER_OPERATIONS)[number];

/** `outcome` of provider calls, named after the activities' error classes. */
export const CALL_OUTCOMES = [
  'ok',
  'rate_limited',
  'auth',
  'not_found',
  'client_error',
  'server_error',
  'network',
  'aborted',
] as const;
export type ProviderCallOutcome = (typeof CALL_OUTCOMES)[number];

interface MetricSpec {
  name: string;
  /**
   * As Prometheus sees it. A `running total` is a float gauge that only grows while the process lives: the
   * runtime's counters hold integers, and money needs cents. Charted with increase(), like a counter.
   */
  kind: 'counter' | 'gauge' | 'running total' | 'histogram';
  unit: string;
  labels: readonly MetricLabel[];
  help: string;
  /** Histograms only: upper bounds (the runtime's defaults are millisecond-sized). */
  buckets?: readonly number[];
}

export const METRICS = {
  batchesInFlight: {
    name: 'batchkeeper_batches_in_flight',
    kind: 'gauge',
    unit: 'batches',
    labels: ['provider', 'status'],
    help: 'Running batchLifecycle workflows by provider profile and last seen batch status (Temporal visibility, namespace-wide)',
  },
  batchesTerminal: {
    name: 'batchkeeper_batches_terminal_total',
    kind: 'counter',
    unit: 'batches',
    labels: ['provider', 'status'],
    help: 'Batches recorded in the billing ledger, by terminal status',
  },
  requestsBilled: {
    name: 'batchkeeper_requests_billed_total',
    kind: 'counter',
    unit: 'requests',
    labels: ['provider', 'status'],
    help: 'Requests billed (completed) of recorded batches',
  },
  inputTokens: {
    name: 'batchkeeper_input_tokens_total',
    kind: 'counter',
    unit: 'tokens',
    labels: ['provider', 'status'],
    help: 'Input tokens of recorded batches (batches whose tokens are unknown add nothing)',
  },
  outputTokens: {
    name: 'batchkeeper_output_tokens_total',
    kind: 'counter',
    unit: 'tokens',
    labels: ['provider', 'status'],
    help: 'Output tokens of recorded batches (batches whose tokens are unknown add nothing)',
  },
  estimatedCost: {
    name: 'batchkeeper_estimated_cost_usd',
    kind: 'running total',
    unit: 'USD',
    labels: ['provider', 'status'],
    help: 'Estimated cost of the batches this worker recorded since it started, as in the ledger (a running total: chart it with increase())',
  },
  providerCalls: {
    name: 'batchkeeper_provider_calls_total',
    kind: 'counter',
    unit: 'calls',
    labels: ['provider', 'operation', 'outcome'],
    help: 'HTTP requests to providers by operation and outcome',
  },
  pollLateness: {
    name: 'batchkeeper_poll_lateness_seconds',
    kind: 'histogram',
    unit: 's',
    labels: ['provider', 'status'],
    help: "Time from the provider's terminal timestamp to the poll that showed it to the workflow",
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400],
  },
  cancelLatency: {
    name: 'batchkeeper_cancel_latency_seconds',
    kind: 'histogram',
    unit: 's',
    labels: ['provider', 'outcome'],
    help: 'Time from the first cancel request to the return of the provider cancel call',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600],
  },
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;

/** Every metric as a list (docs, dashboard and tests iterate over it). */
export const METRIC_SPECS: readonly MetricSpec[] = Object.values(METRICS);

/** For the runtime's Prometheus exporter (`histogramBucketOverrides`), keyed by metric name. */
export const HISTOGRAM_BUCKETS: Record<string, number[]> = Object.fromEntries(
  METRIC_SPECS.filter((m) => m.buckets).map((m) => [m.name, [...(m.buckets ?? [])]]),
);

type Labels<K extends MetricKey> = Record<(typeof METRICS)[K]['labels'][number], string>;

/** The instruments, typed by their labels so a call site cannot add a high-cardinality one by accident. */
export interface BatchkeeperMetrics {
  batchesInFlight(value: number, labels: Labels<'batchesInFlight'>): void;
  batchesTerminal(value: number, labels: Labels<'batchesTerminal'>): void;
  requestsBilled(value: number, labels: Labels<'requestsBilled'>): void;
  inputTokens(value: number, labels: Labels<'inputTokens'>): void;
  outputTokens(value: number, labels: Labels<'outputTokens'>): void;
  estimatedCost(value: number, labels: Labels<'estimatedCost'>): void;
  providerCalls(value: number, labels: Labels<'providerCalls'>): void;
  pollLateness(value: number, labels: Labels<'pollLateness'>): void;
  cancelLatency(value: number, labels: Labels<'cancelLatency'>): void;
}

/**
 * Creates every instrument once on `meter` (the worker's `Runtime.instance().metricMeter`).
 */
export function createMetrics(meter: MetricMeter): BatchkeeperMetrics {
  const instrument = (spec: MetricSpec): ((value: number, labels: MetricTags) => void) => {
    const { name, unit, help } = spec;
    let observe: (value: number, labels: MetricTags) => void;
    if (spec.kind === 'counter') {
      const c: MetricCounter = meter.createCounter(name, unit, help);
      observe = (value, labels) => c.add(Math.round(value), labels);
    } else if (spec.kind === 'gauge') {
      const g: MetricGauge = meter.createGauge(name, 'int', unit, help);
      observe = (value, labels) => g.set(Math.round(value), labels);
    } else if (spec.kind === 'running total') {
      const g: MetricGauge = meter.createGauge(name, 'float', unit, help);
      const totals = new Map<string, number>();
      observe = (value, labels) => {
        const key = JSON.stringify(Object.entries(labels).sort());
        const total = (totals.get(key) ?? 0) + value;
        totals.set(key, total);
        g.set(total, labels);
      };
    } else {
      const h: MetricHistogram = meter.createHistogram(name, 'float', unit, help);
      observe = (value, labels) => h.record(value, labels);
    }
    // A NaN or negative value is a bug upstream; dropping it keeps one bad batch from poisoning a total.
    return (value, labels) => {
      if (Number.isFinite(value) && value >= 0) observe(value, labels);
    };
  };
  return Object.fromEntries(
    Object.entries(METRICS).map(([key, spec]) => [key, instrument(spec)]),
  ) as unknown as BatchkeeperMetrics;
}

/**
 * Exports every counter and total of the given provider profiles at 0 before anything happens. Prometheus'
 * increase() cannot see the first value of a series that appears mid-window (a new worker's first completed
 * batch would vanish from the charts); a series that starts at 0 has no first value to lose. Histograms cannot
 * start empty through the runtime's meter: the dashboard's queries cover their new series instead.
 */
export function startSeriesAtZero(metrics: BatchkeeperMetrics, providers: readonly string[]): void {
  for (const provider of providers) {
    for (const status of TERMINAL_STATUSES) {
      const labels = { provider, status };
      metrics.batchesTerminal(0, labels);
      metrics.requestsBilled(0, labels);
      metrics.inputTokens(0, labels);
      metrics.outputTokens(0, labels);
      metrics.estimatedCost(0, labels);
    }
    for (const operation of PROVIDER_OPERATIONS) {
      for (const outcome of CALL_OUTCOMES) metrics.providerCalls(0, { provider, operation, outcome });
    }
  }
}
