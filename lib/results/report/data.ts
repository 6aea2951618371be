// Report data: result.json files → flat points, groups across repetitions and runs, and the
// series each chart draws. Pure: no I/O; reading files is load.ts, drawing is charts.ts.
import * as hdr from 'hdr-histogram-js';
import { RunResult, type PointResult } from '../result.ts';
import { loadLabel, median, proxyLabel } from '../summary.ts';

export interface Loaded {
  file: string;
  result: RunResult;
}

export interface Skipped {
  file: string;
  why: string;
}

/** Validate one file's text against the result schema; a bad or foreign file becomes a reason. */
export function parseResult(file: string, text: string): Loaded | Skipped {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { file, why: `not JSON: ${(e as Error).message}` };
  }
  const schema = (doc as { schema?: unknown } | null)?.schema;
  if (schema !== 'netlab.result/v1') return { file, why: `not a netlab result (schema ${JSON.stringify(schema ?? null)}, expected "netlab.result/v1")` };
  const r = RunResult.safeParse(doc);
  if (!r.success) {
    const iss = r.error.issues[0]!;
    return {
      file,
      why: `does not match the result schema: ${iss.path.join('.') || '(top)'}: ${iss.message}${r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : ''}`,
    };
  }
  // An unfinished run is never counted: its points are a prefix of what was asked, and its lab
  // may have been broken when it died.
  if (r.data.status === 'running')
    return { file, why: `unfinished run (status running): its process is still going or died; \`netlab down ${r.data.stack}\` marks a dead run failed` };
  if (r.data.status === 'interrupted') return { file, why: 'interrupted run (Ctrl-C or SIGTERM): its points are a prefix of what was asked' };
  return { file, result: r.data };
}

/** One measured point, flattened: a CSV row and the unit every chart draws from. */
export interface FlatPoint {
  stack: string;
  runId: string;
  target: string;
  datapath: string;
  proxyMode: string;
  tuning: string;
  kernel: string;
  /** native, kvm or tcg (netlab:vm): where the kernel ran. */
  hosting: Hosting;
  host: string;
  tool: string;
  load: string;
  responseBytes: number;
  keepalive: boolean;
  services: number | null;
  rate: number | null;
  repetition: number;
  status: string;
  requests: number | null;
  reqPerSec: number | null;
  achievedRate: number | null;
  meanMs: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  maxMs: number | null;
  cores: number | null;
  clientCores: number | null;
  serverCores: number | null;
  softirqCores: number | null;
  rulesWalked: number | null;
}

/** Where a run's figures come from: this machine's kernel (native), a VM under KVM, or one under TCG
 * (qemu emulating every instruction: behaviour, not speed; never compared with the others). */
export type Hosting = 'native' | 'kvm' | 'tcg';
export const hostingOf = (r: RunResult): Hosting => r.vm?.accel ?? 'native';
/** Runs whose latency and throughput may be put side by side: TCG only with TCG. */
export const comparableHosting = (a: Hosting, b: Hosting) => (a === 'tcg') === (b === 'tcg');

const specOf = (r: RunResult) => r.spec as { datapath?: string; proxy?: { mode?: string }; tuning?: { profile?: string } };

export function flatten(runs: Loaded[]): FlatPoint[] {
  const out: FlatPoint[] = [];
  for (const { result: r } of runs) {
    const s = specOf(r);
    for (const p of r.points) {
      out.push({
        stack: r.stack,
        runId: r.runId,
        target: r.target,
        datapath: s.datapath ?? '?',
        proxyMode: proxyLabel(r.spec, p.params.proxyMode ?? s.proxy?.mode) ?? 'none',
        tuning: s.tuning?.profile ?? 'none',
        kernel: r.environment.kernel,
        hosting: hostingOf(r),
        host: `${r.environment.cpus} × ${r.environment.cpuModel}`,
        tool: p.tool,
        load: loadLabel(p),
        responseBytes: p.params.responseBytes,
        keepalive: p.params.keepalive,
        services: p.params.services ?? null,
        rate: p.params.rate ?? null,
        repetition: p.repetition,
        status: p.status,
        requests: p.requests,
        reqPerSec: p.reqPerSec,
        achievedRate: achievedRate(p),
        meanMs: p.latencyMs?.mean ?? null,
        p50Ms: p.latencyMs?.p50 ?? null,
        p90Ms: p.latencyMs?.p90 ?? null,
        p99Ms: p.latencyMs?.p99 ?? null,
        p999Ms: p.latencyMs?.p999 ?? null,
        maxMs: p.latencyMs?.max ?? null,
        cores: p.cpu?.cores ?? null,
        clientCores: p.cpu?.clientCores ?? null,
        serverCores: p.cpu?.serverCores ?? null,
        softirqCores: p.cpu?.softirq ?? null,
        rulesWalked: p.rulesWalked?.perConnection ?? null,
      });
    }
  }
  return out;
}

