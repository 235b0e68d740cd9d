// The demo with roles (scripts/demo --roles) in headless Chromium: the
// editor's page moves the box; the viewer's page sees the same box, its
// role and its channel's stats, and its commands are refused with a
// message. EDITOR_URL and VIEWER_URL are the two pages (with their tokens).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const editorUrl = process.env.EDITOR_URL;
const viewerUrl = process.env.VIEWER_URL;

test('an editor moves the box, a viewer only watches', { skip: !editorUrl || !viewerUrl }, async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const errors = [];
    const open = async (url) => {
      const page = await browser.newPage({ viewport: { width: 720, height: 720 } });
      page.on('pageerror', (error) => errors.push(String(error)));
      await page.goto(url);
      await page.waitForFunction(() => document.getElementById('status').textContent === 'connected');
      // The stats arrive about once a second, with the page's role.
      await page.waitForFunction(() => document.getElementById('channel').textContent.includes('sent'));
      return page;
    };
    const editor = await open(editorUrl);
    const viewer = await open(viewerUrl);
    assert.equal(await editor.textContent('#role'), 'editor');
    assert.equal(await viewer.textContent('#role'), 'viewer');

    // The viewer's command is refused, with the game's message; the box
    // goes on moving.
    await viewer.click('#pause');
    await viewer.waitForFunction(() => document.getElementById('ack').textContent.includes('refused'));
    assert.match(await viewer.textContent('#ack'), /viewer/);
    assert.equal(await viewer.evaluate(() => document.body.dataset.paused), 'false');

    // The editor's command is applied, and the viewer sees its effect.
    await editor.click('#pause');
    await editor.waitForFunction(() => document.getElementById('ack').textContent.includes('ok: paused'));
    await viewer.waitForFunction(() => document.body.dataset.paused === 'true');
    await editor.click('#resume');
    await viewer.waitForFunction(() => document.body.dataset.paused === 'false');
    assert.deepEqual(errors, [], 'no script errors on the pages');
  } finally {
    await browser.close();
  }
});
