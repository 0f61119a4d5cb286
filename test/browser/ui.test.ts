import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp, type HttpServer } from '../../src/http/server.ts';
import { browserSkipReason, launchBrowser, screenshotDir } from '../support/browser.ts';
import { waitFor } from '../support/wait.ts';
import { runEnded, startStack, weftNode, type Stack } from '../support/weft.ts';

/**
 * The web UI in a real browser (Chromium from the OS packages, driven by playwright-core) against
 * a real runtime and worker on a real nats-server: the runs list updates live, a run's graph
 * colours change as it moves, the replay slider at event N shows what `weft replay --to N` prints,
 * a signal sent from the page releases a waiting run, the editor shows a broken blueprint's
 * diagnostic at its line. Each test leaves a screenshot in test-results/screenshots.
 */

const skip = browserSkipReason();
if (skip !== undefined) console.warn(`browser tests skipped: ${skip}`);

const run = promisify(execFile);

let stack: Stack;
let http: HttpServer;
let browser: Browser;
let page: Page;

const gate = {
  name: 'ui_gate',
  signals: [{ name: 'approve', handler: 'store' }],
  steps: [
    { id: 'first', type: 'activity', activity: 'echo', input: '{% $input %}' },
    { id: 'approval', type: 'wait', signal: 'approve' },
    { id: 'last', type: 'activity', activity: 'echo', input: '{% $data.approve %}' },
  ],
};

const startGate = async (runId: string) => {
  await stack.client.call('weft.runs.start', { blueprint: 'ui_gate', runId, input: { n: 1 } });
  // Waiting for the signal: the first step done, the wait entered.
  await waitFor(
    async () => {
      const status = await stack.client.call<{ waitingFor: string[] }>(
        `weft.runs.${runId}.query.get_status`,
      );
      return status.waitingFor.includes('approve') ? true : undefined;
    },
    { timeoutMs: 15_000, message: `run ${runId} waits for approve` },
  );
};

const shot = (name: string) =>
  page.screenshot({ path: join(screenshotDir(), `${name}.png`), fullPage: true });

