// Chart specs (Vega-Lite) from report groups, and their SVG rendered headless by Vega. Pure apart
// from Vega's own rendering (no browser, no canvas, no I/O).
import type { TopLevelSpec } from 'vega-lite';
import { extent, nines, type Group, type programming } from './data.ts';

export interface Chart {
  id: string;
  title: string;
  /** What the chart shows and where its exact figures are. */
  caption: string;
  spec: TopLevelSpec;
  /** Drawn small, in a grid with its siblings (small multiples), not full width. */
  small?: boolean;
}

const WIDTH = 560;
const HEIGHT = 300;
/** Small multiples: the per-configuration percentile curves. */
const SMALL = { width: 300, height: 170 };
const NINES_TICKS = [50, 90, 99, 99.9, 99.99, 99.999];

/** Solid: keep-alive off (a new connection per request); dashed: keep-alive on. */
const DASH = {
  field: 'keepalive',
  type: 'nominal',
  title: 'solid: keep-alive off, dashed: on',
  scale: {
    domain: ['keep-alive off', 'keep-alive on'],
    range: [
      [1, 0],
      [5, 3],
    ],
  },
  legend: null,
};

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
const ka = (k: boolean) => (k ? 'keep-alive on' : 'keep-alive off');

function base(title: string, data: object[]): Record<string, unknown> {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    data: { values: data },
    config: { font: 'DejaVu Sans, sans-serif', legend: { orient: 'right', labelLimit: 400 }, axis: { grid: true } },
  };
}

/** A line per stack against the number of Services (log x); dashed by keep-alive when the data has it. Null below two counts. */
function servicesChart(
  id: string,
  title: string,
  caption: string,
  yTitle: string,
  data: { stack: string; services: number; value: number; keepalive?: string }[],
  logY: boolean,
): Chart | null {
  if (new Set(data.map((d) => d.services)).size < 2) return null;
  const dashed = data.some((d) => d.keepalive !== undefined);
  return {
    id,
    title,
    caption,
    spec: {
      ...base(title, data),
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'services', type: 'quantitative', title: 'Services', scale: { type: 'log' } },
        y: { field: 'value', type: 'quantitative', title: yTitle, ...(logY ? { scale: { type: 'log' } } : {}) },
        color: { field: 'stack', type: 'nominal' },
        ...(dashed ? { strokeDash: DASH } : {}),
        tooltip: [{ field: 'stack' }, { field: 'services' }, ...(dashed ? [{ field: 'keepalive' }] : []), { field: 'value', format: '.3f' }],
      },
    } as TopLevelSpec,
  };
}

