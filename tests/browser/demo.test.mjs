// The demo page in headless Chromium: live state arrives from the game, a
// command goes back, the game's answer comes back and changes what streams.
// DEMO_URL is the page (scripts/browser-test starts the demo game);
// SCREENSHOT is where to save a picture of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const url = process.env.DEMO_URL ?? 'http://127.0.0.1:9001/';
const screenshot = process.env.SCREENSHOT ?? 'screenshot.png';

test('the page shows live state, sends commands and sees the answers', async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 720, height: 720 } });
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'connected');

    // Live state: the frame number keeps moving.
    await page.waitForFunction(() => Number(document.getElementById('frame').textContent) > 0);
    const first = Number(await page.textContent('#frame'));
    await page.waitForFunction((f) => Number(document.getElementById('frame').textContent) > f + 10, first);

    // The channel's stats, from the host, about once a second.
    await page.waitForFunction(() => document.getElementById('channel').textContent.includes('sent'));

    // A command and its answer.
    await page.click('#pause');
    await page.waitForFunction(() => document.getElementById('ack').textContent.includes('ok: paused'));
    await page.waitForFunction(() => document.body.dataset.paused === 'true');
    const box = await page.textContent('#box');
    await page.waitForTimeout(300);
    assert.equal(await page.textContent('#box'), box, 'a paused box does not move');

    await page.click('.swatch[title=red]');
    await page.waitForFunction(() => document.getElementById('ack').textContent.includes('colour set to #ef4444'));
    await page.waitForFunction(() => document.body.dataset.color === '#ef4444');

    await page.click('#resume');
    await page.waitForFunction(() => document.body.dataset.paused === 'false');
    await page.waitForTimeout(200);
    await page.screenshot({ path: screenshot });
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await browser.close();
  }
});
