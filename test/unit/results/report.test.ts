// Report data shaping from real result files captured on this machine (test/fixtures/report),
// including a broken, a foreign and a non-JSON file, which must be named and skipped.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  compare,
  csvCell,
  extent,
  flatten,
  groupRuns,
  nines,
  parseResult,
  percentileCurve,
  programming,
  spread,
  toCsv,
  type Loaded,
} from '../../../lib/results/report/data.ts';
import { buildCharts } from '../../../lib/results/report/charts.ts';
import { renderHtml } from '../../../lib/results/report/html.ts';
import { BaselineError, findResults, writeReport } from '../../../lib/results/report/write.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import { tempDir } from '../../helpers/tmp.ts';

const FIX = join(FIXTURES, 'report');
const { files } = findResults([FIX], FIX);
const loaded = files.map((f) => parseResult(f, readFileSync(f, 'utf8')));
const runs = loaded.filter((l): l is Loaded => 'result' in l);
const of = (...stacks: string[]) => runs.filter((r) => stacks.includes(r.result.stack));

test('bad and foreign files are named with the reason, good ones load', (t) => {
  t.is(files.length, 13);
  t.is(runs.length, 10);
  const why = Object.fromEntries(loaded.flatMap((l) => ('why' in l ? [[l.file.split('/').at(-2), l.why]] : [])));
  t.regex(why['not-json']!, /^not JSON: /);
  t.is(why['foreign'], 'not a netlab result (schema null, expected "netlab.result/v1")');
  t.regex(why['broken']!, /^does not match the result schema: environment: .*\(and 1 more\)$/);
  const { missing } = findResults([FIX, 'no-such-stack', '/no/such/dir'], FIX);
  t.deepEqual(missing, ['no-such-stack', '/no/such/dir']);
  t.is(findResults(['local-host'], FIX).files.length, 2, 'a stack name finds its runs under the results root');
});

test('groups fold repetitions and runs; ratios against the host baseline, with significance', (t) => {
  const groups = groupRuns(of('local-host', 'local-hostgw'));
  const host1 = groups.find((g) => g.stack === 'local-host' && g.load === 'wrk -c 1 -t 1 5s')!;
  t.is(host1.runs, 2);
  t.is(host1.total, 6);
  t.is(host1.vsBaseline, null);
  const gw1 = groups.find((g) => g.stack === 'local-hostgw' && g.load === 'wrk -c 1 -t 1 5s')!;
  t.is(gw1.vsBaseline!.baseline, 'local-host');
  t.is(gw1.vsBaseline!.reqPerSec!.ratio, gw1.reqPerSec!.median / host1.reqPerSec!.median);
  const overlap = !(gw1.reqPerSec!.min > host1.reqPerSec!.max || gw1.reqPerSec!.max < host1.reqPerSec!.min);
  t.is(gw1.vsBaseline!.reqPerSec!.significant, !overlap);
  // no baseline among the runs: no ratios, unless one is named
  t.true(groupRuns(of('local-hostgw')).every((g) => g.vsBaseline === null));
  const tuned = groupRuns(of('local-tuned', 'local-untuned'), 'local-untuned').filter((g) => g.stack === 'local-tuned');
  t.is(tuned.length, 4);
  t.true(tuned.every((g) => g.vsBaseline?.baseline === 'local-untuned' && g.vsBaseline.reqPerSec !== null));
});

test('spread and significance rules', (t) => {
  t.deepEqual(spread([3, null, 1, 2]), { n: 3, median: 2, min: 1, max: 3 });
  t.is(spread([null]), null);
  t.deepEqual(compare(spread([10, 11, 12]), spread([20, 21, 22])), { ratio: 11 / 21, significant: true });
  t.deepEqual(compare(spread([10, 15, 21]), spread([20, 21, 22])), { ratio: 15 / 21, significant: false });
  t.deepEqual(compare(spread([10]), spread([20, 21])), { ratio: 10 / 20.5, significant: null });
  t.is(compare(spread([1]), spread([0])), null);
});

test('latency curves: the rps histogram gives 50 … 99.999; wrk its own percentiles; the nines axis', (t) => {
  const rps = of('bench-proxy-iptables')[0]!.result.points[0]!;
  const curve = percentileCurve(rps);
  t.deepEqual(
    curve.map((c) => c.percentile),
    [50, 75, 90, 95, 99, 99.9, 99.99, 99.999],
  );
  t.true(curve.every((c, i) => i === 0 || c.ms >= curve[i - 1]!.ms));
  t.true(Math.abs(curve[0]!.ms - rps.latencyMs!.p50) / rps.latencyMs!.p50 < 0.01, `p50 ${curve[0]!.ms} vs ${rps.latencyMs!.p50}`);
  const wrk = of('local-host')[0]!.result.points[0]!;
  t.deepEqual(
    percentileCurve(wrk).map((c) => c.percentile),
    [50, 90, 99, 99.9],
  );
  t.is(nines(90), 1);
  t.true(Math.abs(nines(99.9) - 3) < 1e-9);
});

