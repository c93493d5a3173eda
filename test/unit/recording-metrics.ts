// A BatchkeeperMetrics that remembers every observation, for tests that check what was counted.
import type { BatchkeeperMetrics, MetricKey } from '../../src/worker/metrics';
import { METRICS } from '../../src/worker/metrics';

export interface Observation {
  metric: MetricKey;
  value: number;
  labels: Record<string, string>;
}

export interface RecordingMetrics extends BatchkeeperMetrics {
  observations: Observation[];
  /** Observations of one metric, optionally only those whose labels include `labels`. */
  of(metric: MetricKey, labels?: Record<string, string>): Observation[];
  /** Sum of the values of `of(metric, labels)`. */
  sum(metric: MetricKey, labels?: Record<string, string>): number;
}

export function recordingMetrics(): RecordingMetrics {
  const observations: Observation[] = [];
  const of = (metric: MetricKey, labels: Record<string, string> = {}) =>
    observations.filter(
      (o) => o.metric === metric && Object.entries(labels).every(([k, v]) => o.labels[k] === v),
    );
  const instruments = Object.fromEntries(
    (Object.keys(METRICS) as MetricKey[]).map((metric) => [
      metric,
      (value: number, labels: Record<string, string>) => observations.push({ metric, value, labels }),
    ]),
  ) as unknown as BatchkeeperMetrics;
  return {
    ...instruments,
    observations,
    of,
    sum: (metric, labels) => of(metric, labels).reduce((s, o) => s + o.value, 0),
  };
}
