// The report page: charts inline as SVG, the exact figures in tables under them, each stack's
// spec in one line, the environment, and what was skipped. Pure text; self-contained (no script,
// no external file), so it opens offline and from a mail attachment.
import type { Comparison, Group, Loaded, Skipped, Spread } from './data.ts';
import type { Finding } from './findings.ts';

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const num = (v: number, digits: number) => (Math.abs(v) >= 1000 ? v.toFixed(0) : v.toFixed(digits));
export const spreadText = (s: Spread | null, digits = 3) =>
  !s ? '–' : s.n < 2 ? num(s.median, digits) : `${num(s.median, digits)} <span class="range">[${num(s.min, digits)}–${num(s.max, digits)}]</span>`;
export const comparisonText = (c: Comparison | null) =>
  !c
    ? '–'
    : `${c.ratio.toFixed(2)}×${c.significant === false ? ' <span class="ns" title="the ranges over repetitions overlap">n.s.</span>' : c.significant === null ? ' <span class="ns" title="one run only: no spread to compare against">n=1</span>' : ''}`;

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function specLine(r: Loaded['result']): string {
  const s = r.spec as {
    datapath?: string;
    description?: string;
    proxy?: { mode?: string; services?: number[] };
    workload?: { tool?: string };
    tuning?: { profile?: string };
  };
  const parts = [
    `datapath ${s.datapath ?? '?'}`,
    s.proxy ? `proxy ${s.proxy.mode} × ${(s.proxy.services ?? []).join('/')} Services` : 'no proxy',
    `load ${s.workload?.tool ?? '?'}`,
    `tuning ${s.tuning?.profile ?? 'none'}`,
  ];
  return parts.join(', ');
}

export interface ReportPage {
  generatedAt: string;
  runs: Loaded[];
  skipped: Skipped[];
  groups: Group[];
  charts: { id: string; title: string; caption: string; svg: string; small?: boolean }[];
  baseline: string | null;
  /** Each study's headline result with its interval: the page opens with these. */
  findings: Finding[];
}

function findingsSection(fs: Finding[]): string {
  if (!fs.length) return '<p>No headline result: these runs have no Service sweep (E1/E4) and no datapath beside the host baseline (E2).</p>';
  const by = (study: Finding['study'], title: string) => {
    const xs = fs.filter((f) => f.study === study);
    return xs.length
      ? `<h3>${title}</h3><ul class="findings">${xs.map((f) => `<li class="${f.significant === false ? 'ns' : ''}">${esc(f.text)}${f.significant === false ? ' <span class="ns">(not significant: the interval holds 1)</span>' : ''}</li>`).join('')}</ul>`
      : '';
  };
  return `${by('E1/E4', 'E1/E4: Service proxy cost against the number of Services')}${by('E2', 'E2: datapaths against the host baseline')}
<p class="range">Intervals: 95 % percentile bootstrap over repetitions (each side resampled on its own). A ratio whose interval holds 1 is not distinguishable from no effect.</p>`;
}

const figure = (c: ReportPage['charts'][number]) =>
  `<figure id="${esc(c.id)}" class="chart${c.small ? ' small' : ''}">\n${c.svg}\n<figcaption><b>${esc(c.title)}.</b> ${esc(c.caption)} Exact figures: the table below. SVG: <a href="charts/${esc(c.id)}.svg">charts/${esc(c.id)}.svg</a>.</figcaption>\n</figure>`;

/** The load client's floor per run (proxy stacks): ab -c 1 and the client on the same direct path, measured before the proxy was programmed. */
function clientFloorSection(runs: Loaded[]): string {
  const rows = runs.flatMap(({ result: r }) => {
    const f = r.proxy?.clientFloor;
    if (!f) return [];
    const ms = (v: number | null) => (v === null ? '–' : v.toFixed(3));
    const ratio =
      f.ratio === null
        ? `– <span class="range">${esc(f.error ?? '')}</span>`
        : `${f.ratio.toFixed(2)}×${f.ratio > 1.3 ? ' <span class="ns" title="the client adds more than 30 % to ab\'s floor: effects smaller than its excess are not resolved">above 1.3</span>' : ''}`;
    return [[esc(r.stack), esc(r.runId), String(f.rate), ms(f.abMeanMs), ms(f.clientP50Ms), ms(f.clientMeanMs), ratio]];
  });
  if (!rows.length) return '';
  return `<h3>The load client's floor</h3>
<p>Once per run, before the proxy is programmed: <code>ab -c 1</code> and the rps client (a new connection per request) on the same direct path to the server. A proxy effect smaller than the client's excess over ab's mean cannot be told from the instrument.</p>
${table(['stack', 'run', 'req/s', 'ab -c 1 mean ms', 'client p50 ms', 'client mean ms', 'client p50 ÷ ab mean'], rows)}`;
}

