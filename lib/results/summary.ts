// Figures for people: one row per measured configuration (repetitions folded into their median),
// with the `host` datapath as the 1.0 baseline when it is among the runs. Pure.
import Table from 'cli-table3';
import type { PointResult, RunResult } from './result.ts';
import { intervalText, ratioInterval, slopeInterval, type Interval } from './stats.ts';

export interface Row {
  stack: string;
  /** netlab:vm runs: the guest's kernel series and accelerator (`6.1 TCG`); null on this machine's kernel. */
  vm: string | null;
  /** Under TCG: timings are emulation's, never put against a native run. */
  emulated: boolean;
  datapath: string;
  load: string;
  responseBytes: number;
  keepalive: boolean;
  ok: number;
  total: number;
  reqPerSec: number | null;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  /** p50, p99 and req/s relative to the host datapath at the same load (null without a baseline). */
  p50VsHost: number | null;
  p99VsHost: number | null;
  rpsVsHost: number | null;
  /** Stacks with a proxy: Services programmed, the mode, CPU and rules walked (medians). */
  services: number | null;
  proxyMode: string | null;
  programSeconds: number | null;
  cpuCores: number | null;
  clientCores: number | null;
  rulesWalked: number | null;
  problems: string[];
}

export function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function loadLabel(p: PointResult): string {
  const q = p.params;
  switch (p.tool) {
    case 'ab':
      return `ab -c ${q.concurrency} -n ${q.requests}`;
    case 'wrk':
      return `wrk -c ${q.connections} -t ${q.threads} ${q.durationSeconds}s`;
    case 'rps':
      return `rps ${q.rate}/s ${q.durationSeconds}s`;
    case 'conn-reuse':
      return `conn-reuse ${q.rate ? `${q.rate}/s` : `ab -c ${q.concurrency}`} ${q.durationSeconds}s${q.connReuseMode !== undefined ? ` crm=${q.connReuseMode}` : ''}`;
    case 'tcpkali':
      return `tcpkali ${q.rate}/s -c ${q.connections} ${q.durationSeconds}s`;
  }
}

/**
 * A proxy mode as results name it: iptables and ipvs with their iptables backend
 * (`iptables-nft`, `iptables-legacy`); results written before the backend was a key used legacy.
 */
export function proxyLabel(spec: unknown, mode: string | null | undefined): string | null {
  if (!mode) return null;
  if (mode !== 'iptables' && mode !== 'ipvs') return mode;
  const backend = (spec as { proxy?: { iptablesBackend?: string } } | null)?.proxy?.iptablesBackend ?? 'legacy';
  return `${mode}-${backend}`;
}

