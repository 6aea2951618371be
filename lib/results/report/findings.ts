// The report's opening: each study's headline result as measured, with its 95 % interval over
// repetitions. E1/E4: mean latency and machine CPU from the fewest to the most Services, per proxy
// mode and iptables backend, without and with keep-alive. E2: p99 per datapath against the host
// baseline at the same load. Pure.
import type { PointResult, RunResult } from '../result.ts';
import { intervalText, ratioInterval, slopeInterval, type Interval } from '../stats.ts';
import { loadLabel, proxyLabel, proxyRatios } from '../summary.ts';
import { comparableHosting, hostingOf, type Loaded } from './data.ts';

export interface Finding {
  study: 'E1/E4' | 'E2';
  /** What was compared: the stack, mode or datapath, and the load. */
  subject: string;
  /** One sentence with the figures and their intervals. */
  text: string;
  /** The headline ratio (latency), with its interval. */
  ratio: Interval;
  significant: boolean | null;
}

const kaText = (k: boolean) => (k ? 'keep-alive on' : 'a new connection per request');

function proxyFindings(results: RunResult[]): Finding[] {
  const out: Finding[] = [];
  for (const stack of [...new Set(results.filter((r) => r.proxy).map((r) => r.stack))]) {
    const runs = results.filter((r) => r.stack === stack);
    const counts = [...new Set(runs.flatMap((r) => r.points.map((p) => p.params.services)).filter((n): n is number => typeof n === 'number'))].sort(
      (a, b) => a - b,
    );
    if (counts.length < 2) continue;
    const low = counts[0]!;
    const high = counts.at(-1)!;
    for (const row of proxyRatios(runs, low, high)) {
      if (!row.meanRatio) continue;
      // Machine CPU: difference of the means of the repetitions, in cores.
      const cores = (n: number) =>
        runs
          .flatMap((r) => r.points)
          .filter(
            (p) =>
              p.status === 'ok' &&
              p.params.services === n &&
              p.params.keepalive === row.keepalive &&
              loadLabel(p) === row.load &&
              typeof p.cpu?.cores === 'number',
          )
          .map((p) => p.cpu!.cores);
      const cpu = slopeInterval(cores(high), cores(low), 1);
      const slope = row.slope ? `, ${intervalText(row.slope, 1, ' ns')} per ${row.slope.per}` : '';
      // Emulated (netlab:vm under TCG): the ratio is within the one emulated run; said so.
      const tcg = runs.some((r) => hostingOf(r) === 'tcg') ? `, emulated on kernel ${runs[0]!.vm!.kernel} (TCG: behaviour, not speed)` : '';
      out.push({
        study: 'E1/E4',
        subject: `${row.mode} (${stack}${tcg}), ${kaText(row.keepalive)}`,
        text: `${row.mode}${tcg}, ${kaText(row.keepalive)}: mean latency ${intervalText(row.meanRatio)} from ${low} to ${high.toLocaleString('en')} Services (${row.meanLow?.toFixed(3) ?? '?'} → ${row.meanHigh?.toFixed(3) ?? '?'} ms${slope}); machine CPU ${cpu ? `${cpu.value >= 0 ? '+' : ''}${intervalText(cpu, 2, ' cores')}` : '-'}.`,
        ratio: row.meanRatio,
        significant: row.meanRatio.significant,
      });
    }
  }
  return out;
}

function datapathFindings(results: RunResult[], baseline: string | null): Finding[] {
  if (!baseline) return [];
  // Only runs whose timings compare with the baseline's (an emulated run never against a native one).
  const baseHosting = results.find((r) => r.stack === baseline);
  const plain = results.filter(
    (r) => (!r.proxy || proxyLabel(r.spec, r.proxy.mode) === 'none') && (!baseHosting || comparableHosting(hostingOf(r), hostingOf(baseHosting))),
  );
  const key = (p: PointResult) => `${loadLabel(p)}|${p.params.responseBytes}|${p.params.keepalive}`;
  const p99s = (stack: string, k: string) =>
    plain
      .filter((r) => r.stack === stack)
      .flatMap((r) => r.points)
      .filter((p) => p.status === 'ok' && key(p) === k && typeof p.latencyMs?.p99 === 'number')
      .map((p) => p.latencyMs!.p99);
  const out: Finding[] = [];
  for (const stack of [...new Set(plain.map((r) => r.stack))].filter((s) => s !== baseline)) {
    const keys = [...new Set(plain.filter((r) => r.stack === stack).flatMap((r) => r.points.map(key)))];
    for (const k of keys) {
      const ratio = ratioInterval(p99s(stack, k), p99s(baseline, k));
      if (!ratio) continue;
      const [load, bytes, ka] = k.split('|');
      const dp = String((plain.find((r) => r.stack === stack)!.spec as { datapath?: string }).datapath ?? stack);
      out.push({
        study: 'E2',
        subject: `${dp} (${stack}), ${load}, ${bytes} B`,
        text: `${dp} (${stack}) at ${load}, ${bytes} B, ${ka === 'true' ? 'keep-alive' : 'no keep-alive'}: p99 ${intervalText(ratio)} of ${baseline}'s.`,
        ratio,
        significant: ratio.significant,
      });
    }
  }
  return out;
}

export function findings(runs: Loaded[], baseline: string | null): Finding[] {
  const results = runs.map((r) => r.result);
  return [...proxyFindings(results), ...datapathFindings(results, baseline)];
}
