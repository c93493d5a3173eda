// The Temporal dev server of a fault run: its state in a SQLite file, so a kill and restart on the same port
// is a server outage, not a new cluster (workflows, timers and task queues survive it).
import { Client, Connection } from '@temporalio/client';
import { findTemporalCli, startDevServer, type DevServer } from '../../src/dev/temporal-cli';
import { freePort } from '../../test/e2e/harness';

export interface TemporalServer {
  address: string;
  client: Client;
  /** SIGKILL, `downMs` without a server, then the same server again on the same port and database. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startTemporalServer(dataDir: string): Promise<TemporalServer> {
  const cliPath = findTemporalCli();
  if (!cliPath) throw new Error('no Temporal CLI: run `npm run provision` (or set TEMPORAL_CLI_PATH)');
  const opts = { cliPath, dataDir, port: await freePort(), uiPort: await freePort() };
  let server: DevServer = await startDevServer(opts);
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: 'default' });
  return {
    address: server.address,
    client,
    async restart(downMs) {
      const exited = new Promise((r) => server.child.once('exit', r));
      server.child.kill('SIGKILL');
      await exited;
      await new Promise((r) => setTimeout(r, downMs));
      server = await startDevServer(opts);
    },
    async stop() {
      await connection.close();
      await server.stop();
    },
  };
}
