// Workflow time in unix seconds (the sandbox's Date is the workflow clock, the same on every replay).

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
