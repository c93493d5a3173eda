// The shipped Grafana dashboard and docs/metrics.md against the metrics the worker exports (src/worker/metrics.ts):
// every query names only exported, documented metrics and their labels; every metric is documented and charted.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { METRIC_SPECS } from '../../src/worker/metrics';

const REPO = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(REPO, path), 'utf8');

interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query: string | { query: string }; datasource?: { uid?: string } }[] };
}

const dashboard = JSON.parse(read('docker/grafana/dashboards/batchkeeper.json')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const charts = panels.filter((p) => p.type !== 'row');
const queries = [
  ...charts.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr ?? '' }))),
  ...dashboard.templating.list.map((v) => ({
    where: `variable ${v.name}`,
    expr: typeof v.query === 'string' ? v.query : v.query.query,
  })),
];

const exported = new Map(METRIC_SPECS.map((m) => [m.name, m]));
const HISTOGRAM_SERIES = /_(bucket|sum|count)$/;

/** The exported metric a series name belongs to (`x_bucket` of histogram `x` is `x`), or undefined. */
function metricOf(series: string) {
  const direct = exported.get(series);
  if (direct) return direct;
  const base = exported.get(series.replace(HISTOGRAM_SERIES, ''));
  return base?.kind === 'histogram' ? base : undefined;
}

/** Rows of the table under "## The metrics" in docs/metrics.md: name, type, labels. */
function documented(): { name: string; kind: string; labels: string[] }[] {
  const section = read('docs/metrics.md')
    .split(/^## /m)
    .find((s) => s.startsWith('The metrics'));
  if (!section) throw new Error('docs/metrics.md has no "## The metrics" section');
  return section
    .split('\n')
    .filter((line) => /^\| `batchkeeper_/.test(line))
    .map((line) => {
      const cells = line.split('|').map((c) => c.trim());
      return {
        name: cells[1].replace(/`/g, ''),
        kind: cells[2],
        labels: [...cells[4].matchAll(/`([a-z_]+)`/g)].map((m) => m[1]).sort(),
      };
    });
}

test('the dashboard parses, has panels with queries, and every panel reads the provisioned Prometheus', () => {
  const uid = /^\s+uid:\s*(\S+)\s*$/m.exec(
    read('docker/grafana/provisioning/datasources/prometheus.yml'),
  )?.[1];
  expect(uid).toBeTruthy();
  expect(charts.length).toBeGreaterThan(5);
  for (const p of charts) {
    expect({ title: p.title, datasource: p.datasource?.uid }).toEqual({ title: p.title, datasource: uid });
    expect(p.targets?.length).toBeGreaterThan(0);
    for (const t of p.targets ?? []) {
      expect(t.expr?.trim()).toBeTruthy();
      expect(t.datasource?.uid).toBe(uid);
    }
  }
  for (const v of dashboard.templating.list) expect(v.datasource?.uid).toBe(uid);
  expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
});

test('panels do not overlap on the 24-column grid', () => {
  const cells = new Map<string, string>();
  for (const p of panels) {
    const { x, y, w, h } = p.gridPos;
    expect(x + w).toBeLessThanOrEqual(24);
    for (let i = x; i < x + w; i++) {
      for (let j = y; j < y + h; j++) {
        const key = `${i},${j}`;
        expect({ cell: key, panel: cells.get(key) ?? p.title }).toEqual({ cell: key, panel: p.title });
        cells.set(key, p.title);
      }
    }
  }
});

test.each(queries.map((q) => [q.where, q.expr]))(
  '%s: only exported metrics, with their own labels',
  (_where, expr) => {
    const names = [...expr.matchAll(/\b(batchkeeper_[a-z0-9_]+)/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(0);
    const specs = names.map((n) => {
      const spec = metricOf(n);
      if (!spec) throw new Error(`${n} is not a metric the worker exports (src/worker/metrics.ts)`);
      return spec;
    });
    // Label names in matchers ({provider=~"..."}) and in by/without clauses.
    const labels = new Set<string>();
    for (const m of expr.matchAll(/\{([^}]*)\}/g)) {
      for (const l of m[1].matchAll(/([a-z_]+)\s*(=~|!~|!=|=)/g)) labels.add(l[1]);
    }
    for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
      for (const l of m[1].split(',')) if (l.trim()) labels.add(l.trim());
    }
    const known = new Set(['le', ...specs.flatMap((s) => s.labels)]);
    for (const label of labels)
      expect({ expr, label, known: known.has(label) }).toEqual({ expr, label, known: true });
  },
);

test('docs/metrics.md lists exactly the exported metrics, with their types and labels', () => {
  const docs = documented();
  expect(docs.map((d) => d.name).sort()).toEqual([...exported.keys()].sort());
  for (const d of docs) {
    const spec = exported.get(d.name);
    expect({ name: d.name, kind: d.kind, labels: d.labels }).toEqual({
      name: d.name,
      // A running total is a gauge to Prometheus, and so in the docs.
      kind: spec?.kind === 'running total' ? 'gauge' : spec?.kind,
      labels: [...(spec?.labels ?? [])].sort(),
    });
  }
});

test('every exported metric is charted', () => {
  const charted = new Set(
    queries.flatMap((q) =>
      [...q.expr.matchAll(/\b(batchkeeper_[a-z0-9_]+)/g)].map((m) => metricOf(m[1])?.name),
    ),
  );
  expect([...exported.keys()].filter((name) => !charted.has(name))).toEqual([]);
});

test('Grafana loads the dashboard from where compose mounts it', () => {
  const provider = read('docker/grafana/provisioning/dashboards/batchkeeper.yml');
  const path = /^\s+path:\s*(\S+)\s*$/m.exec(provider)?.[1];
  const compose = read('docker-compose.yml');
  expect(compose).toContain(`./docker/grafana/dashboards:${path}:ro`);
  expect(compose).toContain(`GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: ${path}/batchkeeper.json`);
});