export const PERCENTILES = [50, 75, 90, 95, 99, 99.9, 99.99, 99.999];

/** Requests per second a constant-rate client actually held: rps reports it, tcpkali's is its response rate. */
export function achievedRate(p: PointResult): number | null {
  return p.rps?.achievedRate ?? (p.tool === 'tcpkali' ? p.reqPerSec : null);
}

/** The latency curve of one point: the full HDR histogram where the tool kept one (rps), else the tool's percentiles. */
export function percentileCurve(p: PointResult): { percentile: number; ms: number }[] {
  if (p.rps?.histogram) {
    const h = hdr.decodeFromCompressedBase64(p.rps.histogram);
    try {
      if (h.totalCount > 0) return PERCENTILES.map((q) => ({ percentile: q, ms: h.getValueAtPercentile(q) / 1000 }));
    } finally {
      h.destroy();
    }
  }
  const l = p.latencyMs;
  if (!l) return [];
  const known: [number, number | null][] = [
    [50, l.p50],
    [90, l.p90],
    [99, l.p99],
    [99.9, l.p999],
  ];
  return known.flatMap(([percentile, ms]) => (ms === null ? [] : [{ percentile, ms }]));
}

/** "Nines": 50 % → 0.3, 90 % → 1, 99 % → 2, 99.9 % → 3 … as the study's latency charts were drawn. */
export const nines = (percentile: number) => -Math.log10(1 - percentile / 100);

export interface Spread {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function spread(xs: (number | null)[]): Spread | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return null;
  const [min, max] = extent(v);
  return { n: v.length, median: median(v)!, min, max };
}

/** [min, max] of a non-empty list, for lists of any length (Math.min(...xs) overflows the stack on long ones). */
export function extent(xs: number[]): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const x of xs) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return [min, max];
}

/** One configuration of one stack: its valid points over every repetition and every run. */
export interface Group {
  key: string;
  stack: string;
  datapath: string;
  proxyMode: string;
  tuning: string;
  /** The kernel(s) the stack's runs ran on (a dimension beside datapath and proxy mode). */
  kernel: string;
  hosting: Hosting;
  load: string;
  tool: string;
  responseBytes: number;
  keepalive: boolean;
  services: number | null;
  rate: number | null;
  runs: number;
  ok: number;
  total: number;
  reqPerSec: Spread | null;
  /** Open-loop client: rate achieved, over valid and invalid (not held) points. */
  achievedRate: Spread | null;
  meanMs: Spread | null;
  p99Ms: Spread | null;
  cores: Spread | null;
  rulesWalked: Spread | null;
  /** Per percentile, the median over the valid points. */
  curve: { percentile: number; ms: number }[];
  /** Against the baseline stack at the same configuration. */
  vsBaseline: { baseline: string; reqPerSec: Comparison | null; p99Ms: Comparison | null } | null;
}

export interface Comparison {
  ratio: number;
  /** false when the two ranges (min … max over repetitions) overlap: the difference is within run-to-run noise. */
  significant: boolean | null;
}

export const configKey = (p: { load: string; responseBytes: number; keepalive: boolean; services: number | null }) =>
  `${p.load}|${p.responseBytes}|${p.keepalive}|${p.services ?? ''}`;

/** Ratio of medians; significant only when both sides have a spread (≥ 2 values) and the ranges do not overlap. */
export function compare(v: Spread | null, base: Spread | null): Comparison | null {
  if (!v || !base || base.median === 0) return null;
  const significant = v.n < 2 || base.n < 2 ? null : v.min > base.max || v.max < base.min;
  return { ratio: v.median / base.median, significant };
}

/** The baseline stack: the plain `host` datapath without a proxy or tuning if present, else none. */
export function baselineStack(groups: Pick<Group, 'stack' | 'datapath' | 'proxyMode' | 'tuning'>[]): string | null {
  return groups.find((g) => g.datapath === 'host' && g.proxyMode === 'none' && g.tuning === 'none')?.stack ?? null;
}

