// The kernel as a report dimension, and emulated runs kept apart: a native local-host run and
// vm-host (the same workload in a microVM of 6.1 under TCG), both captured on this machine
// (test/fixtures/report-vm). The emulated run gets no ratio against the native baseline, sits in
// its own table of the report, and is labelled with its kernel and accelerator in the summary.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { flatten, groupRuns, parseResult, type Loaded } from '../../../lib/results/report/data.ts';
import { findings } from '../../../lib/results/report/findings.ts';
import { renderHtml } from '../../../lib/results/report/html.ts';
import { findResults } from '../../../lib/results/report/write.ts';
import { renderTable, summarize } from '../../../lib/results/summary.ts';
import { FIXTURES } from '../../helpers/paths.ts';

const FIX = join(FIXTURES, 'report-vm');
const runs = findResults([FIX], FIX)
  .files.map((f) => parseResult(f, readFileSync(f, 'utf8')))
  .filter((l): l is Loaded => 'result' in l);

test('the fixtures: one native run and one under TCG on Debian 6.1', (t) => {
  t.deepEqual(runs.map((r) => [r.result.stack, r.result.vm?.accel ?? 'native']).sort(), [
    ['local-host', 'native'],
    ['vm-host', 'tcg'],
  ]);
});

test('points and groups carry the kernel and where it ran; no ratio across native and emulated', (t) => {
  const pts = flatten(runs);
  t.deepEqual([...new Set(pts.map((p) => `${p.stack} ${p.hosting} ${p.kernel}`))].sort(), [
    'local-host native 6.18.44-fc-v1272',
    'vm-host tcg 6.1.0-50-cloud-amd64',
  ]);
  const groups = groupRuns(runs);
  const vm = groups.filter((g) => g.stack === 'vm-host');
  t.is(vm.length, 2);
  // vm-host is a host-datapath stack too, but its baseline is never the native local-host.
  t.true(vm.every((g) => g.hosting === 'tcg' && g.kernel === '6.1.0-50-cloud-amd64' && g.vsBaseline === null));
  t.true(groups.filter((g) => g.stack === 'local-host').every((g) => g.hosting === 'native'));
  // Named as the baseline, the native stack still gets no emulated group compared with it.
  t.true(
    groupRuns(runs, 'local-host')
      .filter((g) => g.stack === 'vm-host')
      .every((g) => g.vsBaseline === null),
  );
  // The E2 findings compare only runs like the baseline.
  t.true(findings(runs, 'local-host').every((f) => !f.subject.includes('vm-host')));
});

test('the HTML report shows the kernel column and puts the emulated run in a table of its own', (t) => {
  const html = renderHtml({ generatedAt: 'now', runs, skipped: [], groups: groupRuns(runs), charts: [], baseline: 'local-host', findings: [] });
  const at = html.indexOf('Emulated runs (netlab:vm under TCG)');
  t.true(at > 0);
  t.true(html.indexOf('<td>vm-host</td>') > at, 'vm-host rows come after the heading');
  t.true(html.indexOf('<td>local-host</td>') < at, 'native rows come before it');
  t.true(html.includes('6.1.0-50-cloud-amd64 (TCG)'));
});

test('the summary table labels the emulated rows and gives them no ratio against the native host run', (t) => {
  const rows = summarize(runs.map((r) => r.result));
  const vmRows = rows.filter((r) => r.stack === 'vm-host');
  t.true(vmRows.every((r) => r.vm === '6.1 TCG' && r.emulated));
  // vm-host's ratios are against itself (the emulated host baseline), never against local-host's figures.
  for (const r of vmRows) t.is(r.p50VsHost, 1);
  const text = renderTable(rows);
  t.true(text.includes('vm-host [6.1 TCG]'));
  t.true(text.includes('not comparable with native rows'));
});
