// bench-kube-proxy (issue 16): the real kube-proxy against the model in one run. For each mode,
// a lab run with the model and one with the real kube-proxy at the same Service counts: the
// programming time of each, and, for the real one, the diff of the model's rules against the
// rules kube-proxy programmed at each count.
import Table from 'cli-table3';
import type { Command } from 'commander';
import { type ModelComparison, compareWithModel } from '../local/compare-model.ts';
import { benchOutput } from './output.ts';
import { benchSpecs, RESULTS } from './bench.ts';
import { flags } from './usage.ts';
import { runStacks } from './runs.ts';

const MODES = ['iptables-nft', 'iptables-legacy', 'nftables'] as const;

export function benchKubeProxyCommand(program: Command): void {
  program
    .command('bench-kube-proxy')
    .description(
      "programming time of the real kube-proxy (through the API) against the model's load, and the model's rules diffed against kube-proxy's, at each Service count, in one run",
    )
    .option('--modes <list>', `comma-separated: ${MODES.join(', ')}`, MODES.join(','))
    .option('--services <list>', 'Service counts (10 backends each)', '1000,10000')
    .option('--json', 'machine-readable output')
    .action(benchKubeProxy);
}

export interface KubeProxyBenchRow {
  mode: string;
  implementation: 'model' | 'kube-proxy';
  status: string;
  programs: { services: number; seconds: number; rules: number; chains: number; mapElements: number; syncs?: number; syncSeconds?: number }[];
  comparison: ModelComparison[];
  dir: string;
}

async function benchKubeProxy(o: { modes: string; services: string; json?: boolean }): Promise<void> {
  const f = flags('bench-kube-proxy');
  const modes = f.names('--modes', o.modes, MODES);
  const counts = f.ints('--services', o.services, 1, 30_000);
  const variants = modes.flatMap((m) =>
    (['model', 'kube-proxy'] as const).map((implementation) => {
      const [mode, backend] = m.split('-') as [string, string | undefined];
      return {
        label: `${m} ${implementation}`,
        name: `bench-kp-${m}-${implementation === 'model' ? 'model' : 'real'}`,
        config: {
          'netlab:description': `netlab bench-kube-proxy: ${m}, ${implementation}`,
          'netlab:datapath': 'hostgw',
          // A 10,000-Service fleet through the API and kube-proxy takes minutes here: bounded at 30.
          'netlab:proxy': {
            mode,
            ...(backend ? { iptablesBackend: backend } : {}),
            implementation,
            services: counts,
            backendsPerService: 10,
            target: 'last',
            ...(implementation === 'kube-proxy' ? { syncTimeoutSeconds: 1800 } : {}),
          },
          // One short point per count: enough to check the target answers through the rules.
          'netlab:workload': { tool: 'rps', rate: 100, durationSeconds: 1, keepalive: [false] },
          'netlab:warmupSeconds': 0,
        },
      };
    }),
  );
  const { specs, skipped } = await benchSpecs('bench-kube-proxy', variants);
  const outcomes = await runStacks(specs, { json: o.json, quiet: !!o.json, resultsRoot: RESULTS() });
  const rows: KubeProxyBenchRow[] = [];
  for (const [i, { result, dir }] of outcomes.entries()) {
    const spec = specs[i]!;
    const p = spec.proxy!;
    rows.push({
      mode: p.mode === 'nftables' ? 'nftables' : `${p.mode}-${p.iptablesBackend}`,
      implementation: p.implementation,
      status: result.status,
      programs: (result.proxy?.programs ?? []).map(({ services, seconds, rules, chains, mapElements, kubeProxySyncs: k }) => ({
        services,
        seconds,
        rules,
        chains,
        mapElements,
        ...(k ? { syncs: k.syncs, syncSeconds: k.syncSeconds } : {}),
      })),
      comparison: result.status === 'ok' ? await compareWithModel(spec, result, dir) : [],
      dir,
    });
  }
  benchOutput(specs, outcomes, { rows, skipped }, () => renderKubeProxyBench(rows, counts), skipped, o.json);
}

export function renderKubeProxyBench(rows: KubeProxyBenchRow[], counts: number[]): string {
  const t = new Table({
    head: [
      'mode',
      'rules written by',
      ...counts.map((n) => `programming s @${n}`),
      ...counts.map((n) => `kube-proxy syncs @${n}`),
      ...counts.map((n) => `rules @${n}`),
      'model vs kube-proxy',
    ],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    const at = (n: number) => r.programs.find((p) => p.services === n);
    const cmp =
      r.implementation === 'model'
        ? ''
        : r.comparison
            .map(
              (c) =>
                `@${c.services}: ${c.onlyModel.length + c.onlyReal.length === 0 ? 'equal' : `${c.onlyModel.length} lines only in the model, ${c.onlyReal.length} only in kube-proxy's`}`,
            )
            .join('; ');
    t.push([
      r.mode,
      r.implementation === 'model' ? "netlab's model" : 'kube-proxy',
      ...counts.map((n) => (at(n) ? at(n)!.seconds.toFixed(2) : '-')),
      ...counts.map((n) => (at(n)?.syncs !== undefined ? `${at(n)!.syncs} in ${at(n)!.syncSeconds!.toFixed(2)} s` : '-')),
      ...counts.map((n) => (at(n) ? String(at(n)!.rules || at(n)!.mapElements) : '-')),
      cmp || (r.implementation === 'model' ? '' : r.status),
    ]);
  }
  return `${t.toString()}
programming s: the model = its own load (restore or nft -f); kube-proxy = from the API write until the kernel holds the last Service with its last endpoint.
kube-proxy syncs: its own metrics over that programming (kubeproxy_sync_proxy_rules_duration_seconds): how many syncs, and their total seconds.
rules: iptables -A lines of the nat table; nftables: map elements. model vs kube-proxy: a line diff of iptables-save -t nat (nft list table), counters and element order aside.`;
}
