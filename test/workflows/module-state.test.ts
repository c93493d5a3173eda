// The worker loads workflows/ once for all cached workflows (src/worker/workflow-bundle-options.ts): a module that
// kept state at its top level would share it between runs, and replays would diverge. This keeps the top levels
// to declarations.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { sourceFiles } from '../helpers/workflow-bundle';

const DIR = join(__dirname, '..', '..', 'workflows');

/** What a top-level statement may be: imports, exports of names, types, functions, classes, `const` bindings. */
function problems(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const at = (node: ts.Node) => `${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  for (const statement of source.statements) {
    if (
      ts.isImportDeclaration(statement) ||
      ts.isExportDeclaration(statement) ||
      ts.isInterfaceDeclaration(statement) ||
      ts.isTypeAliasDeclaration(statement) ||
      ts.isFunctionDeclaration(statement) ||
      ts.isClassDeclaration(statement) ||
      ts.isEnumDeclaration(statement)
    ) {
      continue;
    }
    if (ts.isVariableStatement(statement)) {
      if (!(statement.declarationList.flags & ts.NodeFlags.Const)) {
        found.push(`${at(statement)} top-level let/var`);
        continue;
      }
      for (const d of statement.declarationList.declarations) {
        const init = d.initializer;
        // A fresh Map, Set, array and so on would be one object for every run.
        if (init && ts.isNewExpression(init)) found.push(`${at(d)} top-level \`new\``);
      }
      continue;
    }
    found.push(`${at(statement)} top-level statement (${ts.SyntaxKind[statement.kind]})`);
  }
  return found;
}

test('workflow modules keep no state at their top level', () => {
  const files = sourceFiles(DIR).filter((f) => f.endsWith('.ts'));
  expect(files.length).toBeGreaterThan(10);
  expect(files.flatMap((f) => problems(relative(DIR, f), readFileSync(f, 'utf8')))).toEqual([]);
});

test('the check sees state: a top-level let, a shared Map, a statement', () => {
  // Guards the guard, on a module written for it.
  const text = 'let n = 0;\nconst seen = new Map();\nn += 1;\nexport const ok = 1;\n';
  expect(problems('m.ts', text)).toEqual([
    'm.ts:1 top-level let/var',
    'm.ts:2 top-level `new`',
    'm.ts:3 top-level statement (ExpressionStatement)',
  ]);
});
