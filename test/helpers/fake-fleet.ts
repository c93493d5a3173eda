// Many scripted batches behind one provider profile: a submission of any size and window on the time-skipping
// server. Validation and creation are scripted (no files); retrieve, cancel and the ledger are the real
// activities over FakeProviders routed by batch id. Result files are not served: start submissions with
// `results: { download: false }` (billing comes from the batches' counts and usage).
import type OpenAI from 'openai';
import type { Client } from '@temporalio/client';
import { APIError } from 'openai';
import { createActivities } from '../../activities';
import { ProviderRegistry, type ProviderProfile } from '../../activities/providers';
import { batchLifecycle } from '../../workflows';
import { batchWorkflowId } from '../../workflows/contract';
import type { RecordOutcomeInput, WorkerActivities } from '../../workflows/shared/activity-types';
import type { SubmissionChunk } from '../../workflows/shared/submission-activity-types';
import { FAKE_VALID_KEY, FakeProvider, type BatchPlan } from './fake-provider';

export type FleetPlan = Omit<BatchPlan, 'id'>;

export class FakeFleet {
  /** By batch id, in creation order. */
  readonly fakes = new Map<string, FakeProvider>();
  readonly recorded: RecordOutcomeInput[] = [];
  /** createBatch calls, retries included. */
  creates = 0;
  /** batches.list calls (fleet sweeps), and the batches their pages held. */
  listCalls = 0;
  /** Batches the provider's list leaves out (a provider whose list is partial): only retrieve finds them. */
  readonly unlisted = new Set<string>();
  /** The most a list page holds (OpenAI's 100; smaller makes a few batches span several pages). */
  pageSize = 100;
  private readonly byTag = new Map<string, string>();

  /**
   * @param plans one per chunk of the submission (round 0)
   * @param clock server time in ms (the test environment's `currentTimeMs`)
   * @param profile more fields of the `fake` profile (e.g. `fleetPolling: true`)
   */
  constructor(
    readonly name: string,
    readonly plans: FleetPlan[],
    private readonly clock: () => Promise<number>,
    private readonly profile: Partial<ProviderProfile> = {},
  ) {}

  /** A batch created elsewhere (to be tracked): its id. */
  add(plan: FleetPlan): string {
    const id = `${this.name}_${this.fakes.size}`;
    this.fakes.set(id, new FakeProvider({ id, ...plan }, this.clock));
    return id;
  }

  /** Retrieve calls over every batch. */
  retrieves(): number {
    return [...this.fakes.values()].reduce((n, f) => n + f.count('retrieve'), 0);
  }

  /** `GET /batches`: newest first, `limit` (at most 100) a page after the `after` cursor, like OpenAI's. */
  private async list(query: { after?: string; limit?: number } = {}) {
    this.listCalls += 1;
    const ids = [...this.fakes.keys()].reverse().filter((id) => !this.unlisted.has(id));
    const from = query.after === undefined ? 0 : ids.indexOf(query.after) + 1;
    const page = ids.slice(from, from + Math.min(query.limit ?? 20, this.pageSize));
    const now = await this.clock();
    const data = page.map((id) => (this.fakes.get(id) as FakeProvider).stateAt(Math.floor(now / 1000)));
    return {
      object: 'list',
      data,
      first_id: page[0] ?? null,
      last_id: page[page.length - 1] ?? null,
      has_more: from + page.length < ids.length,
    };
  }

  get totalRequests(): number {
    return this.plans.reduce((n, p) => n + p.total, 0);
  }

  activities(): WorkerActivities {
    const notFound = (id: string) =>
      APIError.generate(
        404,
        { error: { message: `No batch found with id '${id}'.`, code: 'not_found' } },
        undefined,
        new Headers(),
      );
    const fake = (id: string) => {
      const f = this.fakes.get(id);
      if (!f) throw notFound(id);
      return f.client();
    };
    const client = {
      batches: {
        retrieve: async (id: string) => fake(id).batches.retrieve(id),
        cancel: async (id: string) => fake(id).batches.cancel(id),
        list: (query?: { after?: string; limit?: number }) => this.list(query),
      },
      files: {
        content: async (id: string) => {
          throw notFound(id);
        },
        delete: async (id: string) => ({ id, deleted: true }),
      },
    };
    const real = createActivities({
      providers: new ProviderRegistry(
        [
          {
            name: 'fake',
            baseURL: 'http://fake.invalid/v1',
            apiKeyEnv: 'FAKE_FLEET_KEY',
            kind: 'generic',
            ...this.profile,
          },
        ],
        { FAKE_FLEET_KEY: FAKE_VALID_KEY },
        () => client as unknown as OpenAI,
      ),
      outcomes: { record: async (input) => void this.recorded.push(input) },
    });
    const chunks: SubmissionChunk[] = this.plans.map((p, index) => ({
      index,
      path: `/fake/${this.name}/chunk-${index}.jsonl`,
      lines: p.total,
      bytes: p.total * 100,
      sha256: `sha-${index}`,
      firstLine: 1,
      lastLine: p.total,
    }));
    return {
      ...real,
      validateSubmission: async (input) => ({
        ok: true,
        provider: input.provider,
        endpoint: input.endpoint,
        completionWindow: input.completionWindow ?? '24h',
        model: 'gpt-4o-mini',
        lines: this.totalRequests,
        bytes: this.totalRequests * 100,
        wrapped: 0,
        defaultedModel: 0,
        chunks,
        inputFileId: null,
        problems: [],
        problemCount: 0,
        validatedAt: Math.floor((await this.clock()) / 1000),
      }),
      // Idempotent by the workflow's tag, like the real one: a retried create adopts the batch it made.
      createBatch: async (input) => {
        this.creates += 1;
        const adopted = this.byTag.has(input.workflowId);
        let id = this.byTag.get(input.workflowId);
        if (id === undefined) {
          const index = input.chunk?.index ?? 0;
          id = `${this.name}_${this.fakes.size}`;
          this.fakes.set(id, new FakeProvider({ id, ...this.plans[index] }, this.clock));
          this.byTag.set(input.workflowId, id);
        }
        return {
          snapshot: await real.retrieveBatch({ provider: input.provider, batchId: id }),
          adopted,
          reusedFile: false,
          inputFileId: 'file-input',
        };
      },
      buildResubmission: async () => {
        throw new Error('FakeFleet serves no result files to resubmit from');
      },
    };
  }
}

/** Starts a batch workflow tracking each of these batches (`results: { download: false }`), 100 at a time. */
export async function trackAll(client: Client, taskQueue: string, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 100) {
    await Promise.all(
      ids.slice(i, i + 100).map((batchId) =>
        client.workflow.start(batchLifecycle, {
          taskQueue,
          workflowId: batchWorkflowId(batchId),
          args: [{ batchId, provider: 'fake', results: { download: false } }],
        }),
      ),
    );
  }
}
