// @ts-check
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

module.exports = tseslint.config(
  { ignores: ['dist/**', 'packages/*/dist/**', 'node_modules/**', 'coverage/**', '*.js', 'artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: __dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  {
    // Tests read untyped JSON (provider files, histories) and use jest's asymmetric matchers, typed `any`.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  // Workflow code runs in Temporal's deterministic sandbox (no Node built-ins, no I/O), and in layers: contract/
  // imports nothing else of workflows/, shared/ only contract/, each workflow's folder contract/, shared/ and its
  // own files (test/workflows/layers.test.ts checks the same, cycles included).
  ...workflowLayer(
    'workflows/contract/**/*.ts',
    '^\\.\\./|^@temporalio/workflow$',
    'contract/ imports only contract/ files and no @temporalio/workflow: clients install it alone.',
  ),
  ...workflowLayer(
    'workflows/shared/**/*.ts',
    '^\\.\\./(batch|submission|fleet|budget|index)(/|$)|^\\.\\.$',
    'shared/ imports only contract/ and shared/.',
  ),
  ...['batch', 'submission', 'fleet', 'budget'].flatMap((domain) =>
    workflowLayer(
      `workflows/${domain}/**/*.ts`,
      `^\\.\\./(?!contract(/|$)|shared(/|$))|^\\.\\.$`,
      `${domain}/ imports only contract/, shared/ and its own files (another workflow is started by its type name).`,
    ),
  ),
  ...workflowLayer('workflows/*.ts', null, ''),
);

/** The sandbox's rules, and the layer's own (a regex of the import paths it may not use). */
function workflowLayer(files, forbidden, message) {
  const patterns = [
    {
      regex: '^(node:.*|fs|path|http|https|crypto|os|child_process)$',
      message: 'No Node built-ins in workflow code.',
    },
    {
      regex: '^(openai(/.*)?|(\\.\\./)+(activities|src)(/.*)?)$',
      message: 'Workflow code must stay deterministic: side effects belong in activities.',
    },
  ];
  if (forbidden) patterns.push({ regex: forbidden, message });
  return [{ files: [files], rules: { 'no-restricted-imports': ['error', { patterns }] } }];
}