test('charts: each appears when its data can draw it', (t) => {
  const all = groupRuns(runs);
  const ids = buildCharts(all, programming(runs)).map((c) => c.id);
  for (const id of [
    'latency-mean-vs-services',
    'latency-p99-vs-services',
    'cpu-vs-services',
    'rules-walked-vs-services',
    'programming-vs-services',
    'throughput-vs-offered',
    'throughput-per-stack',
  ])
    t.true(ids.includes(id), `${id} missing from ${ids.join(', ')}`);
  t.true(ids.includes('latency-percentile-rps-1000-s-20s-350-noka-s10000'));
  // datapath runs alone: percentile curves and bars, nothing against Services or rate
  const dp = of('local-host', 'local-hostgw');
  const dpIds = buildCharts(groupRuns(dp), programming(dp)).map((c) => c.id);
  t.deepEqual(dpIds, ['latency-percentile-wrk-c-1-t-1-5s-350-ka', 'latency-percentile-wrk-c-16-t-1-5s-350-ka', 'throughput-per-stack']);
  // the saturated rps points (invalid) still show on throughput against offered rate
  const thr = buildCharts(groupRuns(of('local-rps-ceiling')), []).find((c) => c.id === 'throughput-vs-offered')!;
  const values = (thr.spec as { data: { values: { offered: number; achieved: number; keepalive: string }[] } }).data.values;
  const at20k = values.find((v) => v.offered === 20000 && v.keepalive === 'keep-alive off')!;
  t.true(at20k.achieved < 10000, `achieved ${at20k.achieved} at 20k offered`);
});

test('CSV: one row per point, RFC 4180 quoting', (t) => {
  const pts = flatten(runs);
  const csv = toCsv(pts);
  const lines = csv.trimEnd().split('\r\n');
  t.is(lines.length, 1 + runs.reduce((n, r) => n + r.result.points.length, 0));
  t.true(lines[0]!.startsWith('stack,runId,target,datapath,proxyMode,tuning,kernel,host,tool,load'));
  t.is(
    toCsv([{ ...pts[0]!, host: '2 × "Xeon", v2' }])
      .split('\r\n')[1]!
      .split(',"2 × ""Xeon"", v2",').length,
    2,
  );
});

test('writeReport: page, SVG per chart, CSV and JSON; skipped files listed', async (t) => {
  const out = tempDir('netlab-report-');
  const r = await writeReport(files, out);
  t.is(r.runs, 10);
  t.is(r.skipped.length, 3);
  const html = readFileSync(r.html, 'utf8');
  for (const id of r.charts) {
    t.true(html.includes(`<figure id="${id}" class="chart${id.startsWith('latency-percentile-') ? ' small' : ''}">`), id);
    t.true(readFileSync(join(out, 'charts', `${id}.svg`), 'utf8').startsWith('<svg'), id);
  }
  t.regex(html, /Skipped files/);
  t.regex(html, /not a netlab result/);
  t.regex(html, /Ratios are against <b>local-host<\/b>/);
  t.false(/<script/i.test(html), 'the page needs no script');
  t.true(existsSync(join(out, 'points.csv')));
  const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  t.deepEqual(json.charts, r.charts);
  t.true(json.findings.length > 0, 'report.json holds the findings');
  const empty = tempDir('netlab-report-');
  await t.throwsAsync(writeReport(files, empty, { baseline: 'no-such' }), {
    instanceOf: BaselineError,
    message:
      '--baseline "no-such": no run of that stack among the results; expected one of: bench-proxy-ebpf, bench-proxy-iptables, bench-proxy-nftables, local-host, local-hostgw, local-rps-ceiling, local-tuned, local-untuned',
  });
  t.deepEqual(readdirSync(empty), [], 'nothing written');
});

// Issue 19, item 13: points.csv let spreadsheet formulas through (OWASP "CSV injection").
test('CSV: text that a spreadsheet would run as a formula is neutralised; numbers stay numbers', (t) => {
  t.is(csvCell('=HYPERLINK("http://x","y")'), '"\'=HYPERLINK(""http://x"",""y"")"');
  for (const bad of ['+1+cmd', '-2+3', '@SUM(A1)', '\t=1', '\r=1']) t.is(csvCell(bad), `"'${bad}"`, JSON.stringify(bad));
  t.is(csvCell(-1.5), '-1.5');
  t.is(csvCell(-3), '-3');
  t.is(csvCell(0), '0');
  t.is(csvCell('local-host'), 'local-host');
  t.is(csvCell('a=b'), 'a=b');
  t.is(csvCell(null), '');
  const row = toCsv([{ ...flatten(runs)[0]!, stack: '=cmd|"/C calc"!A0', host: '@x', meanMs: -0.25 }]).split('\r\n')[1]!;
  t.true(row.startsWith(`"'=cmd|""/C calc""!A0",`), row);
  t.true(row.includes(`,"'@x",`), row);
  t.true(row.includes(',-0.25,'), row);
});

test('min and max of long lists (no spreading into Math.min/max)', (t) => {
  const xs = Array.from({ length: 300_000 }, (_, i) => ((i * 7919) % 300_000) - 5);
  t.deepEqual(extent(xs), [-5, 299_994]);
  t.deepEqual(spread(xs)!.min, -5);
});

// Issue 12: esc() made the identity survived the tests. Text from a stack file reaches the page
// (the description in the stacks table): markup in it must come out as text.
test('HTML injection: a stack description holding <script> comes out escaped', (t) => {
  const file = join(FIX, 'local-host', '20261121T194543Z-48d9', 'result.json');
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  const evil = `</td><script>alert("x")</script><img src=x onerror='alert(1)'> & more`;
  doc.spec.description = evil;
  const run = parseResult(file, JSON.stringify(doc));
  if (!('result' in run)) return t.fail(`the edited result no longer loads: ${run.why}`);
  t.is((run.result.spec as { description?: string }).description, evil, 'the description reaches the page as written');
  const html = renderHtml({ generatedAt: 'now', runs: [run], skipped: [], groups: [], charts: [], baseline: null, findings: [] });
  t.false(/<script/i.test(html), 'no script element');
  t.false(/<img/i.test(html), 'no img element');
  t.false(html.includes('</td><script>'), 'the table cell is not closed by the description');
  t.true(
    html.includes('&lt;/td&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;alert(1)&#39;&gt; &amp; more'),
    'every special character is escaped',
  );
});
