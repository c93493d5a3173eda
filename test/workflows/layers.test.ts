// The layers of workflows/, read from the code: contract/ (what clients import) imports nothing else of
// workflows/, shared/ only contract/, each workflow's folder contract/, shared/ and its own files; and no import
// cycle anywhere, type-only imports included (eslint's no-restricted-imports says the same while typing).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { sourceFiles } from '../helpers/workflow-bundle';

const ROOT = join(__dirname, '..', '..', 'workflows');
const WORKFLOW_FOLDERS = ['batch', 'submission', 'fleet', 'budget'];

/** File (relative to workflows/) -> the files of workflows/ it imports or re-exports from, and its packages. */
type Graph = Map<string, { files: string[]; packages: string[] }>;

function importGraph(root: string): Graph {
  const graph: Graph = new Map();
  for (const file of sourceFiles(root).filter((f) => f.endsWith('.ts'))) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const files: string[] = [];
    const packages: string[] = [];
    for (const statement of source.statements) {
      const spec =
        (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
        statement.moduleSpecifier &&
        ts.isStringLiteral(statement.moduleSpecifier)
          ? statement.moduleSpecifier.text
          : null;
      if (spec === null) continue;
      if (!spec.startsWith('.')) {
        packages.push(spec);
        continue;
      }
      const target = resolve(dirname(file), spec);
      const resolved = [`${target}.ts`, join(target, 'index.ts')].find((f) => existsSync(f));
      if (!resolved) throw new Error(`${relative(root, file)}: cannot resolve ${spec}`);
      files.push(relative(root, resolved));
    }
    graph.set(relative(root, file), { files, packages });
  }
  return graph;
}

/** Each import cycle once, as the files along it. */
function cycles(graph: Graph): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file)?.files ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

const layerOf = (file: string): string => (file.includes('/') ? file.split('/')[0] : 'root');

/** What each layer may import from workflows/: the root (the bundle's entry point) may import anything. */
function mayImport(from: string, to: string): boolean {
  if (from === 'root') return true;
  if (from === 'contract') return to === 'contract';
  if (from === 'shared') return to === 'contract' || to === 'shared';
  return to === 'contract' || to === 'shared' || to === from;
}

function violations(graph: Graph): string[] {
  const out: string[] = [];
  for (const [file, { files, packages }] of graph) {
    const from = layerOf(file);
    for (const target of files) {
      if (!mayImport(from, layerOf(target))) out.push(`${file} -> ${target}`);
    }
    // The contract is what clients install with @temporalio/client alone.
    if (from === 'contract') {
      for (const p of packages) if (p !== '@temporalio/common') out.push(`${file} -> ${p}`);
    }
  }
  return out;
}

describe('workflows/ layers', () => {
  const graph = importGraph(ROOT);

  test('the folders are there, each workflow its own', () => {
    const layers = new Set([...graph.keys()].map(layerOf));
    expect([...layers].sort()).toEqual(['contract', 'root', 'shared', ...WORKFLOW_FOLDERS].sort());
  });

  test('no import cycle, type-only imports included', () => {
    expect(cycles(graph)).toEqual([]);
  });

  test('no layer imports upward or sideways', () => {
    expect(violations(graph)).toEqual([]);
  });

  test('the checks see what they are for: a cycle, an upward import, a package in the contract', () => {
    // Guards the guard, on a graph written for it.
    const made: Graph = new Map([
      ['contract/a.ts', { files: ['contract/b.ts'], packages: ['@temporalio/workflow'] }],
      ['contract/b.ts', { files: ['contract/a.ts'], packages: [] }],
      ['shared/s.ts', { files: ['batch/x.ts'], packages: [] }],
      ['batch/x.ts', { files: ['fleet/y.ts', 'shared/s.ts'], packages: [] }],
      ['fleet/y.ts', { files: ['contract/a.ts'], packages: [] }],
    ]);
    expect(cycles(made).map((c) => c.join(' -> '))).toEqual([
      'contract/a.ts -> contract/b.ts -> contract/a.ts',
      'batch/x.ts -> shared/s.ts -> batch/x.ts',
    ]);
    expect(violations(made).sort()).toEqual([
      'batch/x.ts -> fleet/y.ts',
      'contract/a.ts -> @temporalio/workflow',
      'shared/s.ts -> batch/x.ts',
    ]);
  });
});
