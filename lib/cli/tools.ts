// The verbs that look at this machine or help by hand: doctor, rps, tuning-plan.
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { release } from 'node:os';
import { run } from '../core/exec.ts';
import { FEATURES, missing, probeFeatures } from '../local/features.ts';
import { environment } from '../local/run.ts';
import { listStackNames, loadStack } from '../spec/stackfile.ts';
import { isAwsSpec } from '../aws/plan.ts';
import { awsPrereqs } from '../aws/sweep.ts';
import { pulumiTools as pulumiToolsOf } from '../pulumi/tools.ts';
import { rpsClient, rpsFlags } from '../workload/rps.ts';
import { kernelVersion, placement, renderTuning, studyTuning, tuningSteps, workerCpuAffinity } from '../tuning/plan.ts';
import { resolveTuning } from '../tuning/profile.ts';
import { formatCpuList, parseLscpuP, type Topology } from '../tuning/topology.ts';
import { isVmSpec, vmDoctor, vmMissing } from '../vm/run.ts';
import { plainTable } from './output.ts';
import { flags, httpTarget } from './usage.ts';

export function toolCommands(program: Command): void {
  program
    .command('doctor')
    .description('kernel features and tools present or missing, and which stacks can run here')
    .option('--json', 'machine-readable output')
    .action(doctor);

  program
    .command('rps')
    .description('open-loop HTTP client: a fixed request rate, latency from each intended send time (HDR histogram); JSON on stdout')
    .argument('<url>', 'http://<ipv4 or host name>[:port]/<path> (the lab uses addresses inside its own namespaces)')
    .option('--rate <n>', 'requests per second', '1000')
    .option('--duration <s>', 'seconds', '10')
    .option('--requests-per-connection <n>', '1 = a new connection per request', '1')
    .option('--hosts <n>', "spread connections over this many consecutive addresses from the URL's", '1')
    .option('--max-connections <n>', 'open connections allowed at once', '1000')
    .option('--timeout <ms>', 'per-request time limit', '5000')
    .option('--expect-body <n>', 'count a response whose body has any other size as an error')
    .option('--busy-poll', 'keep every CPU of the machine out of idle (a nice-19 spinner pinned to each; their CPU is reported apart)')
    .action(rps);

  program
    .command('tuning-plan')
    .description("print a host's tuning (IRQ/RPS/XPS/RFS, sysctls, tuned, NOTRACK, pinning) derived from its CPU topology; changes nothing")
    .option('--lscpu <file>', "saved `lscpu -p` output (default: this machine's)")
    .option('--kernel <release>', "kernel release of that host (default: this machine's)")
    .option('--profile <name>', 'tuning profile: study (seed 001) or none', 'study')
    .option('--nic <name>', 'network interface', 'eth0')
    .option('--rx-queues <n>', 'RX queues', '2')
    .option('--tx-queues <n>', 'TX queues', '2')
    .option('--irqs <list>', 'IRQ number of each queue, comma-separated (none: IRQ pinning is skipped)', '')
    .option('--only-nic', 'only the NIC part (IRQ/RPS/XPS/RFS)')
    .action(tuningPlan);
}

/** doctor: kernel features, tools, the Pulumi tools, the aws target's needs, and which stacks can run here. */
async function doctor(o: { json?: boolean }): Promise<void> {
  const [features, env, vm] = await Promise.all([probeFeatures(), environment(), vmDoctor()]);
  const pulumiTools = pulumiToolsOf();
  const aws = awsPrereqs();
  const awsMissing = aws.filter((x) => !x.ok).map((x) => x.name);
  const stacks = listStackNames().map((name) => {
    try {
      const spec = loadStack(name);
      const problems = isAwsSpec(spec)
        ? awsMissing.length
          ? [`aws target: missing ${awsMissing.join(', ')} (see the aws table)`]
          : []
        : isVmSpec(spec)
          ? vmMissing(spec)
          : missing(spec, features, env.tools, env.kernel);
      return { name, runnable: problems.length === 0, problems };
    } catch (e) {
      return { name, runnable: false, problems: [(e as Error).message] };
    }
  });
  if (o.json) {
    process.stdout.write(
      JSON.stringify({ kernel: env.kernel, root: process.getuid?.() === 0, features, tools: env.tools, pulumi: pulumiTools, aws, vm, stacks }, null, 2) + '\n',
    );
    return;
  }
  process.stdout.write(
    `kernel ${env.kernel}, ${env.cpus} × ${env.cpuModel}, ${env.os}; running as ${process.getuid?.() === 0 ? 'root' : 'non-root (the local target needs root)'}\n\n`,
  );
  const ft = plainTable(['kernel feature', 'state', 'detail']);
  for (const f of FEATURES) ft.push([f, features[f].ok ? 'ok' : 'MISSING', features[f].detail]);
  const tt = plainTable(['tool', 'version']);
  for (const [t, v] of Object.entries(env.tools)) tt.push([t, v === null ? 'MISSING' : v.length > 70 ? `${v.slice(0, 67)}...` : v]);
  // The Pulumi tools (scripts/install-tools.sh): version and where each came from.
  const pt = plainTable(['Pulumi tool', 'version', 'from', 'detail'], { colWidths: [25, 18, 10, 73], wordWrap: true });
  for (const x of pulumiTools) pt.push([x.tool, x.version ?? 'MISSING', x.source, x.detail]);
  const st = plainTable(['stack', 'runs here', 'why not'], { colWidths: [26, 10, 90], wordWrap: true });
  for (const s of stacks) st.push([s.name, s.runnable ? 'yes' : 'no', s.problems.join('\n')]);
  const at = plainTable(['aws target needs', 'state', 'detail'], { colWidths: [20, 9, 97], wordWrap: true });
  for (const x of aws) at.push([x.name, x.ok ? 'ok' : 'MISSING', x.detail]);
  // The vm hosts (netlab:vm): each accelerator probed with a real guest boot, and the cached kernels.
  const vt = plainTable(['vm hosts need', 'state', 'detail'], { colWidths: [20, 9, 97], wordWrap: true });
  for (const a of vm.accels) vt.push([a.accel === 'kvm' ? 'KVM' : 'TCG (emulation)', a.ok ? 'ok' : 'NO', a.detail]);
  for (const k of vm.kernels) vt.push([`kernel ${k.kernel}`, k.package ? 'ok' : 'MISSING', k.package ? `${k.package}, ${k.detail}` : k.detail]);
  process.stdout.write(`${ft.toString()}\n${tt.toString()}\n${pt.toString()}\n${at.toString()}\n${vt.toString()}\n${st.toString()}\n`);
}

