// The bench verbs: bench (datapaths), bench-proxy (proxy modes at scale), bench-proxy-load
// (programming time), bench-client (the load client's floor and ceiling), bench-pulumi (the engine's cost).
import type { Command } from 'commander';
import { join } from 'node:path';
import { missing, probeFeatures } from '../local/features.ts';
import { environment, PreflightError } from '../local/run.ts';
import { LOAD_MODES, timeProxyLoad, type LoadResult } from '../local/proxy-load.ts';
import type { RunResult } from '../results/result.ts';
import { proxyRatios, renderProxyRatios } from '../results/summary.ts';
import { DATAPATHS, type Spec } from '../spec/schema.ts';
import { SpecError } from '../spec/errors.ts';
import { specFromStackDoc } from '../spec/document.ts';
import { loadStack, PROJECT_DIR } from '../spec/stackfile.ts';
import { isAwsSpec } from '../aws/plan.ts';
import { benchPulumi, renderPulumiBench } from '../pulumi/bench.ts';
import { interruptible } from '../core/signals.ts';
import { benchOutput, clock, plainTable } from './output.ts';
import { runStacks } from './runs.ts';
import { flags, UsageError } from './usage.ts';

/** bench-proxy's modes: iptables and ipvs with the iptables backend that loads their rules. */
const BENCH_PROXY_MODES = ['iptables-nft', 'iptables-legacy', 'nftables', 'ebpf', 'ipvs-nft', 'ipvs-legacy', 'none'] as const;
const benchProxyMode = (m: string) => {
  const [mode, backend] = m.split('-') as [string, string | undefined];
  return backend ? { mode, iptablesBackend: backend } : { mode };
};

export const RESULTS = () => join(PROJECT_DIR, 'results');
const needsRoot = (who: string) => new PreflightError(who, ['the local target creates network namespaces: run as root']);

export function benchCommands(program: Command): void {
  program
    .command('bench-pulumi')
    .description(
      'what the Pulumi engine costs: tools install time (warm; cold with --cold), and pulumi up + destroy against netlab up on the same stack, as a ratio',
    )
    .argument('[stack]', 'a local stack (run from a temporary copy, so the shipped file is untouched)', 'local-host')
    .option('--cold', 'also time a cold install: an empty temporary tools cache and Go build cache (builds the CLI again: about 9 minutes)')
    .option('--json', 'machine-readable output')
    .action(benchPulumiVerb);

  program
    .command('bench')
    .description('per datapath: set-up and tear-down time, p50/p99 and req/s of a fixed short load, host = 1.0')
    .option('--datapaths <list>', 'comma-separated datapaths', 'host,hostgw,vxlan,macvlan,ipvlan')
    .option('--seconds <n>', 'wrk duration per point', '5')
    .option('--json', 'machine-readable output')
    .action(bench);

  program
    .command('bench-client')
    .description(
      "the load client's floor and ceiling in one run: ab -c 1 and the client on the same path (a new connection per request), their ratio, and the new connections per second the client holds pinned to one CPU",
    )
    .option('--rate <n>', 'requests per second of the floor measurement', '1000')
    .option('--ceiling <list>', 'new-connection rates to try, pinned to one CPU', '10000,20000,30000,40000')
    .option('--seconds <n>', 'length of each ceiling point', '5')
    .option('--datapath <dp>', 'path between client and server', 'host')
    .option('--no-busy-poll', "let idle CPUs halt during the client's runs (by default every CPU is kept out of idle: workload.busyPoll)")
    .option('--json', 'machine-readable output')
    .action(benchClient);

  program
    .command('bench-proxy')
    .description(
      'E1/E4 in one run: each proxy mode at 1 and 10,000 Services, 1000 req/s, keepalive off and on; prints 10,000 ÷ 1 latency ratios, programming time, rules walked, CPU',
    )
    .option(
      '--modes <list>',
      `comma-separated: ${BENCH_PROXY_MODES.join(', ')} (iptables and ipvs name their iptables backend)`,
      'iptables-nft,iptables-legacy,nftables,ebpf',
    )
    .option('--services <list>', 'the two Service counts to compare', '1,10000')
    .option('--seconds <n>', 'length of each point', '10')
    .option('--repetitions <n>', 'measurements of each point, for the confidence intervals', '5')
    .option('--rate <n>', 'requests per second', '1000')
    .option('--datapath <dp>', 'pod network between the two hosts', 'hostgw')
    .option('--no-pin', 'let the client and nginx share every CPU (by default the client gets one CPU and nginx the others, as bench-client pins them)')
    .option('--no-busy-poll', "let idle CPUs halt during the client's runs (by default every CPU is kept out of idle: workload.busyPoll)")
    .option('--json', 'machine-readable output')
    .action(benchProxy);

  program
    .command('bench-proxy-load')
    .description('time loading a Service fleet of each proxy ruleset into a scratch namespace (programming time)')
    .option('--services <list>', 'comma-separated Service counts', '1000,10000')
    .option('--backends <n>', 'backends per Service', '10')
    .option('--modes <list>', `comma-separated: ${LOAD_MODES.join(', ')}`, LOAD_MODES.join(','))
    .option('--timeout <s>', 'give up on one load after this many seconds', '300')
    .option('--noflush', 'iptables modes: load with --noflush as kube-proxy does, instead of replacing the nat table as the lab does')
    .option('--json', 'machine-readable output')
    .action(benchProxyLoad);
}

