// Opens one page in headless Chromium (playwright-core), saves a full-page screenshot, and prints what the browser
// reported as JSON: console errors, page errors, failed requests, the title. Used by the tests of static pages
// (the training report).
//
//   node open_page.mjs URL SCREENSHOT.png [CHROMIUM]
import { chromium } from 'playwright-core';

const [url, screenshot, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
});
const seen = { console: [], pageErrors: [], failedRequests: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('console', (message) => { if (message.type() === 'error') seen.console.push(message.text()); });
  page.on('pageerror', (error) => seen.pageErrors.push(String(error)));
  page.on('requestfailed', (request) => seen.failedRequests.push(request.url()));
  page.on('request', (request) => { if (!request.url().startsWith('file:') && !request.url().startsWith('data:')) seen.failedRequests.push(`network: ${request.url()}`); });
  await page.goto(url, { waitUntil: 'load' });
  seen.title = await page.title();
  seen.svgs = await page.$$eval('svg', (svgs) => svgs.length);
  seen.headings = await page.$$eval('h2', (hs) => hs.map((h) => h.textContent));
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