interface RpsOptions {
  rate: string;
  duration: string;
  requestsPerConnection: string;
  hosts: string;
  maxConnections: string;
  timeout: string;
  expectBody?: string;
  busyPoll?: boolean;
}

/** rps: the compiled client (tools/rps), run with the checked flags; its exit code is netlab's. */
async function rps(url: string, o: RpsOptions): Promise<void> {
  const f = flags('rps');
  const target = httpTarget(url);
  if (!target) throw f.refuse('url', url, 'http://<IPv4 address or host name>[:port]/<path>');
  const hosts = f.int('--hosts', o.hosts, 1, 1 << 20);
  if (hosts > 1 && !isIPv4(target.host)) throw f.refuse('--hosts', o.hosts, '1 with a host name (connections are spread over consecutive IPv4 addresses)');
  const options = {
    ...target,
    hosts,
    rate: f.int('--rate', o.rate, 1, 100_000),
    durationSeconds: f.int('--duration', o.duration, 1, 3600),
    requestsPerConnection: f.int('--requests-per-connection', o.requestsPerConnection, 1, 1_000_000),
    maxConnections: f.int('--max-connections', o.maxConnections, 1, 20_000),
    timeoutMs: f.int('--timeout', o.timeout, 1, 60_000),
    ...(o.expectBody !== undefined ? { expectBodyBytes: f.int('--expect-body', o.expectBody, 0, 1 << 30) } : {}),
    ...(o.busyPoll ? { busyPoll: true } : {}),
  };
  // The client is compiled (tools/rps): it prints the verdict on stderr and the report on
  // stdout, and exits 1 when not one request succeeded (no such name, nothing listening, …).
  const child = spawn(rpsClient(), rpsFlags(options), { stdio: ['ignore', 'inherit', 'inherit'] });
  process.exitCode = await new Promise<number>((res, rej) => child.on('close', (code) => res(code ?? 2)).on('error', rej));
}

interface TuningPlanOptions {
  lscpu?: string;
  kernel?: string;
  profile: string;
  nic: string;
  rxQueues: string;
  txQueues: string;
  irqs: string;
  onlyNic?: boolean;
}

const LSCPU = 'the output of lscpu -p=CPU,CORE,SOCKET,NODE, saved to a file';

/** tuning-plan: a host's tuning steps from its topology (a saved lscpu -p, or this machine's); changes nothing. */
async function tuningPlan(o: TuningPlanOptions): Promise<void> {
  const f = flags('tuning-plan');
  const text = o.lscpu ? readFileSync(f.file('--lscpu', o.lscpu, LSCPU), 'utf8') : (await run(['lscpu', '-p=CPU,CORE,SOCKET,NODE'])).stdout;
  const profile = f.name('--profile', o.profile, ['study', 'none'] as const);
  const kernel = o.kernel ?? release();
  try {
    kernelVersion(kernel);
  } catch {
    throw f.refuse('--kernel', kernel, 'a kernel release such as 5.10.0 or 6.1.0-13-amd64');
  }
  if (!/^(?!\.\.?$)[^\s/:]{1,15}$/.test(o.nic)) throw f.refuse('--nic', o.nic, 'an interface name (1 to 15 characters, no /, : or white space)');
  const rxQueues = f.int('--rx-queues', o.rxQueues, 1, 1024);
  const txQueues = f.int('--tx-queues', o.txQueues, 1, 1024);
  const irqs = o.irqs ? f.ints('--irqs', o.irqs, 1, 1024, rxQueues) : [];
  let topology: Topology;
  try {
    topology = parseLscpuP(text);
  } catch (e) {
    if (!o.lscpu) throw e;
    throw f.refuse('--lscpu', o.lscpu, LSCPU, (e as Error).message);
  }
  const nic = { name: o.nic, rxQueues, txQueues, irqs };
  const tuning = resolveTuning({ profile });
  const steps = o.onlyNic
    ? studyTuning(topology, nic)
    : tuningSteps(tuning, { topology, kernel, nics: [nic], embedded: false, namespaces: [], iptables: 'iptables', traffic: { tcpPorts: [80], udpPorts: [] } });
  process.stdout.write(renderTuning(steps));
  if (tuning.pinning && !o.onlyNic) {
    const p = placement(topology, false);
    process.stdout.write(
      `# pinning: nginx worker_cpu_affinity ${workerCpuAffinity(p.server, p.server.length)} (${p.server.length} workers); load tool: taskset -c ${formatCpuList(p.client)} with ${p.client.length} threads\n`,
    );
  }
}
