// The report opens with the findings (issue 15): each study's headline ratio with its interval,
// computed from real result files captured on this machine (test/fixtures/report).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseResult, type Loaded } from '../../../lib/results/report/data.ts';
import { findings } from '../../../lib/results/report/findings.ts';
import { renderHtml } from '../../../lib/results/report/html.ts';
import { findResults } from '../../../lib/results/report/write.ts';
import { mean, ratioInterval } from '../../../lib/results/stats.ts';
import { FIXTURES } from '../../helpers/paths.ts';

const FIX = join(FIXTURES, 'report');
const runs = findResults([FIX], FIX)
  .files.map((f) => parseResult(f, readFileSync(f, 'utf8')))
  .filter((l): l is Loaded => 'result' in l);
const of = (...stacks: string[]) => runs.filter((r) => stacks.includes(r.result.stack));

test('E2: each datapath p99 against the host baseline, with a bootstrap interval over its repetitions', (t) => {
  const fs = findings(of('local-host', 'local-hostgw'), 'local-host');
  t.true(fs.length >= 2);
  t.true(fs.every((f) => f.study === 'E2'));
  const f = fs.find((x) => x.subject.includes('wrk -c 16'))!;
  // The same figure by hand: p99 of every valid repetition of both runs of each stack.
  const p99 = (stack: string) =>
    of(stack)
      .flatMap((r) => r.result.points)
      .filter((p) => p.status === 'ok' && p.params.connections === 16)
      .map((p) => p.latencyMs!.p99);
  t.is(p99('local-hostgw').length, 6);
  t.is(f.ratio.value, mean(p99('local-hostgw')) / mean(p99('local-host')));
  t.deepEqual(f.ratio, ratioInterval(p99('local-hostgw'), p99('local-host')));
  t.regex(f.text, /^hostgw \(local-hostgw\) at wrk -c 16 -t 1 5s, 350 B, keep-alive: p99 \d\.\d\d× \[\d\.\d\d–\d\.\d\d\]( n\.s\.)? of local-host's\.$/);
  t.is(findings(of('local-host', 'local-hostgw'), null).length, 0, 'no baseline, no E2 finding');
});

test('E1/E4: each proxy stack from its fewest to its most Services, per keep-alive; old results are iptables-legacy', (t) => {
  const fs = findings(of('bench-proxy-iptables', 'bench-proxy-nftables', 'bench-proxy-ebpf'), null);
  t.is(fs.length, 6);
  const ipt = fs.find((f) => f.subject.startsWith('iptables-legacy') && f.subject.includes('new connection'))!;
  t.regex(
    ipt.text,
    /^iptables-legacy, a new connection per request: mean latency \d\.\d\d× \(n=1\) from 1 to 10,000 Services \(\d\.\d{3} → \d\.\d{3} ms, [\d.]+ ns \(n=1\) per rule walked\); machine CPU [+-][\d.]+ cores \(n=1\)\.$/,
  );
  t.is(ipt.significant, null, 'one repetition: no interval, significance unknown');
  t.truthy(fs.find((f) => f.subject.startsWith('nftables')));
});

test('the page opens with the findings, before the charts; percentile charts are small multiples', (t) => {
  const fs = findings(of('local-host', 'local-hostgw'), 'local-host');
  const html = renderHtml({
    generatedAt: 'now',
    runs: of('local-host', 'local-hostgw'),
    skipped: [],
    groups: [],
    charts: [
      { id: 'big', title: 'Big', caption: 'c', svg: '<svg id="big"></svg>' },
      { id: 'latency-percentile-x', title: 'Small', caption: 'c', svg: '<svg id="small"></svg>', small: true },
    ],
    baseline: 'local-host',
    findings: [...fs, { ...fs[0]!, text: '<script>alert(1)</script>', significant: false }],
  });
  t.true(html.indexOf('<h2>Findings</h2>') < html.indexOf('<h2>Charts</h2>'));
  t.regex(html, /<div class="multiples">\n<figure id="latency-percentile-x" class="chart small">/);
  t.false(html.includes('<script>alert(1)</script>'), 'finding text is escaped');
  t.true(html.includes('&lt;script&gt;alert(1)&lt;/script&gt; <span class="ns">(not significant'));
});
