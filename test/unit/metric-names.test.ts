// The metric table against Prometheus' naming conventions, and the instruments createMetrics builds from it.
import type { MetricMeter, MetricTags } from '@temporalio/common';
import { HISTOGRAM_BUCKETS, METRICS, METRIC_SPECS, createMetrics } from '../../src/worker/metrics';

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
  expect(made.map(({ kind, name, unit }) => ({ kind, name, unit }))).toEqual(
    METRIC_SPECS.map(({ kind, name, unit }) => ({ kind, name, unit })),
  );
  // Money and durations are fractions.
  expect(made.filter((m) => m.kind === 'histogram').every((m) => m.valueType === 'float')).toBe(true);
  expect(Object.keys(metrics).sort()).toEqual(Object.keys(METRICS).sort());

  const labels = { provider: 'p', status: 'completed' };
  metrics.requestsBilled(3, labels);
  metrics.requestsBilled(-1, labels);
  metrics.requestsBilled(Number.NaN, labels);
  metrics.estimatedCost(0.0042, labels);
  metrics.pollLateness(Number.POSITIVE_INFINITY, labels);
  expect(seen).toEqual([
    { name: 'batchkeeper_requests_billed_total', value: 3, tags: labels },
    { name: 'batchkeeper_batch_estimated_cost_usd', value: 0.0042, tags: labels },
  ]);
});