export function renderHtml(p: ReportPage): string {
  const stacks = [...new Set(p.runs.map((r) => r.result.stack))];
  const figuresOf = (groups: Group[]) =>
    table(
      [
        'stack',
        'kernel',
        'load',
        'bytes',
        'keep-alive',
        'Services',
        'runs',
        'ok/points',
        'req/s',
        'mean ms',
        'p99 ms',
        'cores',
        'rules walked',
        p.baseline ? `req/s vs ${esc(p.baseline)}` : 'req/s vs baseline',
        p.baseline ? `p99 vs ${esc(p.baseline)}` : 'p99 vs baseline',
      ],
      groups.map((g) => [
        esc(g.stack),
        esc(`${g.kernel}${g.hosting === 'native' ? '' : ` (${g.hosting.toUpperCase()})`}`),
        esc(g.load),
        String(g.responseBytes),
        g.keepalive ? 'on' : 'off',
        g.services === null ? '–' : String(g.services),
        String(g.runs),
        `${g.ok}/${g.total}`,
        spreadText(g.reqPerSec, 0),
        spreadText(g.meanMs),
        spreadText(g.p99Ms),
        spreadText(g.cores, 2),
        spreadText(g.rulesWalked, 1),
        comparisonText(g.vsBaseline?.reqPerSec ?? null),
        comparisonText(g.vsBaseline?.p99Ms ?? null),
      ]),
    );
  const specs = table(
    ['stack', 'description', 'spec', 'target', 'kernel', 'host', 'runs'],
    stacks.map((st) => {
      const rs = p.runs.filter((r) => r.result.stack === st).map((r) => r.result);
      const r = rs[0]!;
      return [
        esc(st),
        esc((r.spec as { description?: string }).description ?? ''),
        esc(specLine(r)),
        esc(r.target),
        esc([...new Set(rs.map((x) => x.environment.kernel))].join(', ')),
        esc(`${r.environment.cpus} × ${r.environment.cpuModel}`),
        String(rs.length),
      ];
    }),
  );
  const envs = table(
    ['stack', 'run', 'status', 'started', 'host', 'kernel', 'OS', 'memory GiB', 'tools'],
    p.runs.map(({ result: r }) => [
      esc(r.stack),
      esc(r.runId),
      esc(r.status) + (r.error ? ` <span class="range">${esc(r.error.slice(0, 200))}</span>` : ''),
      esc(r.startedAt),
      esc(`${r.environment.hostname}: ${r.environment.cpus} × ${r.environment.cpuModel}`),
      esc(r.environment.kernel),
      esc(r.environment.os),
      (r.environment.memoryBytes / 2 ** 30).toFixed(1),
      esc(
        Object.entries(r.environment.tools)
          .map(([k, v]) => `${k} ${v ?? 'absent'}`)
          .join('; '),
      ),
    ]),
  );
  // Emulated runs (netlab:vm under TCG) apart: their timings are qemu's, so they get no ratios
  // against native runs and a table of their own.
  const native = p.groups.filter((g) => g.hosting !== 'tcg');
  const emulated = p.groups.filter((g) => g.hosting === 'tcg');
  const figures = `${native.length ? figuresOf(native) : ''}${
    emulated.length
      ? `<h3>Emulated runs (netlab:vm under TCG): behaviour, not speed</h3>\n<p>qemu emulated every instruction of these guests (no KVM here), so their latency and throughput are not comparable with native or KVM runs; what they show is how the kernel behaves (which packets go where, what is counted). Ratios are only against a baseline that was emulated too.</p>\n${figuresOf(emulated)}`
      : ''
  }`;
  const problems = p.groups.filter((g) => g.ok < g.total);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>netlab report: ${esc(stacks.join(', '))}</title>
<style>
body { font-family: 'DejaVu Sans', sans-serif; margin: 2em; color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
figure { margin: 1.5em 0; } figcaption { font-size: 0.85em; color: #555; max-width: 760px; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } .range { color: #777; font-size: 0.9em; } .ns { color: #a60; font-size: 0.85em; }
.skipped li { font-family: monospace; font-size: 0.85em; }
.multiples { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 0.5em 1.5em; }
.multiples figure { margin: 0.5em 0; } .findings li { margin: 0.3em 0; } li.ns { color: #555; }
</style>
</head>
<body>
<h1>netlab report</h1>
<p>${p.runs.length} run(s) of ${stacks.length} stack(s): ${esc(stacks.join(', '))}. Generated ${esc(p.generatedAt)}.
${p.baseline ? `Ratios are against <b>${esc(p.baseline)}</b> at the same load.` : 'No baseline stack (the plain <code>host</code> datapath without proxy or tuning) among these runs, and none given with <code>--baseline</code>: no ratios.'}
Figures are medians over repetitions and runs, with [min–max] where there is more than one;
<span class="ns">n.s.</span> marks a ratio whose ranges overlap (not significant: within run-to-run noise).</p>
<h2>Findings</h2>
${findingsSection(p.findings)}
<h2>Charts</h2>
${
  p.charts.length
    ? p.charts
        .filter((c) => !c.small)
        .map(figure)
        .join('\n')
    : '<p>No chart: these runs have no series with two or more values.</p>'
}
${
  p.charts.some((c) => c.small)
    ? `<h3>Latency by percentile, per configuration</h3>\n<div class="multiples">\n${p.charts
        .filter((c) => c.small)
        .map(figure)
        .join('\n')}\n</div>`
    : ''
}
<h2>Figures</h2>
${figures}
${clientFloorSection(p.runs)}
${problems.length ? `<p>Configurations with invalid or failed points: ${problems.map((g) => `${esc(g.stack)} ${esc(g.load)} (${g.total - g.ok} of ${g.total})`).join('; ')}. Their figures use the valid points only.</p>` : ''}
<h2>Stacks</h2>
${specs}
<h2>Runs and environment</h2>
${envs}
${p.skipped.length ? `<h2>Skipped files</h2>\n<ul class="skipped">${p.skipped.map((s) => `<li>${esc(s.file)}: ${esc(s.why)}</li>`).join('')}</ul>` : ''}
<p>All points as CSV: <a href="points.csv">points.csv</a>. Machine-readable: <a href="report.json">report.json</a>.</p>
</body>
</html>
`;
}
