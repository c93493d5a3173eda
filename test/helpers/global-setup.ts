import { testServerPath } from './temporal-env';

export default function globalSetup(): void {
  const path = testServerPath();
  if (path) process.env.TEMPORAL_TEST_SERVER_PATH = path;
}
