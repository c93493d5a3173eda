// The metric table against Prometheus' naming conventions, and the instruments createMetrics builds from it.
import type { MetricMeter, MetricTags } from '@temporalio/common';
import {
  CALL_OUTCOMES,
  HISTOGRAM_BUCKETS,
  METRICS,
  METRIC_SPECS,
  PROVIDER_OPERATIONS,
  createMetrics,
  startSeriesAtZero,
} from '../../src/worker/metrics';
import { TERMINAL_STATUSES } from '../../workflows/contract';
import { recordingMetrics } from './recording-metrics';

const ALLOWED_LABELS = ['provider', 'status', 'operation', 'outcome'];

describe.each(METRIC_SPECS.map((m) => [m.name, m] as const))('%s', (name, spec) => {
  test('snake_case under the batchkeeper_ namespace', () => {
    expect(name).toMatch(/^batchkeeper_[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
  });
  test('counters end in _total, and nothing else does', () => {
    expect(name.endsWith('_total')).toBe(spec.kind === 'counter');
  });
  test('base units in the name: seconds, USD', () => {
    if (spec.unit === 's') expect(name).toMatch(/_seconds$/);
    if (spec.unit === 'USD') expect(name).toMatch(/_usd$/);
    expect(name).not.toMatch(/_(milliseconds|ms|minutes|hours|cents|dollars)(_|$)/);
  });
  test('low-cardinality labels only', () => {
    expect(spec.labels.length).toBeGreaterThan(0);
    for (const label of spec.labels) expect(ALLOWED_LABELS).toContain(label);
  });
  test('histograms have ascending buckets of their own', () => {
    if (spec.kind !== 'histogram') return expect(HISTOGRAM_BUCKETS[name]).toBeUndefined();
    const buckets = HISTOGRAM_BUCKETS[name];
    expect(buckets.length).toBeGreaterThan(3);
    expect([...buckets].sort((a, b) => a - b)).toEqual(buckets);
    expect(new Set(buckets).size).toBe(buckets.length);
  });
});

test('names are unique', () => {
  expect(new Set(METRIC_SPECS.map((m) => m.name)).size).toBe(METRIC_SPECS.length);
});

test('createMetrics makes each instrument of its kind once, and drops values no metric can hold', () => {
  const made: { kind: string; name: string; unit?: string; valueType?: string }[] = [];
  const seen: { name: string; value: number; tags?: MetricTags }[] = [];
  const instrument = (kind: string, name: string, unit?: string, valueType?: string) => {
    made.push({ kind, name, unit, valueType });
    const observe = (value: number, tags?: MetricTags) => seen.push({ name, value, tags });
    return { add: observe, record: observe, set: observe };
  };
  const meter = {
    createCounter: (name: string, unit?: string) => instrument('counter', name, unit, 'int'),
    createHistogram: (name: string, valueType?: string, unit?: string) =>
      instrument('histogram', name, unit, valueType),
    createGauge: (name: string, valueType?: string, unit?: string) =>
      instrument('gauge', name, unit, valueType),
    withTags: () => meter,
  } as unknown as MetricMeter;

  const metrics = createMetrics(meter);
  // A running total is a float gauge to Prometheus.
  expect(made.map(({ kind, name, unit }) => ({ kind, name, unit }))).toEqual(
    METRIC_SPECS.map(({ kind, name, unit }) => ({
      kind: kind === 'running total' ? 'gauge' : kind,
      name,
      unit,
    })),
  );
  // Money and durations are fractions.
  const fractional = ['batchkeeper_estimated_cost_usd', 'batchkeeper_poll_lateness_seconds'];
  expect(made.filter((m) => fractional.includes(m.name)).map((m) => m.valueType)).toEqual(['float', 'float']);
  expect(Object.keys(metrics).sort()).toEqual(Object.keys(METRICS).sort());

  const labels = { provider: 'p', status: 'completed' };
  metrics.requestsBilled(3, labels);
  metrics.requestsBilled(-1, labels);
  metrics.requestsBilled(Number.NaN, labels);
  metrics.estimatedCost(0.0042, labels);
  metrics.estimatedCost(0.0042, labels);
  metrics.estimatedCost(1, { provider: 'q', status: 'completed' });
  metrics.pollLateness(Number.POSITIVE_INFINITY, labels);
  expect(seen).toEqual([
    { name: 'batchkeeper_requests_billed_total', value: 3, tags: labels },
    // The running total per label set, as the gauge's value.
    { name: 'batchkeeper_estimated_cost_usd', value: 0.0042, tags: labels },
    { name: 'batchkeeper_estimated_cost_usd', value: 0.0084, tags: labels },
    { name: 'batchkeeper_estimated_cost_usd', value: 1, tags: { provider: 'q', status: 'completed' } },
  ]);
});

test('startSeriesAtZero exports every counter and total of each profile at 0, and nothing else', () => {
  const metrics = recordingMetrics();
  startSeriesAtZero(metrics, ['a', 'b']);
  expect(metrics.observations.every((o) => o.value === 0)).toBe(true);
  for (const provider of ['a', 'b']) {
    for (const status of TERMINAL_STATUSES) {
      for (const metric of [
        'batchesTerminal',
        'requestsBilled',
        'inputTokens',
        'outputTokens',
        'estimatedCost',
      ] as const) {
        expect(metrics.of(metric, { provider, status })).toHaveLength(1);
      }
    }
    expect(metrics.of('providerCalls', { provider })).toHaveLength(
      PROVIDER_OPERATIONS.length * CALL_OUTCOMES.length,
    );
  }
  const kinds = new Set(metrics.observations.map((o) => METRICS[o.metric].kind));
  expect([...kinds].sort()).toEqual(['counter', 'running total']);
});
