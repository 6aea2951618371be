// The report as a person sees it: Debian's headless Chromium (installed by `npm test`) opens the
// generated page offline; every chart must render without a console error. The screenshot is kept
// in test-artifacts/report.png.
import test from 'ava';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';
import { findResults, writeReport } from '../../lib/results/report/write.ts';
import { PROJECT, FIXTURES } from '../helpers/paths.ts';
import { tempDir } from '../helpers/tmp.ts';

const CHROMIUM = '/usr/bin/chromium';
const FIX = join(FIXTURES, 'report');
const ARTIFACTS = join(PROJECT, 'test-artifacts');

(existsSync(CHROMIUM) ? test : test.skip)(
  `the report renders every chart in headless Chromium without console errors${existsSync(CHROMIUM) ? '' : ` — skipped: ${CHROMIUM} is not installed (npm test installs it)`}`,
  async (t) => {
    const out = tempDir('netlab-report-browser-');
    const report = await writeReport(findResults([FIX], FIX).files, out);
    t.true(report.charts.length >= 10);
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warn') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
      page.on('request', (r) => requests.push(r.url()));
      await page.setViewport({ width: 1300, height: 900 });
      await page.goto(pathToFileURL(report.html).href, { waitUntil: 'load' });
      // Every chart: a figure whose SVG has a non-zero size and drawn marks.
      const figures = await page.$$eval('figure.chart', (fs) =>
        fs.map((f) => {
          const svg = f.querySelector('svg');
          const box = svg?.getBoundingClientRect();
          return { id: f.id, width: box?.width ?? 0, height: box?.height ?? 0, marks: svg?.querySelectorAll('path, line, rect').length ?? 0 };
        }),
      );
      // The full-width charts first, then the per-configuration percentile curves as small multiples.
      t.deepEqual([...figures.map((f) => f.id)].sort(), [...report.charts].sort());
      const isSmall = figures.map((f) => f.id.startsWith('latency-percentile-'));
      t.true(isSmall.indexOf(true) > isSmall.lastIndexOf(false), 'small multiples come after the full-width charts');
      for (const f of figures) {
        const small = f.id.startsWith('latency-percentile-');
        t.true(small ? f.width > 250 && f.height > 150 : f.width > 300 && f.height > 200, `${f.id} drawn ${f.width}×${f.height}`);
        t.true(f.marks > 10, `${f.id} has ${f.marks} marks`);
      }
      t.true((await page.$$eval('table tbody tr', (rows) => rows.length)) > 20, 'the figures tables are there');
      t.true((await page.$$eval('ul.findings li', (items) => items.length)) > 0, 'the page opens with findings');
      t.deepEqual(problems, []);
      t.true(
        requests.every((u) => u.startsWith('file:')),
        `the page fetched ${requests.filter((u) => !u.startsWith('file:')).join(', ')}`,
      );
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'report.png') as `${string}.png`, fullPage: true });
      t.true(existsSync(join(ARTIFACTS, 'report.png')));
    } finally {
      await browser.close();
    }
  },
);
