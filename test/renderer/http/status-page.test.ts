// The status page in a real headless Chromium (Debian's, driven by playwright-core):
// real runs of known outcomes, then the page must show exactly those numbers. The
// screenshot is kept in test-artifacts/ for a person to look at.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { PACKAGE_ROOT } from '../../../renderer/paths.js';
import { isRoot, startDaemon, waitFor } from '../../helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(PACKAGE_ROOT, 'test-artifacts');

describe('status page in headless Chromium', { skip: (!isRoot && 'needs root') || (!existsSync(CHROMIUM) && `${CHROMIUM} is not installed (apt-get install chromium)`) }, () => {
  let d: Awaited<ReturnType<typeof startDaemon>>;
  let browser: Browser;
  let base = '';

  before(async () => {
    d = await startDaemon({ pool: { size: 1 } });
    const address = d.app.server.address() as { port: number };
    base = `http://127.0.0.1:${address.port}`;
    const run = (body: unknown) => d.inject({ method: 'POST', url: '/v1/runs', payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    for (const body of [
      { step: { name: 'example-sum' }, input: { path: 'sample.arrow' } },
      { step: { name: 'example-describe' }, input: { path: 'sample.arrow' } },
      { step: { code: 'export function render() { throw new Error("bad row"); }' } },
      { step: { code: 'export function render() { process.exit(137); }' } },
    ])
      assert.equal((await run(body)).statusCode, 200);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
  });

  it('shows the outcome counts, exit statuses, recent runs and schedules of the runs that happened', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });

    const text = async (testId: string): Promise<string> => (await page.getByTestId(testId).textContent())!.trim();
    assert.equal(await text('outcome-ok'), '2');
    assert.equal(await text('outcome-step_error'), '1');
    assert.equal(await text('outcome-crashed'), '1');
    assert.equal(await text('outcome-timeout'), '0');

    const rows = await page.locator('[data-testid="runs"] tr').allTextContents();
    assert.equal(rows.length, 4);
    assert.match(rows.join('\n'), /inline\s*crashed\s*137/);
    assert.match(rows.join('\n'), /example-sum\s*ok\s*0/);

    // The exit-status chart: three runs exited 0 (two ok, one step_error), one with 137.
    assert.equal(await page.locator('[data-exit="exit 0"]').getAttribute('data-count'), '3');
    assert.equal(await page.locator('[data-exit="exit 137"]').getAttribute('data-count'), '1');
    // The timeline: the four runs are in this minute's bar.
    const bars = await page.locator('#timeline rect').evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('data-count'))));
    assert.equal(bars.reduce((a, b) => a + b, 0), 4);

    const schedules = await page.locator('[data-testid="schedules"] tr').count();
    assert.equal(schedules, d.daemon.config.schedules.length);
    await waitFor(async () => (await text('pool-warm')) === '1', 15_000, 'the page to show the pool warm again');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no error in the page');
  });

  it('refreshes by itself when new runs happen', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-loaded="true"]');
    const before = Number(await page.getByTestId('outcome-ok').textContent());
    await d.inject({ method: 'POST', url: '/v1/runs', payload: JSON.stringify({ step: { name: 'example-describe' } }), headers: { 'content-type': 'application/json' } });
    // (waitForFunction would evaluate a string, which the page's CSP rightly forbids.)
    await waitFor(async () => Number(await page.getByTestId('outcome-ok').textContent()) === before + 1, 10_000, 'the page to show the new run');
  });

  it('a renderer whose sandbox starts keep failing is "degraded", never green, and /readyz says 503', { timeout: 120_000 }, async () => {
    // limits.maxProcesses 8 is below what the runtime needs: every start fails.
    const broken = await startDaemon({ pool: { size: 0 }, limits: { maxProcesses: 8 } });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await broken.inject({ method: 'POST', url: '/v1/runs', payload: { step: { name: 'example-describe' } } });
        assert.equal((r.json() as { outcome: string }).outcome, 'sandbox_error');
      }
      const ready = await broken.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.match((ready.json() as { problems: string[] }).problems.join(' '), /^degraded: 3 of the last 3 sandbox starts failed/);
      const port = (broken.app.server.address() as { port: number }).port;
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector('body[data-loaded="true"]');
      assert.equal((await page.locator('#ready').textContent())!.trim(), 'degraded');
      assert.equal(await page.locator('#ready').getAttribute('class'), 'badge degraded');
    } finally {
      await broken.stop();
    }
  });
});
