// Records the replay fixtures in test/fixtures/histories. Re-record only when a workflow change is meant to
// be incompatible (and then version it): the old fixtures are what running workflows in production look like.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { recordScenarios } from '../test/helpers/scenarios';
import { createTimeSkippingEnv } from '../test/helpers/temporal-env';

async function main(): Promise<void> {
  const env = await createTimeSkippingEnv();
  try {
    for (const s of await recordScenarios(env)) {
      const file = join(__dirname, '..', 'test', 'fixtures', 'histories', `${s.name}.json`);
      writeFileSync(file, historyToJSON(s.history) + '\n');
      console.log(`wrote ${file} (${s.history.events?.length ?? 0} events)`);
    }
  } finally {
    await env.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
