// The Temporal Web UI, as a person sees it, against a real dev server, a real worker and a real (emulated) batch:
// the list filtered by our search attribute, the workflow page's summary and current details, and a cancel
// signal sent from the UI's own "Send a Signal" form, ending with the billing line the workflow writes.
//
// Needs Chromium (Debian: `bash scripts/install-chromium.sh`, or CHROMIUM_PATH) and the Temporal CLI
// (`npm run provision`, or TEMPORAL_CLI_PATH). Screenshots of every step go to artifacts/screenshots/.
import OpenAI, { toFile } from 'openai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { BatchkeeperClient, connectClient, type ConnectedClient } from '../../src/client';
import { findTemporalCli, startDevServer, stopChild, type DevServer } from '../../src/dev/temporal-cli';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import type { BatchOutcome } from '../../workflows/contract';

const ROOT = resolve(__dirname, '..', '..');
const SHOTS = join(ROOT, 'artifacts', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const MISSING_CHROMIUM =
  `no Chromium at ${CHROMIUM}: install the Debian packages chromium chromium-driver ` +
  '(bash scripts/install-chromium.sh) or set CHROMIUM_PATH';

const REQUESTS = 100;
/** 100 requests at 1 s each: the batch runs for about 100 s, long enough to look at it and cancel it. */
const REQUEST_SECONDS = 1;
const EMULATOR_PROFILE = 'emulator';
const CANCEL_INPUT = { reason: 'from the web ui', requestedBy: 'browser-test' };
const FAST_POLLS = {
  initialIntervalSeconds: 1,
  maxIntervalSeconds: 1,
  minIntervalSeconds: 1,
  cancelPollIntervalSeconds: 1,
};

jest.setTimeout(180_000);

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a value (not undefined) or the deadline passes; then throws with the last error. */
async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'no attempt finished';
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
      last = 'not yet';
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${String(last)}`);
    }
    await sleep(1000);
  }
}

/** The batchkeeper CLI's `worker` command as a child process, in its own working directory. */
async function startWorkerProcess(
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ child: ChildProcess; log: () => string }> {
  const loader = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  const child = spawn(process.execPath, ['--import', loader, join(ROOT, 'src', 'cli', 'main.ts'), 'worker'], {
    cwd,
    env: { ...env, TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  await waitFor('the worker to start polling', 120_000, async () => {
    if (child.exitCode !== null)
      throw new Error(`worker exited with ${child.exitCode}:\n${out.slice(-3000)}`);
    return out.includes('"worker ready"') ? true : undefined;
  }).catch(async (err: Error) => {
    await stopChild(child, 2000);
    throw new Error(`${err.message}\n${out.slice(-3000)}`);
  });
  return { child, log: () => out };
}

/** The UI keeps polling (no network idle): wait a bounded while for an element instead. */
async function appears(locator: Locator, timeoutMs = 5000): Promise<boolean> {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: timeoutMs });
    return true;
  } catch {
    return false;
  }
}

/** The workflow page's header: the nearest box holding the workflow id heading and the actions menu. */
async function headerText(page: Page, workflowId: string): Promise<string> {
  const heading = page.getByTestId('workflow-id-heading').filter({ hasText: workflowId });
  await heading.waitFor();
  const header = heading.locator('xpath=ancestor::div[.//button[contains(., "More Actions")]][1]');
  return (await header.innerText()).replace(/\s+/g, ' ');
}

/** Text of the markdown the UI renders (in an iframe) under a User Metadata heading, as a person reads it. */
async function markdownPanel(page: Page, heading: string): Promise<Locator> {
  const panel = page
    .locator('div, section')
    .filter({ has: page.getByText(heading, { exact: true }) })
    .filter({ has: page.locator('iframe') })
    .last();
  await panel.waitFor({ state: 'visible', timeout: 15_000 });
  return panel.frameLocator('iframe').last().locator('body');
}

async function panelText(page: Page, heading: string): Promise<string> {
  const body = await markdownPanel(page, heading);
  return (await body.innerText({ timeout: 15_000 })).replace(/\s+/g, ' ').trim();
}

/** "in_progress: 48 of 100 done (48%)" as the UI renders the workflow's current details. */
const PROGRESS = /\b([a-z_]+): (\d+) of (\d+) done \((\d+)%\)/;

describe('Temporal Web UI against the dev server', () => {
  if (!HAVE_CHROMIUM) {
    if (process.env.CI) {
      test('Chromium is installed', () => {
        throw new Error(MISSING_CHROMIUM);
      });
    } else {
      console.warn(`\n*** SKIPPING the Web UI browser test: ${MISSING_CHROMIUM} ***\n`);
      test.skip(`Web UI browser test (${MISSING_CHROMIUM})`, () => undefined);
    }
    return;
  }

  let tmp = '';
  let dev: DevServer | null = null;
  let emulator: EmulatorHandle | null = null;
  let worker: { child: ChildProcess; log: () => string } | null = null;
  let conn: ConnectedClient | null = null;
  let browser: Browser | null = null;
  let page: Page;
  let bk: BatchkeeperClient;
  let openai: OpenAI;
  let ui = '';
  let batchId = '';
  let workflowId = '';
  let runId = '';
  /** Requests the UI made to anything but this machine: it must work offline (no fonts or scripts from a CDN). */
  const external: string[] = [];

  const shot = async (name: string) => {
    await page.screenshot({ path: join(SHOTS, `web-ui-${name}.png`) });
  };
  /** A failing step leaves a full-page screenshot of where it stopped, and the worker's log. */
  const step = async (name: string, body: () => Promise<void>) => {
    try {
      await body();
    } catch (err) {
      await Promise.resolve()
        .then(() => page.screenshot({ path: join(SHOTS, `web-ui-${name}-FAILED.png`), fullPage: true }))
        .catch(() => {});
      if (worker) writeFileSync(join(SHOTS, 'web-ui-worker.log'), worker.log());
      throw err;
    }
  };

  beforeAll(async () => {
    const cliPath = findTemporalCli(process.env);
    if (!cliPath) {
      throw new Error('no Temporal CLI: run `npm run provision` (builds it once) or set TEMPORAL_CLI_PATH');
    }
    mkdirSync(SHOTS, { recursive: true });
    for (const f of readdirSync(SHOTS)) if (/^web-ui-.*\.(png|log)$/.test(f)) rmSync(join(SHOTS, f));
    tmp = mkdtempSync(join(tmpdir(), 'batchkeeper-webui-'));
    const [port, uiPort] = [await freePort(), await freePort()];
    dev = await startDevServer({ cliPath, dataDir: join(tmp, 'temporal'), port, uiPort });
    ui = dev.uiUrl;
    emulator = await startEmulator({ requestSeconds: REQUEST_SECONDS, dataDir: join(tmp, 'emulator') });

    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !k.startsWith('TEMPORAL_') && !k.startsWith('BATCHKEEPER_'),
      ),
    );
    Object.assign(env, {
      TEMPORAL_ADDRESS: dev.address,
      TEMPORAL_NAMESPACE: 'default',
      BATCHKEEPER_PROVIDERS: JSON.stringify([
        {
          name: EMULATOR_PROFILE,
          baseURL: emulator.url,
          apiKeyEnv: 'BROWSER_TEST_EMULATOR_KEY',
          kind: 'openai',
          // The batch polls itself at FAST_POLLS, so the page shows progress. A fleet-polled batch reports
          // progress every 30 min by default: whether any showed depended on its first look coming after the
          // first request was done, which a worker on idle cores beat (a 60 s wait for progress that never came).
          fleetPolling: false,
        },
      ]),
      BROWSER_TEST_EMULATOR_KEY: emulator.apiKey,
      BATCHKEEPER_LEDGER_PATH: join(tmp, 'ledger.sqlite'),
      BATCHKEEPER_LOG_LEVEL: 'info',
    });
    // Before the batch exists: the worker registers the Batch* search attributes when it starts.
    worker = await startWorkerProcess(env, tmp);

    openai = new OpenAI({ baseURL: emulator.url, apiKey: emulator.apiKey, maxRetries: 0 });
    const lines = Array.from({ length: REQUESTS }, (_, i) =>
      JSON.stringify({
        custom_id: `ui-${i + 1}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Request ${i + 1}` }] },
      }),
    );
    const file = await openai.files.create({
      file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'web-ui.jsonl'),
      purpose: 'batch',
    });
    const batch = await openai.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    batchId = batch.id;

    conn = await connectClient({ address: dev.address, namespace: 'default', env: {} });
    bk = new BatchkeeperClient(conn.client);
    const tracked = await bk.track(batchId, { provider: EMULATOR_PROFILE, pollPolicy: FAST_POLLS });
    expect(tracked.started).toBe(true);
    workflowId = tracked.workflowId;
    runId = tracked.runId;
    expect(workflowId).toBe(`batch-${batchId}`);

    // The workflow has seen the batch running with some requests done (its status query says so). A wait, not a
    // speed check: on 2 busy cores the worker's first tasks took over a minute (the batch itself runs ~100 s).
    await waitFor('the workflow to see the batch in_progress', 90_000, async () => {
      const s = await bk.status(batchId, { queryTimeoutMs: 3000 });
      const snap = s.source === 'query' ? s.view.snapshot : null;
      return snap?.status === 'in_progress' && snap.requestCounts.completed > 0 ? true : undefined;
    });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(20_000);
    page.on('request', (req) => {
      const { protocol, hostname } = new URL(req.url());
      if (!['data:', 'blob:', 'about:'].includes(protocol) && !['localhost', '127.0.0.1'].includes(hostname))
        external.push(req.url());
    });
  }, 240_000);

  afterAll(async () => {
    const errors: unknown[] = [];
    const attempt = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    await attempt(async () => browser?.close());
    await attempt(async () => conn?.close());
    const child = worker?.child;
    if (child) await attempt(() => stopChild(child, 15_000));
    await attempt(async () => emulator?.close());
    await attempt(async () => dev?.stop());
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (errors.length > 0) console.warn('web-ui test cleanup:', errors);
  }, 60_000);

  test('the workflow list filtered by the BatchStatus search attribute shows the batch', async () => {
    await step('1-list', async () => {
      const listUrl = (query: string) =>
        `${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;

      // Visibility is eventually consistent: reload until the row is there.
      const row = page.getByRole('link', { name: workflowId, exact: true });
      await waitFor(`${workflowId} in the list for BatchStatus="in_progress"`, 30_000, async () => {
        await page.goto(listUrl('BatchStatus="in_progress"'), { waitUntil: 'load' });
        return (await appears(row)) ? true : undefined;
      });
      // The filter came from the URL: the UI shows it as a filter chip and counts one workflow.
      await page.getByRole('button', { name: /BatchStatus\s*=\s*"in_progress"/ }).waitFor();
      await page.getByRole('heading', { name: /^1 Workflow\b/ }).waitFor();
      await shot('1-list-in-progress');

      // And the filter really filters: nothing has BatchStatus "cancelled" yet.
      await page.goto(listUrl('BatchStatus="cancelled"'), { waitUntil: 'load' });
      await page.getByRole('heading', { name: /^0 Workflows\b/ }).waitFor();
      expect(await row.count()).toBe(0);
    });
  });

  test('the workflow page shows the static summary and the current details with the progress line', async () => {
    await step('2-workflow', async () => {
      await page.goto(`${ui}/namespaces/default/workflows/${workflowId}/${runId}/history`, {
        waitUntil: 'load',
      });
      await page.getByRole('heading', { name: workflowId }).waitFor();
      expect(await headerText(page, workflowId)).toMatch(/\bRunning\b/);
      await page.getByRole('tab', { name: /User Metadata/ }).click();

      const summary = await panelText(page, 'Summary');
      expect(summary).toBe(`Batch ${batchId} on ${EMULATOR_PROFILE}`);

      const details = await waitFor('the current details', 15_000, async () => {
        const text = await panelText(page, 'Current Details');
        return PROGRESS.test(text) ? text : undefined;
      });
      const [, status, done, total] = PROGRESS.exec(details)!;
      expect(status).toBe('in_progress');
      expect(Number(total)).toBe(REQUESTS);
      expect(Number(done)).toBeGreaterThan(0);
      expect(Number(done)).toBeLessThan(REQUESTS);
      expect(details).toContain(`Batch ${batchId} on ${EMULATOR_PROFILE}`);
      await shot('2-workflow-details');
    });
  });

  test('a cancel signal sent from the UI form cancels the batch; the page shows the billing', async () => {
    await step('3-signal', async () => {
      await page.goto(`${ui}/namespaces/default/workflows/${workflowId}/${runId}/history`, {
        waitUntil: 'load',
      });
      await page.getByRole('button', { name: /More Actions/ }).click();
      await page.getByRole('menuitem', { name: /Send a Signal/ }).click();
      const dialog = page.getByRole('dialog').filter({ hasText: 'Send a Signal' });
      await dialog.waitFor();
      // The signal list comes from the workflow's own definition (the SDK's metadata query).
      await dialog.getByRole('button', { name: /Signal name|Select a signal/ }).click();
      await dialog.getByRole('option', { name: /^cancel\b/ }).click();
      // The chosen signal shows in the (read-only) select input; the payload goes into the JSON code editor.
      expect(await dialog.getByTestId('signal-select').inputValue()).toBe('cancel');
      const editor = dialog.getByRole('textbox').and(dialog.locator('[contenteditable="true"]'));
      await editor.click();
      await page.keyboard.insertText(JSON.stringify(CANCEL_INPUT));
      expect(JSON.parse(await editor.innerText())).toEqual(CANCEL_INPUT);
      await shot('3-signal-form');
      await dialog.getByRole('button', { name: 'Submit' }).click();
      await dialog.waitFor({ state: 'hidden' });
    });

    // The workflow received exactly what the form sent.
    const cancel = await waitFor('the cancel record in the status query', 30_000, async () => {
      const s = await bk.status(batchId, { queryTimeoutMs: 3000 });
      return s.source === 'query' && s.view.cancel ? s.view.cancel : undefined;
    });
    expect(cancel).toMatchObject({ ...CANCEL_INPUT, source: 'signal', duplicates: 0, tooLate: false });

    const outcome: BatchOutcome = await bk.waitForOutcome(batchId, { timeoutMs: 90_000 });
    expect(outcome.status).toBe('cancelled');
    const final = await openai.batches.retrieve(batchId);
    expect(final.status).toBe('cancelled');
    const billed = final.request_counts?.completed ?? -1;
    expect(billed).toBeGreaterThan(0);
    expect(billed).toBeLessThan(REQUESTS);

    await step('4-cancelled', async () => {
      const details = await waitFor(
        'the page to show the cancelled batch and its billing',
        60_000,
        async () => {
          await page.goto(`${ui}/namespaces/default/workflows/${workflowId}`, { waitUntil: 'load' });
          await page.getByRole('heading', { name: workflowId }).waitFor();
          if (!/\bCompleted\b/.test(await headerText(page, workflowId))) return undefined;
          await page.getByRole('tab', { name: /User Metadata/ }).click();
          const text = await panelText(page, 'Current Details');
          return /^cancelled: /.test(text) && /\d+ billed/.test(text) ? text : undefined;
        },
      );
      // What a person sees: the workflow Completed, the batch cancelled, who asked and why, what was billed.
      expect(details).toMatch(PROGRESS);
      expect(PROGRESS.exec(details)![1]).toBe('cancelled');
      // (the UI's markdown renders straight quotes as typographic ones)
      expect(details).toMatch(/Cancel requested \S+ by browser-test — [“"]from the web ui[”"]; provider: /);
      const shownBilled = Number(/Billing: (\d+) billed/.exec(details)?.[1]);
      expect(shownBilled).toBe(billed);
      expect(shownBilled).toBe(outcome.billing.billed);
      // The details box is short (the UI sizes it): make sure the billing line is in view for the screenshot.
      const body = await markdownPanel(page, 'Current Details');
      await body.getByText(/billed/).scrollIntoViewIfNeeded();
      await shot('4-cancelled-billing');

      // The search attribute followed: the list filtered by BatchStatus="cancelled" now has it.
      const row = page.getByRole('link', { name: workflowId, exact: true });
      await waitFor(`${workflowId} in the list for BatchStatus="cancelled"`, 30_000, async () => {
        await page.goto(
          `${ui}/namespaces/default/workflows?query=${encodeURIComponent('BatchStatus="cancelled"')}`,
          { waitUntil: 'load' },
        );
        return (await appears(row)) ? true : undefined;
      });
      await shot('5-list-cancelled');
    });
  });

  test('the UI needed nothing from the internet', () => {
    expect(external).toEqual([]);
  });
});
