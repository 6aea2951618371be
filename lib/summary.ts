// Figures for people: one row per measured configuration (repetitions folded into their median),
// with the `host` datapath as the 1.0 baseline when it is among the runs. Pure.
import Table from 'cli-table3';
import type { PointResult, RunResult } from './result.ts';

export interface Row {
  stack: string;
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
        stack: r.stack,
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
        proxyMode: first.params.proxyMode ?? null,
        programSeconds: r.proxy?.programs.find((x) => x.services === first.params.services)?.seconds ?? null,
        cpuCores: med((p) => p.cpu?.cores),
        clientCores: med((p) => p.cpu?.clientCores),
        rulesWalked: med((p) => p.rulesWalked?.perConnection),
        problems: pts.filter((p) => p.status !== 'ok').map((p) => `${p.id}: ${p.status}${p.reason ? ` (${p.reason})` : ''}`),
      });
    }
  }
  for (const row of rows) {
    if (row.services !== null) continue;
    const base = rows.find((b) => b.services === null && b.datapath === 'host' && b.load === row.load && b.responseBytes === row.responseBytes && b.keepalive === row.keepalive);
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
  const head = ['stack', 'proxy', 'Services', 'program s', 'load', 'keepalive', 'ok/runs', 'req/s', 'mean ms', 'p50 ms', 'p99 ms', 'cores', 'client cores', 'rules walked/conn'];
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows)
    t.push([r.stack, r.proxyMode ?? '-', String(r.services), f(r.programSeconds, 2), r.load, r.keepalive ? 'on' : 'off', `${r.ok}/${r.total}`, f(r.reqPerSec, 0), f(r.mean), f(r.p50), f(r.p99), f(r.cpuCores, 2), f(r.clientCores, 2), f(r.rulesWalked, 1)]);
  return t.toString();
}

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
      const cells = [r.stack, r.load, String(r.responseBytes), r.keepalive ? 'on' : 'off', `${r.ok}/${r.total}`, f(r.reqPerSec, 0), f(r.mean), f(r.p50), f(r.p90), f(r.p99), f(r.p999)];
      if (withRatio) cells.push(f(r.p50VsHost, 2), f(r.p99VsHost, 2), f(r.rpsVsHost, 2));
      t.push(cells);
    }
    tables.push(t.toString());
  }
  if (proxied.length) tables.push(renderProxyTable(proxied));
  const footer = `Figures are medians over repetitions; ok/runs counts the valid ones${proxied.length ? '; cores = whole machine from /proc/stat' : ''}.`;
  return [...tables, footer, ...all.flatMap((r) => r.problems).map((p) => `  ! ${p}`)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Proxy modes: what the larger Service count costs, as ratios within one run.

export interface ProxyRatio {
  stack: string;
  mode: string;
  keepalive: boolean;
  meanLow: number | null;
  meanHigh: number | null;
  meanRatio: number | null;
  p99Low: number | null;
  p99High: number | null;
  p99Ratio: number | null;
  programSecondsHigh: number | null;
  rulesWalkedHigh: number | null;
  coresLow: number | null;
  coresHigh: number | null;
  clientCoresHigh: number | null;
}

export function proxyRatios(results: RunResult[], low: number, high: number): ProxyRatio[] {
  const rows = summarize(results).filter((r) => r.services !== null);
  const out: ProxyRatio[] = [];
  for (const hi of rows.filter((r) => r.services === high)) {
    const lo = rows.find((r) => r.stack === hi.stack && r.services === low && r.keepalive === hi.keepalive && r.load === hi.load);
    const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b ? a / b : null);
    out.push({
      stack: hi.stack,
      mode: hi.proxyMode ?? '?',
      keepalive: hi.keepalive,
      meanLow: lo?.mean ?? null,
      meanHigh: hi.mean,
      meanRatio: ratio(hi.mean, lo?.mean),
      p99Low: lo?.p99 ?? null,
      p99High: hi.p99,
      p99Ratio: ratio(hi.p99, lo?.p99),
      programSecondsHigh: hi.programSeconds,
      rulesWalkedHigh: hi.rulesWalked,
      coresLow: lo?.cpuCores ?? null,
      coresHigh: hi.cpuCores,
      clientCoresHigh: hi.clientCores,
    });
  }
  return out;
}

export function renderProxyRatios(rows: ProxyRatio[], low: number, high: number): string {
  const t = new Table({
    head: ['mode', 'keepalive', `mean ms @${low}`, `mean ms @${high}`, `mean ×`, `p99 ms @${low}`, `p99 ms @${high}`, 'p99 ×', `program s @${high}`, `rules walked/conn @${high}`, `cores @${low}`, `cores @${high}`, `client cores @${high}`],
    style: { head: [], border: [] },
  });
  for (const r of rows)
    t.push([r.mode, r.keepalive ? 'on' : 'off', f(r.meanLow), f(r.meanHigh), f(r.meanRatio, 2), f(r.p99Low), f(r.p99High), f(r.p99Ratio, 2), f(r.programSecondsHigh, 2), f(r.rulesWalkedHigh, 1), f(r.coresLow, 2), f(r.coresHigh, 2), f(r.clientCoresHigh, 2)]);
  return `${t.toString()}\nLatency from each request's intended send time (rps, coordinated-omission corrected); cores = whole machine (/proc/stat), client = the load client's cgroup.`;
}
