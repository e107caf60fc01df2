// Opens /browser/replay.html?model=NAME in headless Chromium (playwright-core) and prints its result JSON.
//   node replay.mjs BASE_URL NAME [CHROMIUM]
import { chromium } from 'playwright-core';

const [base, name, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
});
try {
  const page = await browser.newPage();
  await page.goto(`${base}/browser/replay.html?model=${encodeURIComponent(name)}`);
  await page.waitForSelector('body[data-result]', { timeout: 120000 });
  console.log(await page.evaluate(() => document.body.dataset.result));
} finally {
  await browser.close();
}