describe.skipIf(skip !== undefined)('the web UI in Chromium', () => {
  beforeAll(async () => {
    stack = await startStack();
    http = await startHttp({ nc: stack.client.nc, prefix: 'weft', host: '127.0.0.1', port: 0 });
    await stack.client.call('weft.blueprints.put', { blueprint: gate });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  }, 60_000);

  afterAll(async () => {
    // Each may be missing when beforeAll failed part way.
    await (browser as Browser | undefined)?.close();
    await (http as HttpServer | undefined)?.close();
    await (stack as Stack | undefined)?.stop();
  });

  it('serves the built UI at / and its first page lists runs', async () => {
    const response = await fetch(`${http.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    await page.goto(`${http.url}/`);
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    expect(await page.locator('nav.top a').allTextContents()).toEqual([
      'weft',
      'runs',
      'blueprints',
      'editor',
      'activities',
    ]);
  });

  it('the runs list shows a run as it starts and as it ends, without a reload', async () => {
    await page.goto(`${http.url}/#/runs`);
    await page.locator('table.runs').waitFor();
    await startGate('ui-live-1');
    const row = page.locator('tr[data-run="ui-live-1"]');
    await row.waitFor({ timeout: 10_000 });
    expect(await row.getAttribute('data-status')).toBe('running');
    expect(await row.locator('td').nth(2).textContent()).toContain('ui_gate');
    await stack.client.call('weft.runs.ui-live-1.signal.approve', { ok: true });
    await page
      .locator('tr[data-run="ui-live-1"][data-status="completed"]')
      .waitFor({ timeout: 10_000 });
    await shot('runs');
    // Filtered to running runs of its blueprint, it is gone; to completed ones, it is back.
    await page.getByTestId('filter-blueprint').selectOption('ui_gate');
    await page.getByTestId('filter-status').selectOption('running');
    await page.locator('tr[data-run="ui-live-1"]').waitFor({ state: 'detached', timeout: 10_000 });
    await page.getByTestId('filter-status').selectOption('completed');
    await page.locator('tr[data-run="ui-live-1"]').waitFor({ timeout: 10_000 });
    expect(page.url()).toContain('status=completed');
  });

  it("a run's graph colours its steps by state and changes them as the run moves; a signal sent from the page releases it", async () => {
    await startGate('ui-signal-1');
    await page.goto(`${http.url}/#/runs/ui-signal-1`);
    const state = (step: string) =>
      page.locator(`[data-step="${step}"]`).getAttribute('data-state');
    await page.locator('[data-step="approval"][data-state="running"]').waitFor({ timeout: 10_000 });
    expect(await state('first')).toBe('completed');
    expect(await state('last')).toBe('pending');
    await shot('run-waiting');

    await page.getByTestId('signal-name').fill('approve');
    await page.getByTestId('signal-payload').fill('{"approved": true, "by": "ui"}');
    await page.getByTestId('send-signal').click();
    const ended = await runEnded(stack.client, 'ui-signal-1');
    expect(ended.status).toBe('completed');
    expect(ended.output).toMatchObject({ got: { approved: true, by: 'ui' } });
    // The page follows the run live: the steps after the wait turn green.
    await page.locator('[data-step="last"][data-state="completed"]').waitFor({ timeout: 10_000 });
    expect(await state('approval')).toBe('completed');
    await shot('run-completed');
  });

  it('the replay slider at event N shows the state weft replay --to N prints', async () => {
    await startGate('ui-replay-1');
    await stack.client.call('weft.runs.ui-replay-1.signal.approve', { by: 'test' });
    await runEnded(stack.client, 'ui-replay-1');
    await page.goto(`${http.url}/#/runs/ui-replay-1`);
    await page.locator('[data-step="last"][data-state="completed"]').waitFor({ timeout: 10_000 });
    const { stdout } = await run(
      weftNode(),
      ['bin/weft.js', 'replay', 'ui-replay-1', '--json', '--nats', stack.nats.url],
      { cwd: join(import.meta.dirname, '..', '..') },
    );
    const frames = JSON.parse(stdout) as {
      revision: number;
      type: string;
      status: string;
      state: unknown;
      activeSteps: string[];
    }[];
    // Every event: the page at N says what replay says after event N.
    for (const frame of frames) {
      await page.getByTestId('slider').fill(String(frame.revision));
      await page.locator(`[data-testid="slider-at"]:text-is("${frame.revision}")`).waitFor();
      await waitFor(
        async () =>
          (await page.getByTestId('state-revision').textContent()) === String(frame.revision)
            ? true
            : undefined,
        { timeoutMs: 5000, message: `the page shows the run after event ${frame.revision}` },
      );
      expect(await page.getByTestId('state-status').textContent()).toBe(frame.status);
      expect(await page.getByTestId('active-steps').textContent()).toBe(
        frame.activeSteps.join(', ') || '—',
      );
      expect(JSON.parse((await page.getByTestId('machine-state').textContent()) ?? 'null')).toEqual(
        frame.state,
      );
    }
    // Just before the signal arrived, the graph shows the wait running and the last step pending.
    const signalled = frames.findIndex((f) => f.type === 'SignalReceived');
    expect(signalled).toBeGreaterThan(1);
    await page.getByTestId('slider').fill(String(signalled - 1));
    await page.locator('[data-step="approval"][data-state="running"]').waitFor({ timeout: 5000 });
    expect(await page.locator('[data-step="last"]').getAttribute('data-state')).toBe('pending');
    await shot('run-replay');
  });

  it("the editor shows a broken blueprint's diagnostic at its line, and its graph once fixed", async () => {
    await page.goto(`${http.url}/#/editor`);
    const broken = JSON.stringify(
      {
        name: 'ui_broken',
        steps: [
          { id: 'a', type: 'activity', activity: 'echo' },
          { id: 'b', type: 'activity', activity: 'echo', dependsOn: ['nowhere'] },
        ],
      },
      null,
      2,
    );
    await page.getByTestId('editor-text').fill(broken);
    const diagnostic = page.locator(
      '[data-testid="diagnostics"] li[data-code="unknown_dependency"]',
    );
    await diagnostic.waitFor({ timeout: 10_000 });
    const line = broken.split('\n').findIndex((l) => l.includes('"nowhere"')) + 1;
    expect(await diagnostic.textContent()).toContain(`line ${line}:`);
    expect(await diagnostic.textContent()).toContain('$.steps[1].dependsOn[0]');
    expect(await page.getByTestId('editor-verdict').textContent()).toBe('1 error(s)');
    await shot('editor');

    await page.getByTestId('editor-text').fill(broken.replace('"nowhere"', '"a"'));
    await page
      .locator('[data-testid="editor-verdict"]:text-is("valid")')
      .waitFor({ timeout: 10_000 });
    await page.locator('[data-step="b"]').waitFor();
  });

  it('in read-only mode shows no action: no signal, cancel, start or put', async () => {
    const readOnly = await startHttp({
      nc: stack.client.nc,
      prefix: 'weft',
      host: '127.0.0.1',
      port: 0,
      readOnly: true,
    });
    try {
      await startGate('ui-read-only-1');
      await page.goto(`${readOnly.url}/#/runs/ui-read-only-1`);
      await page
        .locator('[data-step="approval"][data-state="running"]')
        .waitFor({ timeout: 10_000 });
      await page.locator('nav.top .read-only').waitFor();
      expect(await page.getByTestId('send-signal').count()).toBe(0);
      expect(await page.getByTestId('cancel-run').count()).toBe(0);
      await page.goto(`${readOnly.url}/#/blueprints/ui_gate`);
      await page.getByTestId('blueprint-json').waitFor();
      expect(await page.getByTestId('start-run').count()).toBe(0);
      await page.goto(`${readOnly.url}/#/editor`);
      await page.locator('[data-testid="editor-verdict"]:text-is("valid")').waitFor();
      expect(await page.getByTestId('put-blueprint').count()).toBe(0);
      // The same page on the writable server offers them.
      await page.goto(`${http.url}/#/runs/ui-read-only-1`);
      await page.getByTestId('send-signal').waitFor({ timeout: 10_000 });
      expect(await page.getByTestId('cancel-run').count()).toBe(1);
    } finally {
      await readOnly.close();
    }
  });

  it('with --http-token asks for the token, refuses a wrong one, and once given shows runs live (the events stream carries it too)', async () => {
    const locked = await startHttp({
      nc: stack.client.nc,
      prefix: 'weft',
      host: '127.0.0.1',
      port: 0,
      token: 'ui-secret-7',
    });
    // A fresh tab: nothing kept from another server's pages.
    const tab = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    try {
      await tab.goto(`${locked.url}/#/runs`);
      await tab.getByRole('heading', { name: 'This weft needs its token' }).waitFor();
      await tab.getByLabel('token').fill('not-it');
      await tab.getByRole('button', { name: 'Open' }).click();
      await tab.getByText("That token is not this weft API's.").waitFor();
      await tab.getByLabel('token').fill('ui-secret-7');
      await tab.getByRole('button', { name: 'Open' }).click();
      await tab.getByRole('heading', { name: 'Runs' }).waitFor();
      await tab.locator('table.runs').waitFor();
      // A first run shown (by the list or the stream) gives the page's event stream, opened once
      // the list is drawn, time to be subscribed before the run that must arrive live.
      await startGate('ui-token-0');
      await tab.locator('table.runs tr', { hasText: 'ui-token-0' }).waitFor({ timeout: 10_000 });
      // Live: a run started now appears without a reload, through the token-carrying stream.
      await startGate('ui-token-1');
      await tab.locator('table.runs tr', { hasText: 'ui-token-1' }).waitFor({ timeout: 10_000 });
      await tab.screenshot({ path: join(screenshotDir(), 'token.png'), fullPage: true });
    } finally {
      await tab.close();
      await locked.close();
    }
  });

  it('lists blueprints with their versions and graph, and the activities workers serve', async () => {
    await page.goto(`${http.url}/#/blueprints/ui_gate`);
    await page.locator('[data-step="approval"]').waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('blueprint-json').textContent()).toContain('"ui_gate"');
    await shot('blueprint');
    await page.goto(`${http.url}/#/activities`);
    await page.locator('tr[data-activity="echo"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('tr[data-activity="echo"] td').nth(1).textContent()).toBe('1');
    await shot('activities');
  });
});
