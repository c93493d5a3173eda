// How workflow code is bundled, wherever that happens (worker start, the prebuilt bundle, tests).

/**
 * Modules loaded once into the worker's shared V8 context instead of once per cached workflow (the SDK's
 * `preloadModules`): our workflow modules. At their top level they hold only constants, signal and query
 * definitions and activity proxies (which find the running workflow when called), never state of a run; that is
 * what makes sharing them safe, and test/workflows/module-state.test.ts keeps it so. Halves the heap a cached workflow
 * costs: 81-85 KB instead of 156-158 KB (npm run bench:workflow-memory; docs/scale.md, sizing workers).
 */
export function preloadModules(workflowsPath: string): string[] {
  return [workflowsPath];
}