export function summarize(results: RunResult[]): Row[] {
  const rows: Row[] = [];
  for (const r of results) {
    const groups = new Map<string, PointResult[]>();
    for (const p of r.points) {
      const key = `${loadLabel(p)}|${p.params.responseBytes}|${p.params.keepalive}|${p.params.services ?? ''}|${p.params.connReuseMode ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), p]);
    }
    for (const pts of groups.values()) {
      const first = pts[0]!;
      const ok = pts.filter((p) => p.status === 'ok' && p.latencyMs);
      const med = (f: (p: PointResult) => number | null | undefined) => median(ok.map(f).filter((v): v is number => typeof v === 'number'));
      rows.push({
        // A run inside a netlab:vm guest is labelled with its kernel and accelerator, and (under
        // TCG) never gets a ratio against a native run.
        stack: r.stack,
        vm: r.vm ? `${r.vm.kernel} ${r.vm.accel.toUpperCase()}` : null,
        emulated: r.vm?.accel === 'tcg',
        datapath: String((r.spec as { datapath?: unknown }).datapath ?? '?'),
        load: loadLabel(first),
        responseBytes: first.params.responseBytes,
        keepalive: first.params.keepalive,
        ok: ok.length,
        total: pts.length,
        reqPerSec: med((p) => p.reqPerSec),
        mean: med((p) => p.latencyMs?.mean),
        p50: med((p) => p.latencyMs?.p50),
        p90: med((p) => p.latencyMs?.p90),
        p99: med((p) => p.latencyMs?.p99),
        p999: med((p) => p.latencyMs?.p999),
        max: med((p) => p.latencyMs?.max),
        p50VsHost: null,
        p99VsHost: null,
        rpsVsHost: null,
        services: first.params.services ?? null,
        proxyMode: proxyLabel(r.spec, first.params.proxyMode),
        programSeconds: median((r.proxy?.programs ?? []).filter((x) => x.services === first.params.services).map((x) => x.seconds)),
        cpuCores: med((p) => p.cpu?.cores),
        clientCores: med((p) => p.cpu?.clientCores),
        rulesWalked: med((p) => p.rulesWalked?.perConnection),
        problems: pts.filter((p) => p.status !== 'ok').map((p) => `${p.id}: ${p.status}${p.reason ? ` (${p.reason})` : ''}`),
      });
    }
  }
  for (const row of rows) {
    if (row.services !== null) continue;
    const base = rows.find(
      (b) =>
        b.services === null &&
        b.datapath === 'host' &&
        b.emulated === row.emulated &&
        b.load === row.load &&
        b.responseBytes === row.responseBytes &&
        b.keepalive === row.keepalive,
    );
    if (!base) continue;
    const ratio = (v: number | null, b: number | null) => (b && v !== null ? v / b : null);
    row.p50VsHost = ratio(row.p50, base.p50);
    row.p99VsHost = ratio(row.p99, base.p99);
    row.rpsVsHost = ratio(row.reqPerSec, base.reqPerSec);
  }
  return rows;
}

const f = (v: number | null, digits = 3) => (v === null ? '-' : v.toFixed(digits));

/** Stacks with a Service proxy: one row per mode × Service count × load, with CPU and rules walked. */
export function renderProxyTable(rows: Row[]): string {
  const head = [
    'stack',
    'proxy',
    'Services',
    'program s',
    'load',
    'keepalive',
    'ok/runs',
    'req/s',
    'mean ms',
    'p50 ms',
    'p99 ms',
    'cores',
    'client cores',
    'rules walked/conn',
  ];
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows)
    t.push([
      stackCell(r),
      r.proxyMode ?? '-',
      String(r.services),
      f(r.programSeconds, 2),
      r.load,
      r.keepalive ? 'on' : 'off',
      `${r.ok}/${r.total}`,
      f(r.reqPerSec, 0),
      f(r.mean),
      f(r.p50),
      f(r.p99),
      f(r.cpuCores, 2),
      f(r.clientCores, 2),
      f(r.rulesWalked, 1),
    ]);
  return t.toString();
}

/** The stack, with the kernel and accelerator of a netlab:vm run (`vm-ipvlan [6.1 TCG]`). */
const stackCell = (r: Row) => (r.vm ? `${r.stack} [${r.vm}]` : r.stack);

export function renderTable(all: Row[]): string {
  const proxied = all.filter((r) => r.services !== null);
  const rows = all.filter((r) => r.services === null);
  const tables: string[] = [];
  if (rows.length) {
    const withRatio = rows.some((r) => r.p99VsHost !== null);
    // max stays in result.json: one stalled request on a shared machine says little about a datapath.
    const head = ['stack', 'load', 'bytes', 'keepalive', 'ok/runs', 'req/s', 'mean ms', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms'];
    if (withRatio) head.push('p50 ×host', 'p99 ×host', 'req/s ×host');
    const t = new Table({ head, style: { head: [], border: [] } });
    for (const r of rows) {
      const cells = [
        stackCell(r),
        r.load,
        String(r.responseBytes),
        r.keepalive ? 'on' : 'off',
        `${r.ok}/${r.total}`,
        f(r.reqPerSec, 0),
        f(r.mean),
        f(r.p50),
        f(r.p90),
        f(r.p99),
        f(r.p999),
      ];
      if (withRatio) cells.push(f(r.p50VsHost, 2), f(r.p99VsHost, 2), f(r.rpsVsHost, 2));
      t.push(cells);
    }
    tables.push(t.toString());
  }
  if (proxied.length) tables.push(renderProxyTable(proxied));
  const emulated = all.some((r) => r.emulated)
    ? ' Rows marked TCG ran in a VM that qemu emulated (no KVM): their timings show behaviour, not speed, and are not comparable with native rows.'
    : '';
  const footer = `Figures are medians over repetitions; ok/runs counts the valid ones${proxied.length ? '; cores = whole machine from /proc/stat' : ''}.${emulated}`;
  return [...tables, footer, ...all.flatMap((r) => r.problems).map((p) => `  ! ${p}`)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Proxy modes: what the larger Service count costs, as ratios within one run.

export interface ProxyRatio {
  stack: string;
  mode: string;
  /** The load (loadLabel) both counts were measured with. */
  load: string;
  keepalive: boolean;
  meanLow: number | null;
  meanHigh: number | null;
  /** Mean latency at the high count ÷ at the low count, with its 95 % bootstrap interval over repetitions. */
  meanRatio: Interval | null;
  /** Extra mean latency per rule walked (iptables, from the counters) or per Service (the others), ns, with its interval. */
  slope: (Interval & { per: 'rule walked' | 'Service' }) | null;
  p99Low: number | null;
  p99High: number | null;
  p99Ratio: number | null;
  programSecondsHigh: number | null;
  rulesWalkedHigh: number | null;
  coresLow: number | null;
  coresHigh: number | null;
  clientCoresHigh: number | null;
  /** The run's client floor: client p50 ÷ `ab -c 1` mean on the direct path (result.proxy.clientFloor.ratio). */
  clientFloor: number | null;
}

/** Per stack and keep-alive setting: what the high Service count costs against the low one. */
export function proxyRatios(results: RunResult[], low: number, high: number): ProxyRatio[] {
  const rows = summarize(results).filter((r) => r.services !== null);
  const out: ProxyRatio[] = [];
  for (const hi of rows.filter((r) => r.services === high)) {
    const lo = rows.find((r) => r.stack === hi.stack && r.services === low && r.keepalive === hi.keepalive && r.load === hi.load);
    const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b ? a / b : null);
    // The repetitions behind the medians: each valid point's mean latency.
    const pts = results.filter((r) => r.stack === hi.stack).flatMap((r) => r.points);
    const means = (n: number) =>
      pts
        .filter((p) => p.status === 'ok' && p.params.services === n && p.params.keepalive === hi.keepalive && loadLabel(p) === hi.load)
        .flatMap((p) => (typeof p.latencyMs?.mean === 'number' ? [p.latencyMs.mean] : []));
    const walked = hi.rulesWalked !== null && lo?.rulesWalked != null ? hi.rulesWalked - lo.rulesWalked : null;
    const per = walked !== null && walked > 0 ? { per: 'rule walked' as const, units: walked } : { per: 'Service' as const, units: high - low };
    // ms → ns per unit.
    const slope = slopeInterval(
      means(high).map((v) => v * 1e6),
      means(low).map((v) => v * 1e6),
      per.units,
    );
    out.push({
      stack: hi.stack,
      mode: hi.proxyMode ?? '?',
      load: hi.load,
      keepalive: hi.keepalive,
      meanLow: lo?.mean ?? null,
      meanHigh: hi.mean,
      meanRatio: ratioInterval(means(high), means(low)),
      slope: slope ? { ...slope, per: per.per } : null,
      p99Low: lo?.p99 ?? null,
      p99High: hi.p99,
      p99Ratio: ratio(hi.p99, lo?.p99),
      programSecondsHigh: hi.programSeconds,
      rulesWalkedHigh: hi.rulesWalked,
      coresLow: lo?.cpuCores ?? null,
      coresHigh: hi.cpuCores,
      clientCoresHigh: hi.clientCores,
      clientFloor: results.find((r) => r.stack === hi.stack && r.proxy?.clientFloor)?.proxy?.clientFloor?.ratio ?? null,
    });
  }
  return out;
}

export function renderProxyRatios(rows: ProxyRatio[], low: number, high: number): string {
  const t = new Table({
    head: [
      'mode',
      'keepalive',
      `mean ms @${low}`,
      `mean ms @${high}`,
      'mean × [95 % CI]',
      'extra ns per unit [95 % CI]',
      `p99 ms @${low}`,
      `p99 ms @${high}`,
      `program s @${high}`,
      `rules walked/conn @${high}`,
      `cores @${low}`,
      `cores @${high}`,
      `client cores @${high}`,
      'client floor',
    ],
    style: { head: [], border: [] },
  });
  for (const r of rows)
    t.push([
      r.mode,
      r.keepalive ? 'on' : 'off',
      f(r.meanLow),
      f(r.meanHigh),
      intervalText(r.meanRatio),
      r.slope ? `${intervalText(r.slope, 1, '')} per ${r.slope.per}` : '-',
      f(r.p99Low),
      f(r.p99High),
      f(r.programSecondsHigh, 2),
      f(r.rulesWalkedHigh, 1),
      f(r.coresLow, 2),
      f(r.coresHigh, 2),
      f(r.clientCoresHigh, 2),
      r.clientFloor === null ? '-' : `${f(r.clientFloor, 2)}×`,
    ]);
  return `${t.toString()}
Latency from each request's intended send time (rps, coordinated-omission corrected); medians of the repetitions, ratios and slopes of their means.
[95 % CI] = percentile bootstrap over repetitions (each side resampled alone); n.s. = the interval holds 1 (ratio) or 0 (slope): not distinguishable from no effect.
cores = whole machine (/proc/stat), client = the load client's cgroup; both without the busy-poll spinners' CPU.
client floor = the client's p50 ÷ ab -c 1's mean on the direct path, measured before programming; above 1.3× the instrument adds more than it should.`;
}
