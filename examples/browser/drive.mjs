// Drives the page in headless Chromium through playwright-core (the test's hands): fills the form with one row, reads
// the probabilities shown (and, for a format 3 model, the contribution bars and the interval), scores a CSV through
// the file input, saves a screenshot, and prints what it saw as JSON.
//
//   node drive.mjs URL ROW.json CSV SCREENSHOT.png [CHROMIUM] [--explain-shot PNG]
//
// --explain-shot: also a screenshot of the one-row section alone (the form, the probabilities and the bars), the
// picture docs/images/browser-contributions.png is.
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const argv = process.argv.slice(2);
const shotAt = argv.indexOf('--explain-shot');
const explainShot = shotAt >= 0 ? argv.splice(shotAt, 2)[1] : null;
const [url, rowPath, csvPath, screenshot, executablePath = '/usr/bin/chromium'] = argv;
const row = JSON.parse(await readFile(rowPath, 'utf8'));
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
});
const seen = { console: [], pageErrors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('console', (message) => { if (message.type() === 'error') seen.console.push(message.text()); });
  page.on('pageerror', (error) => seen.pageErrors.push(String(error)));
  await page.goto(url);
  await page.waitForSelector('body[data-ready]', { timeout: 60000 });
  seen.ready = await page.evaluate(() => document.body.dataset.ready);
  seen.status = await page.textContent('#status');
  // what the page loaded to show its first prediction, and when (for bench/edge.py)
  seen.firstPredictionMs = await page.evaluate(() => Number(document.body.dataset.firstPredictionMs ?? NaN));
  seen.resources = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => ({
    name: new URL(e.name).pathname, bytes: e.decodedBodySize })));
  if (seen.ready === 'true') {
    for (const [name, value] of Object.entries(row)) {
      const selector = `[id="f-${name}"]`;
      const tag = await page.$eval(selector, (element) => element.tagName);
      if (tag === 'SELECT') await page.selectOption(selector, value ?? '');
      else await page.fill(selector, value === null ? '' : String(value)); // typing fires 'input'
    }
    const expected = JSON.stringify(await page.evaluate(() => {
      const out = {};
      for (const field of document.querySelectorAll('#row [name]')) {
        out[field.name] = field.tagName === 'SELECT' ? field.value : field.value.trim() === '' ? null : Number(field.value);
      }
      return out;
    }));
    await page.waitForFunction((want) => document.getElementById('probabilities').dataset.row === want, expected);
    seen.form = await page.$$eval('#probabilities .bar', (bars) => bars.map((b) => [b.dataset.class, Number(b.dataset.p)]));
    seen.formLabel = await page.$eval('#probabilities', (box) => box.dataset.label);
    // the explanation drawn for the same row (set before the row is marked as shown): null for a format 1 or 2 model
    seen.explain = await page.$eval('#explanation', (panel) => (
      panel.hidden ? null : JSON.parse(panel.dataset.explain)));
    seen.bars = await page.$$eval('#contributions .contribution', (bars) => bars.map((b) => ({
      column: b.dataset.column,
      contribution: Number(b.dataset.contribution),
      direction: b.classList.contains('toward') ? 'toward' : 'away',
      width: b.querySelector('.fill').getBoundingClientRect().width,
      colour: getComputedStyle(b.querySelector('.fill')).backgroundColor,
    })));
    seen.interval = await page.$eval('#interval', (box) => ({
      text: box.textContent,
      pLower: box.dataset.pLower === undefined ? null : Number(box.dataset.pLower),
      pUpper: box.dataset.pUpper === undefined ? null : Number(box.dataset.pUpper),
    }));
    if (explainShot) {
      await page.evaluate(() => document.activeElement?.blur()); // no focus ring in the picture
      await page.locator('#one-row').screenshot({ path: explainShot });
    }
    await page.setInputFiles('#csv', csvPath);
    await page.waitForFunction(() => /rows scored|:\d+: /.test(document.getElementById('csv-status').textContent));
    seen.csvStatus = await page.textContent('#csv-status');
    seen.csv = await page.$$eval('#scores tr[data-label]', (rows) => rows.map((r) => [r.dataset.label, JSON.parse(r.dataset.p)]));
    // format 3: each row's column most toward its label, [column, contribution] or null; none for format 1 or 2
    seen.csvToward = await page.$$eval('#scores tr[data-toward]', (rows) => rows.map(
      (r) => JSON.parse(r.dataset.toward)));
  }
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