/**
 * Stacks a bench builds in code from its options: each validated first (a refusal is a usage
 * error), then skipped with the reason where this machine cannot run it.
 */
export async function benchSpecs(
  verb: string,
  variants: { label: string; name: string; config: Record<string, unknown> }[],
): Promise<{ specs: Spec[]; skipped: string[] }> {
  const built = variants.map((v) => {
    try {
      return { label: v.label, spec: specFromStackDoc(v.name, { config: v.config }) };
    } catch (e) {
      throw e instanceof SpecError ? new UsageError(`${verb}: the options give an invalid ${v.label} run: ${e.problems.join('; ')}`) : e;
    }
  });
  if (process.getuid?.() !== 0) throw needsRoot(verb);
  const [features, env] = await Promise.all([probeFeatures(), environment()]);
  const specs: Spec[] = [];
  const skipped: string[] = [];
  for (const { label, spec } of built) {
    const why = missing(spec, features, env.tools, env.kernel);
    if (why.length) skipped.push(`${label}: skipped — ${why.join('; ')}`);
    else specs.push(spec);
  }
  return { specs, skipped };
}

/** bench-pulumi: pulumi up + destroy against netlab up on one local stack; its own failure exits 1. */
async function benchPulumiVerb(ref: string, o: { cold?: boolean; json?: boolean }): Promise<void> {
  const spec = loadStack(ref);
  if (isAwsSpec(spec)) throw new UsageError(`bench-pulumi: ${spec.name} is an aws stack; give a local one`);
  if (process.getuid?.() !== 0) throw needsRoot(ref);
  const { signal, dispose } = interruptible();
  try {
    const b = await benchPulumi({ projectDir: PROJECT_DIR, stack: ref, cold: o.cold, signal, log: (l) => process.stderr.write(`${clock()} ${l}\n`) });
    process.stdout.write(o.json ? JSON.stringify(b, null, 2) + '\n' : renderPulumiBench(b) + '\n');
  } catch (e) {
    process.stderr.write(`netlab: bench-pulumi: ${(e as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    dispose();
  }
}

/** bench: set-up and tear-down seconds of each datapath under a short wrk load. */
async function bench(o: { datapaths: string; seconds: string; json?: boolean }): Promise<void> {
  const f = flags('bench');
  const datapaths = f.names('--datapaths', o.datapaths, DATAPATHS);
  const seconds = f.int('--seconds', o.seconds, 1, 600);
  const { specs, skipped } = await benchSpecs(
    'bench',
    datapaths.map((dp) => ({
      label: dp,
      name: `bench-${dp}`,
      config: {
        'netlab:description': `netlab bench: ${dp}`,
        'netlab:datapath': dp,
        'netlab:workload': { tool: 'wrk', durationSeconds: seconds, connections: [1, 16], threads: 1 },
      },
    })),
  );
  const outcomes = await runStacks(specs, { json: o.json, quiet: !!o.json, resultsRoot: RESULTS() });
  const t = plainTable(['datapath', 'set-up s', 'tear-down s', 'set-up+tear-down s']);
  const rows = outcomes.map(({ result: r }) => ({
    datapath: String(r.spec.datapath),
    setupSeconds: r.setup?.seconds ?? null,
    teardownSeconds: r.teardown?.seconds ?? null,
  }));
  for (const b of rows)
    t.push([
      b.datapath,
      b.setupSeconds?.toFixed(3) ?? '-',
      b.teardownSeconds?.toFixed(3) ?? '-',
      b.setupSeconds !== null && b.teardownSeconds !== null ? (b.setupSeconds + b.teardownSeconds).toFixed(3) : '-',
    ]);
  benchOutput(specs, outcomes, { bench: rows, skipped }, () => t.toString(), skipped, o.json);
}

/** bench-client: the client's floor against ab -c 1, then the new-connection rates it holds on one CPU. */
async function benchClient(o: { rate: string; ceiling: string; seconds: string; datapath: string; busyPoll: boolean; json?: boolean }): Promise<void> {
  const f = flags('bench-client');
  const rate = f.int('--rate', o.rate, 1, 100_000);
  const ceiling = f.ints('--ceiling', o.ceiling, 1, 100_000);
  const seconds = f.int('--seconds', o.seconds, 1, 600);
  const datapath = f.name('--datapath', o.datapath, DATAPATHS);
  const { specs, skipped } = await benchSpecs('bench-client', [
    {
      label: datapath,
      name: 'bench-client',
      config: {
        'netlab:description': `netlab bench-client: ${datapath}`,
        'netlab:datapath': datapath,
        // proxy none: the client calls the server straight, and the run measures the client's
        // floor (ab -c 1, then the client at the first rate) before its points.
        'netlab:proxy': { mode: 'none', services: [1] },
        'netlab:workload': {
          tool: 'rps',
          rate: [rate, ...ceiling],
          durationSeconds: seconds,
          keepalive: [false],
          maxConnections: 20_000,
          busyPoll: o.busyPoll,
        },
        // The client on one CPU (taskset), nginx on the others; nothing machine-wide is changed.
        'netlab:tuning': { profile: 'none', pinning: true },
      },
    },
  ]);
  const outcomes = await runStacks(specs, { json: o.json, quiet: !!o.json, resultsRoot: RESULTS() });
  const figures = outcomes.map(({ result: r, dir }) => benchClientFigures(r, dir));
  benchOutput(specs, outcomes, { bench: figures, skipped }, () => figures.map(renderBenchClient).join('\n'), skipped, o.json);
}

/** bench-client's figures from its run: the floor (ab -c 1 vs the client) and each ceiling point. */
export function benchClientFigures(r: RunResult, dir: string) {
  const floor = r.proxy?.clientFloor ?? null;
  const points = r.points
    .filter((p) => p.tool === 'rps')
    .map((p) => ({
      rate: p.params.rate!,
      held: p.status === 'ok' && !!p.rps?.keptUp,
      achievedRate: p.rps?.achievedRate ?? null,
      p50Ms: p.latencyMs?.p50 ?? null,
      p99Ms: p.latencyMs?.p99 ?? null,
      clientCores: p.rps?.clientCpuCores ?? null,
      serverCores: p.cpu?.serverCores ?? null,
      errors: (p.errors ?? 0) + (p.non2xx ?? 0),
      status: p.status,
      reason: p.reason ?? null,
    }));
  const ceiling = points.filter((p) => p.held).reduce<number | null>((m, p) => (m === null || p.rate > m ? p.rate : m), null);
  return { stack: r.stack, status: r.status, dir, cpus: r.tuning?.placement?.client ?? null, floor, ceilingHeld: ceiling, points };
}

function renderBenchClient(b: ReturnType<typeof benchClientFigures>): string {
  const f = b.floor;
  const lines = [
    f && f.ratio !== null
      ? `floor at ${f.rate} req/s, a new connection per request: ab -c 1 mean ${f.abMeanMs} ms; client p50 ${f.clientP50Ms} ms, mean ${f.clientMeanMs} ms; ratio client p50 ÷ ab mean = ${f.ratio} (${f.ratio <= 1.3 ? 'within' : 'ABOVE'} 1.3)`
      : `floor: not measured${f?.error ? ` (${f.error})` : ''}`,
  ];
  const t = plainTable(['new conn/s', 'held?', 'achieved', 'p50 ms', 'p99 ms', 'client cores', 'nginx cores', 'failed']);
  for (const p of b.points)
    t.push([
      p.rate,
      p.held ? 'yes' : 'NO',
      p.achievedRate ?? '-',
      p.p50Ms ?? '-',
      p.p99Ms ?? '-',
      p.clientCores ?? '-',
      p.serverCores?.toFixed(2) ?? '-',
      p.errors,
    ]);
  lines.push(
    `client pinned to CPU ${b.cpus ?? '(not pinned)'}:`,
    t.toString(),
    `ceiling: ${b.ceilingHeld === null ? 'no rate held' : `${b.ceilingHeld} new connections per second held`}; ${b.dir}/result.json`,
  );
  return lines.join('\n');
}

/** bench-proxy: each proxy mode at two Service counts; the latency ratios between them. */
async function benchProxy(o: {
  modes: string;
  services: string;
  seconds: string;
  repetitions: string;
  rate: string;
  datapath: string;
  busyPoll: boolean;
  pin: boolean;
  json?: boolean;
}): Promise<void> {
  const f = flags('bench-proxy');
  const modes = f.names('--modes', o.modes, BENCH_PROXY_MODES);
  const counts = f.ints('--services', o.services, 1, 30_000, 2);
  const seconds = f.int('--seconds', o.seconds, 1, 3600);
  const repetitions = f.int('--repetitions', o.repetitions, 1, 100);
  const rate = f.int('--rate', o.rate, 1, 100_000);
  const datapath = f.name('--datapath', o.datapath, DATAPATHS);
  const { specs, skipped } = await benchSpecs(
    'bench-proxy',
    modes.map((mode) => ({
      label: mode,
      name: `bench-proxy-${mode}`,
      config: {
        'netlab:description': `netlab bench-proxy: ${mode}`,
        'netlab:datapath': datapath,
        'netlab:proxy': { ...benchProxyMode(mode), services: counts, backendsPerService: 10, target: 'last' },
        'netlab:workload': { tool: 'rps', rate, durationSeconds: seconds, keepalive: [false, true], requestsPerConnection: 100, busyPoll: o.busyPoll },
        'netlab:repetitions': repetitions,
        'netlab:warmupSeconds': 2,
        ...(o.pin ? { 'netlab:tuning': { profile: 'none', pinning: true } } : {}),
      },
    })),
  );
  const outcomes = await runStacks(specs, { json: o.json, quiet: !!o.json, resultsRoot: RESULTS() });
  const rows = proxyRatios(
    outcomes.map((x) => x.result),
    counts[0]!,
    counts[1]!,
  );
  benchOutput(specs, outcomes, { ratios: rows, skipped }, () => renderProxyRatios(rows, counts[0]!, counts[1]!), skipped, o.json);
}

/** bench-proxy-load: seconds to load each mode's ruleset for each Service count, in a scratch namespace. */
async function benchProxyLoad(o: { services: string; backends: string; modes: string; timeout: string; noflush?: boolean; json?: boolean }): Promise<void> {
  const f = flags('bench-proxy-load');
  const counts = f.ints('--services', o.services, 1, 30_000);
  const backends = f.int('--backends', o.backends, 1, 100);
  const modes = f.names('--modes', o.modes, LOAD_MODES);
  const timeout = f.int('--timeout', o.timeout, 1, 3600);
  if (process.getuid?.() !== 0) throw new PreflightError('bench-proxy-load', ['it creates a network namespace: run as root']);
  const { signal, dispose } = interruptible();
  const results: LoadResult[] = [];
  try {
    for (const mode of modes)
      for (const services of counts) {
        if (signal.aborted) break;
        if (!o.json) process.stderr.write(`${mode}: ${services} Services × ${backends} backends …\n`);
        results.push(await timeProxyLoad({ mode, services, backendsPerService: backends, timeoutSeconds: timeout, noflush: o.noflush }));
      }
  } finally {
    dispose();
  }
  if (o.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else {
    const t = plainTable(['mode', 'Services', 'backends each', 'rules loaded', 'seconds', 'status']);
    for (const r of results)
      t.push([
        `${r.mode}${r.noflush ? ' --noflush' : ''}`,
        r.services,
        r.backendsPerService,
        r.rulesLoaded,
        r.seconds.toFixed(2),
        r.status + (r.error ? `: ${r.error}` : ''),
      ]);
    process.stdout.write(`${t.toString()}\n`);
  }
}