/** Group the runs' points; ratios against `baseline` (a stack name) or, if not given, the plain host stack. */
export function groupRuns(runs: Loaded[], baseline?: string): Group[] {
  const byKey = new Map<string, { run: RunResult; p: PointResult }[]>();
  for (const { result: r } of runs)
    for (const p of r.points) {
      const key = `${r.stack}|${configKey({ load: loadLabel(p), responseBytes: p.params.responseBytes, keepalive: p.params.keepalive, services: p.params.services ?? null })}`;
      byKey.set(key, [...(byKey.get(key) ?? []), { run: r, p }]);
    }
  const groups: Group[] = [];
  for (const [key, items] of byKey) {
    const { run, p: first } = items[0]!;
    const s = specOf(run);
    const ok = items.filter((i) => i.p.status === 'ok').map((i) => i.p);
    const curves = ok.map(percentileCurve);
    const pcts = [...new Set(curves.flat().map((c) => c.percentile))].sort((a, b) => a - b);
    groups.push({
      key,
      stack: run.stack,
      datapath: s.datapath ?? '?',
      proxyMode: proxyLabel(run.spec, first.params.proxyMode ?? s.proxy?.mode) ?? 'none',
      tuning: s.tuning?.profile ?? 'none',
      kernel: [...new Set(items.map((i) => i.run.environment.kernel))].join(', '),
      hosting: hostingOf(run),
      load: loadLabel(first),
      tool: first.tool,
      responseBytes: first.params.responseBytes,
      keepalive: first.params.keepalive,
      services: first.params.services ?? null,
      rate: first.params.rate ?? null,
      runs: new Set(items.map((i) => i.run.runId)).size,
      ok: ok.length,
      total: items.length,
      reqPerSec: spread(ok.map((p) => p.reqPerSec)),
      // Achieved rate counts invalid points too: a rate not held is exactly what that chart shows.
      achievedRate: spread(items.filter((i) => i.p.status !== 'failed').map((i) => achievedRate(i.p))),
      meanMs: spread(ok.map((p) => p.latencyMs?.mean ?? null)),
      p99Ms: spread(ok.map((p) => p.latencyMs?.p99 ?? null)),
      cores: spread(ok.map((p) => p.cpu?.cores ?? null)),
      rulesWalked: spread(ok.map((p) => p.rulesWalked?.perConnection ?? null)),
      curve: pcts.flatMap((q) => {
        const m = median(curves.flatMap((c) => c.filter((x) => x.percentile === q).map((x) => x.ms)));
        return m === null ? [] : [{ percentile: q, ms: m }];
      }),
      vsBaseline: null,
    });
  }
  const base = baseline ?? baselineStack(groups);
  if (base)
    for (const g of groups) {
      if (g.stack === base) continue;
      const b = groups.find((x) => x.stack === base && configKey(x) === configKey(g) && comparableHosting(x.hosting, g.hosting));
      if (b) g.vsBaseline = { baseline: base, reqPerSec: compare(g.reqPerSec, b.reqPerSec), p99Ms: compare(g.p99Ms, b.p99Ms) };
    }
  return groups;
}

/** Programming time per Service count and proxy mode (median over runs). */
export function programming(runs: Loaded[]): { stack: string; proxyMode: string; services: number; seconds: number; runs: number }[] {
  const by = new Map<string, { stack: string; proxyMode: string; services: number; xs: number[] }>();
  for (const { result: r } of runs)
    for (const pr of r.proxy?.programs ?? []) {
      const key = `${r.stack}|${pr.services}`;
      const e = by.get(key) ?? { stack: r.stack, proxyMode: proxyLabel(r.spec, r.proxy!.mode)!, services: pr.services, xs: [] };
      e.xs.push(pr.seconds);
      by.set(key, e);
    }
  return [...by.values()].map((e) => ({ stack: e.stack, proxyMode: e.proxyMode, services: e.services, seconds: median(e.xs)!, runs: e.xs.length }));
}

const CSV_COLUMNS: (keyof FlatPoint)[] = [
  'stack',
  'runId',
  'target',
  'datapath',
  'proxyMode',
  'tuning',
  'kernel',
  'host',
  'tool',
  'load',
  'responseBytes',
  'keepalive',
  'services',
  'rate',
  'repetition',
  'status',
  'requests',
  'reqPerSec',
  'achievedRate',
  'meanMs',
  'p50Ms',
  'p90Ms',
  'p99Ms',
  'p999Ms',
  'maxMs',
  'cores',
  'clientCores',
  'serverCores',
  'softirqCores',
  'rulesWalked',
];

/**
 * One CSV cell. Text a spreadsheet would take for a formula (starting with = + - @, tab or CR)
 * gets a leading single quote and is quoted, as OWASP advises against CSV injection; numbers,
 * negative ones included, stay numbers.
 */
export function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s)) return `"'${s.replace(/"/g, '""')}"`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Every point as CSV (RFC 4180 quoting, formulas neutralised), one header line. */
export function toCsv(points: FlatPoint[]): string {
  return [CSV_COLUMNS.join(','), ...points.map((p) => CSV_COLUMNS.map((c) => csvCell(p[c])).join(','))].join('\r\n') + '\r\n';
}
