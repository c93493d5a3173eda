// Signal, query and update definitions as plain data (what `defineSignal` and friends of @temporalio/workflow
// return): the contract is imported by clients that install only @temporalio/client, and by the workflows.
import type { QueryDefinition, SignalDefinition, UpdateDefinition } from '@temporalio/common';

export function signal<Args extends unknown[] = []>(name: string): SignalDefinition<Args> {
  return { type: 'signal', name } as SignalDefinition<Args>;
}

export function query<Ret>(name: string): QueryDefinition<Ret> {
  return { type: 'query', name } as QueryDefinition<Ret>;
}

export function update<Ret, Args extends unknown[]>(name: string): UpdateDefinition<Ret, Args> {
  return { type: 'update', name } as UpdateDefinition<Ret, Args>;
}