/** Every chart the groups support; a chart appears only when its data can draw a line or bars. */
export function buildCharts(groups: Group[], programs: ReturnType<typeof programming>): Chart[] {
  const charts: Chart[] = [];
  // 1. Latency against percentile, one chart per load × size × keep-alive × Service count (E2).
  const curveKeys = new Map<string, Group[]>();
  for (const g of groups)
    if (g.curve.length >= 2) {
      const k = `${g.load}|${g.responseBytes}|${g.keepalive}|${g.services ?? ''}`;
      curveKeys.set(k, [...(curveKeys.get(k) ?? []), g]);
    }
  for (const gs of curveKeys.values()) {
    const g0 = gs[0]!;
    const title = `Latency by percentile: ${g0.load}, ${g0.responseBytes} B, ${ka(g0.keepalive)}${g0.services !== null ? `, ${g0.services} Services` : ''}`;
    const data = gs.flatMap((g) => g.curve.map((c) => ({ stack: g.stack, percentile: c.percentile, nines: nines(c.percentile), ms: c.ms })));
    charts.push({
      id: `latency-percentile-${slug(`${g0.load}-${g0.responseBytes}-${g0.keepalive ? 'ka' : 'noka'}${g0.services !== null ? `-s${g0.services}` : ''}`)}`,
      title,
      caption: 'Median over repetitions and runs of each percentile; the x axis is in "nines" (50, 90, 99, 99.9 …) as the 2016 study drew it.',
      small: true,
      spec: {
        ...base(title, data),
        ...SMALL,
        mark: { type: 'line', point: true },
        encoding: {
          x: {
            field: 'nines',
            type: 'quantitative',
            title: 'percentile',
            scale: { domain: [nines(50), nines(extent(data.map((d) => d.percentile))[1])] },
            axis: {
              values: NINES_TICKS.map(nines),
              labelExpr: `{${NINES_TICKS.map((q) => `'${nines(q).toFixed(6)}': '${q}'`).join(', ')}}[format(datum.value, '.6f')]`,
            },
          },
          y: { field: 'ms', type: 'quantitative', title: 'latency (ms)', scale: { type: 'log' } },
          color: { field: 'stack', type: 'nominal' },
          tooltip: [{ field: 'stack' }, { field: 'percentile' }, { field: 'ms', format: '.3f' }],
        },
      } as TopLevelSpec,
    });
  }
  // 2–5. Against the number of Services, one line per stack (proxy mode); dashed = keep-alive on (E1, E4).
  const svc = groups.filter((g) => g.services !== null);
  const perService = (id: string, title: string, caption: string, yTitle: string, pick: (g: Group) => number | null | undefined, logY = true) => {
    const data = svc.flatMap((g) => {
      const value = pick(g);
      return value === null || value === undefined ? [] : [{ stack: g.stack, services: g.services!, keepalive: ka(g.keepalive), value }];
    });
    const chart = servicesChart(id, title, `${caption} Solid: keep-alive off (a new connection per request); dashed: on.`, yTitle, data, logY);
    if (chart) charts.push(chart);
  };
  perService(
    'latency-mean-vs-services',
    'Mean latency against the number of Services',
    'Median over repetitions of the mean latency.',
    'mean latency (ms)',
    (g) => g.meanMs?.median,
  );
  perService(
    'latency-p99-vs-services',
    'p99 latency against the number of Services',
    'Median over repetitions of the 99th percentile.',
    'p99 latency (ms)',
    (g) => g.p99Ms?.median,
  );
  perService(
    'cpu-vs-services',
    'CPU against the number of Services',
    'Whole-machine cores busy during the point (user + system + softirq + irq from /proc/stat); the load client is included.',
    'cores',
    (g) => g.cores?.median,
    false,
  );
  perService(
    'rules-walked-vs-services',
    'iptables rules walked per new connection',
    'From the nat table counters after each point (iptables mode only).',
    'rules per connection',
    (g) => g.rulesWalked?.median,
  );
  const prog = servicesChart(
    'programming-vs-services',
    'Programming time against the number of Services',
    'Time to install the whole fleet for one Service count (rules, sets or BPF maps), median over runs.',
    'seconds',
    programs.map((p) => ({ stack: p.stack, services: p.services, value: p.seconds })),
    true,
  );
  if (prog) charts.push(prog);
  // 6. Throughput against offered rate (open-loop client): where the system stops keeping up.
  const rateCount = (st: string) => new Set(groups.filter((g) => g.stack === st && g.rate !== null).map((g) => g.rate)).size;
  const rated = groups.filter((g) => g.rate !== null && g.achievedRate && rateCount(g.stack) >= 2);
  if (rated.length) {
    const title = 'Achieved against offered rate';
    const data = rated.map((g) => ({
      stack: g.stack,
      keepalive: ka(g.keepalive),
      offered: g.rate,
      achieved: g.achievedRate!.median,
      ok: `${g.ok}/${g.total}`,
    }));
    charts.push({
      id: 'throughput-vs-offered',
      title,
      caption:
        'Requests per second the constant-rate client completed against the rate it was asked for, invalid points included; a point below the grey diagonal did not keep up (the table counts it as invalid). Solid: keep-alive off; dashed: on.',
      spec: {
        ...base(title, data),
        layer: [
          {
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'offered', type: 'quantitative', title: 'offered (req/s)', scale: { type: 'log' } },
              y: { field: 'achieved', type: 'quantitative', title: 'achieved (req/s)', scale: { type: 'log' } },
              color: { field: 'stack', type: 'nominal' },
              strokeDash: DASH,
              tooltip: [{ field: 'stack' }, { field: 'keepalive' }, { field: 'offered' }, { field: 'achieved', format: '.1f' }, { field: 'ok' }],
            },
          },
          {
            data: { values: extent(data.map((d) => d.offered!)).map((v) => ({ offered: v, achieved: v })) },
            mark: { type: 'line', strokeDash: [3, 3], color: '#999' },
            encoding: { x: { field: 'offered', type: 'quantitative' }, y: { field: 'achieved', type: 'quantitative' } },
          },
        ],
      } as TopLevelSpec,
    });
  }
  // 7. Closed-loop loads (wrk, ab): req/s per stack, bars with the min–max range over repetitions.
  const closed = groups.filter((g) => (g.tool === 'wrk' || g.tool === 'ab') && g.reqPerSec);
  if (new Set(closed.map((g) => g.stack)).size >= 2) {
    const title = 'Throughput per stack (closed-loop load)';
    const data = closed.map((g) => ({
      stack: g.stack,
      config: `${g.load}, ${g.responseBytes} B, ${ka(g.keepalive)}`,
      median: g.reqPerSec!.median,
      min: g.reqPerSec!.min,
      max: g.reqPerSec!.max,
    }));
    charts.push({
      id: 'throughput-per-stack',
      title,
      caption: 'Median req/s over repetitions and runs; the black line spans min to max, so bars whose lines overlap differ by less than the run-to-run noise.',
      spec: {
        ...base(title, data),
        height: Math.max(HEIGHT, 14 * data.length + 12 * new Set(data.map((d) => d.config)).size),
        encoding: {
          y: { field: 'config', type: 'nominal', title: null, axis: { labelLimit: 400 } },
          yOffset: { field: 'stack', type: 'nominal' },
          color: { field: 'stack', type: 'nominal' },
        },
        layer: [
          {
            mark: 'bar',
            encoding: {
              x: { field: 'median', type: 'quantitative', title: 'req/s' },
              tooltip: [
                { field: 'stack' },
                { field: 'config' },
                { field: 'median', format: '.0f' },
                { field: 'min', format: '.0f' },
                { field: 'max', format: '.0f' },
              ],
            },
          },
          { mark: { type: 'rule', color: 'black' }, encoding: { x: { field: 'min', type: 'quantitative' }, x2: { field: 'max' } } },
        ],
      } as TopLevelSpec,
    });
  }
  return charts;
}

/** A chart as SVG, rendered without a browser. */
export async function renderSvg(chart: Chart): Promise<string> {
  // Loaded on first use: vega takes about a second to load, and only `netlab report` draws.
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(vl.compile(chart.spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
