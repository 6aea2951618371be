// The local runner: executes a plan on network namespaces of this machine. Thin: every command
// comes from the plan; this file only orders, times, records and cleans up.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem, arch } from 'node:os';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { CommandError, run, type ExecOptions, type ExecResult } from '../core/exec.ts';
import { AGENT, AgentClient } from '../vm/agent.ts';
import { missing, probeFeatures, toolVersions } from './features.ts';
import { parseAb, parseRps, parseWrk, ParseError, type Measured } from '../workload/parsers.ts';
import { buildPlan, CLIENT_FLOOR_ROUNDS, renderPlan, type ClientFloor, type Plan, type PlanOptions, type Point, type Step } from './plan.ts';
import { RESULT_SCHEMA_ID, type Check, type Environment, type PointResult, type RunResult } from '../results/result.ts';
import type { Spec } from '../spec/schema.ts';
import { acquireLock, cgroupRoot, listNamespaces, readState, type TeardownReport, teardownStack, teardownTargets, writeState } from './state.ts';
import { makeDir, readIfExists, writeFileAtomic, writeFiles } from '../core/files.ts';
import { PROJECT_DIR } from '../spec/stackfile.ts';
import { rpsClient, rpsClientPath, RpsClientMissing } from '../workload/rps.ts';
import { cpuBetween, parseCpuStatUsec, sampleCpu, type CpuSample } from '../core/cpu.ts';
import { rulesWalked } from '../proxy/iptables/ruleset.ts';
import { k8sVersions } from '../k8s/tools.ts';
import { type DatapathState, nsStateCommand, parseNsState } from '../datapath/state.ts';
import { median } from '../results/summary.ts';
import { multiarchInclude } from '../proxy/ebpf/program.ts';
import type { ProxyProgram } from '../proxy/provider.ts';
import { parseSyncCounters, syncDelta } from '../proxy/kube-proxy/metrics.ts';
import { formatCpuList, parseLscpuP } from '../tuning/topology.ts';
import { applyTuning, stacksWithTuning, type TuningRecord } from '../tuning/apply.ts';
import { cgroupBase, nsPrefix, runDirOf } from '../core/names.ts';

export class PreflightError extends Error {
  override name = 'PreflightError';
  constructor(
    readonly stackName: string,
    readonly problems: string[],
  ) {
    super(`stack ${stackName} cannot run on this machine; nothing was changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export type Progress = (event: {
  stack: string;
  phase: 'preflight' | 'setup' | 'load' | 'teardown' | 'done';
  text: string;
  index?: number;
  total?: number;
}) => void;

export interface UpOptions {
  keep?: boolean;
  resultsRoot?: string;
  signal?: AbortSignal;
  progress?: Progress;
}

export interface UpOutcome {
  result: RunResult;
  dir: string;
}

/** A point is invalid when more than this share of its requests failed. */
export const MAX_ERROR_SHARE = 0.01;

export async function environment(): Promise<Environment> {
  let os = 'unknown';
  try {
    os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    /* keep unknown */
  }
  const cpu = cpus();
  return {
    hostname: hostname(),
    kernel: release(),
    os,
    arch: arch(),
    cpuModel: cpu[0]?.model ?? 'unknown',
    cpus: cpu.length,
    memoryBytes: totalmem(),
    node: process.version,
    tools: await toolVersions(),
  };
}

export function newRunId(now = new Date()): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(2).toString('hex')}`;
}

/** Plan options for this machine: its cgroup v2 mount, the load client built from this checkout, clang's includes, CPU topology and kernel. */
/** Inside a netlab:vm guest, the run id the host side chose (so its state names the result file
 * `netlab down` marks failed if the run dies); elsewhere null. */
function guestRunId(env: NodeJS.ProcessEnv = process.env): string | null {
  const id = env.NETLAB_VM_GUEST ? env.NETLAB_RUN_ID : undefined;
  return id && /^\d{8}T\d{6}Z-[0-9a-f]{4}$/.test(id) ? id : null;
}

export function machinePlanOptions(): Pick<PlanOptions, 'cgroupRoot' | 'rpsClient' | 'includeDir' | 'host'> {
  return {
    cgroupRoot: cgroupRoot() ?? '/sys/fs/cgroup',
    rpsClient: [rpsClientPath()],
    includeDir: multiarchInclude(arch()),
    host: { topology: parseLscpuP(execFileSync('lscpu', ['-p=CPU,CORE,SOCKET,NODE'], { encoding: 'utf8' })), kernel: release() },
  };
}

/** `<process title>: <Cpus_allowed_list>` of every process in a cgroup (nginx: master and workers). */
function cgroupAffinities(cgroup: string): string[] {
  const pids = readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
  return pids.flatMap((pid) => {
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.trim();
      return [`${title}: ${/^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?'}`];
    } catch {
      return [];
    }
  });
}

/**
 * Where each lab host's commands, files and reads go. On one machine (the embedded lab, and one VM)
 * all of them run here. With the hosts in two VMs (netlab:vm.hosts = 2) this is the client's VM, and
 * the server host's go to the server VM's agent (lib/vm/agent.ts).
 */
export interface LabHosts {
  run(host: string, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** A file of a host; null when it does not exist. */
  read(host: string, path: string): Promise<string | null>;
  /** The server VM's agent, or null on one machine. */
  peer: AgentClient | null;
  /** The server host's clock minus this one's, in ms (0 on one machine). */
  serverClockMs: number;
}

const ONE_MACHINE: LabHosts = { run: (_host, argv, opts) => run(argv, opts), read: async (_host, path) => readIfExists(path), peer: null, serverClockMs: 0 };

/** The lab's hosts when the server host is the VM behind `peer`. */
function twoMachines(peer: AgentClient, serverClockMs: number): LabHosts {
  return {
    async run(host, argv, opts = {}) {
      if (host !== 'server') return run(argv, opts);
      const r = await peer.run(argv, opts);
      if ((opts.check ?? true) && r.code !== 0) throw new CommandError(argv, r);
      return r;
    },
    read: async (host, path) => (host === 'server' ? peer.call<string | null>({ op: 'read', path }) : readIfExists(path)),
    peer,
    serverClockMs,
  };
}

/** The host a namespace of the plan belongs to: the server's host namespace and its pods, or the client. */
const hostOfNs = (plan: Plan, ns: string) => (ns.startsWith(`${nsPrefix(plan.stack)}server`) ? 'server' : 'client');

async function exec(hosts: LabHosts, step: Step, signal?: AbortSignal): Promise<void> {
  if ('argv' in step) await hosts.run(step.host, step.argv, { signal, timeoutMs: (step.timeoutSeconds ?? 20) * 1000 });
}

/** CPU counters of this machine and of `cgroups`; with two VMs the server's cgroup (the second) is read in its VM. */
async function sampleHosts(hosts: LabHosts, cgroups: string[]): Promise<CpuSample> {
  const s = sampleCpu(cgroups);
  if (hosts.peer) s.cgroups[1] = parseCpuStatUsec((await hosts.read('server', `${cgroups[1]}/cpu.stat`)) ?? '');
  return s;
}

/** One HTTP fetch from the client endpoint (inside the client's cgroup, so through an ebpf proxy). */
async function httpCheck(plan: Plan, url: string, responseBytes: number, signal?: AbortSignal): Promise<Check> {
  const r = await run(plan.checks.http(url), { check: false, signal });
  const [code, h, b] = r.stdout.trim().split(' ').map(Number);
  const total = (h ?? 0) + (b ?? 0);
  return {
    name: `http ${url}`,
    ok: r.code === 0 && code === 200 && total === responseBytes,
    detail: r.code === 0 ? `HTTP ${code}, ${h} B headers + ${b} B body = ${total} B (want ${responseBytes})` : `curl failed: ${r.stderr.trim()}`,
  };
}

/** Verify the built datapath: HTTP answer and size for every URL, and the path MTU both ways of the limit. */
async function checks(plan: Plan, signal?: AbortSignal): Promise<Check[]> {
  const out: Check[] = [];
  for (const u of plan.server.urls) out.push(await httpCheck(plan, u.url, u.responseBytes, signal));
  const ping = (packetBytes: number) => run(plan.checks.ping(packetBytes), { check: false, signal });
  const fits = await ping(plan.pathMtu);
  const over = await ping(plan.pathMtu + 1);
  out.push({
    name: `path MTU ${plan.pathMtu}`,
    ok: fits.code === 0 && over.code !== 0,
    detail: `${plan.pathMtu} B packet ${fits.code === 0 ? 'passes' : 'does not pass'}; ${plan.pathMtu + 1} B packet ${over.code === 0 ? 'passes (MTU larger than planned)' : 'refused'}`,
  });
  return out;
}

/** A tool's output as it was: stdout, then its stderr under a marker. */
const saveRaw = (plan: Plan, name: string, r: ExecResult) =>
  writeFileSync(join(plan.rawDir, name), r.stdout + (r.stderr ? `\n--- stderr ---\n${r.stderr}` : ''));

/** A point is valid when requests completed and at most MAX_ERROR_SHARE of the attempts failed. */
export function judge(m: Measured): { status: PointResult['status']; reason?: string } {
  if (m.requests === 0) return { status: 'invalid', reason: `no request completed (${m.attempts} attempted, ${m.errors} socket errors)` };
  const bad = m.errors + m.non2xx;
  if (bad / m.attempts > MAX_ERROR_SHARE)
    return {
      status: 'invalid',
      reason: `${bad} of ${m.attempts} attempts failed (${m.errors} socket errors, ${m.non2xx} non-2xx), above ${MAX_ERROR_SHARE * 100} %`,
    };
  return { status: 'ok' };
}

/**
 * The busy-poll spinners run in the client's cgroup and keep every CPU busy; their CPU seconds
 * (exact, from the client's report) come out of clientCores and out of the machine's busy cores,
 * and are recorded apart as busyPollCores. The machine's split by kind (user, nice, …) is
 * tick-sampled, and with spinners on every CPU the ticks mostly land on them, so only the total
 * is corrected.
 */
export function withoutSpinners(cpu: NonNullable<PointResult['cpu']>, spinSeconds: number | undefined): NonNullable<PointResult['cpu']> {
  if (!spinSeconds || !(cpu.seconds > 0)) return cpu;
  const spin = spinSeconds / cpu.seconds;
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    ...cpu,
    cores: r3(Math.max(0, cpu.cores - spin)),
    clientCores: cpu.clientCores === null ? null : r3(Math.max(0, cpu.clientCores - spin)),
    busyPollCores: r3(spin),
  };
}

/** The cgroup of a real component (lib/local/plan.ts) and its CPU field in a point's result. */
const COMPONENT_CORES: Record<string, 'kubeProxyCores' | 'controlPlaneCores' | 'flanneldCores'> = {
  'kube-proxy': 'kubeProxyCores',
  cp: 'controlPlaneCores',
  flanneld: 'flanneldCores',
};

/** Measure one point; `prog` is the proxy program installed for it, if any. */
async function measure(plan: Plan, hosts: LabHosts, p: Point, prog: ProxyProgram | null, signal?: AbortSignal): Promise<PointResult> {
  for (const argv of p.before ?? []) await run(argv, { signal, timeoutMs: 20_000 });
  if (p.warmup) await run(p.warmup, { check: false, signal, timeoutMs: p.timeoutSeconds * 1000 });
  if (prog?.zeroCounters) await run(prog.zeroCounters, { signal, timeoutMs: 60_000 });
  const rawTxt = `${p.id}.txt`;
  const raw = [rawTxt, ...(p.extraRaw ? [p.extraRaw] : [])];
  // The real components' own cgroups (kube-proxy, the control plane, flanneld), each recorded apart.
  const cp = plan.proxy?.controlPlane || plan.flannel ? plan.cgroups.filter((g) => Object.keys(COMPONENT_CORES).some((k) => g.endsWith(`/${k}`))) : [];
  const cgroups = [plan.client.cgroup, plan.server.cgroup, ...cp];
  const cpu0 = await sampleHosts(hosts, cgroups);
  const t0 = Date.now();
  const timers = (p.events ?? []).map((e) => setTimeout(() => void run(e.argv, { check: false, timeoutMs: 20_000 }).catch(() => {}), e.atSeconds * 1000));
  let r: ExecResult | null = null;
  let failure: string | null = null;
  try {
    r = await run(p.argv, { check: false, signal, timeoutMs: p.timeoutSeconds * 1000 });
    saveRaw(plan, rawTxt, r);
  } catch (e) {
    if ((e as Error).message === 'interrupted') throw e;
    failure = (e as Error).message;
  } finally {
    timers.forEach(clearTimeout);
  }
  const c = cpuBetween(cpu0, await sampleHosts(hosts, cgroups));
  const wallSeconds = (Date.now() - t0) / 1000;
  const cpu = {
    seconds: c.seconds,
    cores: c.cores,
    user: c.user,
    nice: c.nice,
    system: c.system,
    softirq: c.softirq,
    irq: c.irq,
    steal: c.steal,
    clientCores: c.cgroupCores[0] ?? null,
    serverCores: c.cgroupCores[1] ?? null,
    ...Object.fromEntries(cp.map((g, i) => [COMPONENT_CORES[g.slice(g.lastIndexOf('/') + 1)]!, c.cgroupCores[2 + i] ?? null] as const)),
  };
  let walked: PointResult['rulesWalked'] = null;
  if (prog?.saveCounters) {
    const save = await run(prog.saveCounters, { signal, timeoutMs: 120_000 });
    // Tens of MB at 10,000 Services, and very repetitive: kept gzipped.
    writeFileSync(join(plan.rawDir, `${p.id}.iptables-save.txt.gz`), gzipSync(save.stdout));
    raw.push(`${p.id}.iptables-save.txt.gz`);
    walked = rulesWalked(save.stdout, ['PREROUTING', 'OUTPUT']);
  }
  const base = {
    id: p.id,
    tool: p.tool,
    repetition: p.repetition,
    params: p.params,
    wallSeconds,
    raw: raw.map((f) => `raw/${f}`),
    command: p.argv,
    cpu,
    rulesWalked: walked,
  };
  const empty = { requests: null, errors: null, non2xx: null, reqPerSec: null, bytesPerResponse: null, latencyMs: null, toolSeconds: null };
  if (!r) return { ...base, ...empty, status: 'failed', reason: failure ?? 'tool did not run' };
  if (r.timedOut) return { ...base, ...empty, status: 'failed', reason: `killed after ${p.timeoutSeconds} s (time limit)` };
  try {
    if (p.tool === 'rps' || p.tool === 'conn-reuse') {
      const { report, ...m } = parseRps(r.stdout);
      // rps exits 1 when no request succeeded: that is a measurement of a dead path (invalid, with the
      // error counts), not a tool failure.
      const why =
        r.code === 0 || (r.code === 1 && m.requests > 0) ? judge(m) : { status: 'failed' as const, reason: `rps exited ${r.code}: ${report.verdict}` };
      // A rate the client did not hold is never reported as if it were the target.
      const held = why.status === 'ok' && !report.keptUp ? { status: 'invalid' as const, reason: report.verdict } : why;
      const rps = {
        targetRate: report.targetRate,
        achievedRate: report.achievedRate,
        keptUp: report.keptUp,
        verdict: report.verdict,
        planned: report.planned,
        sent: report.sent,
        connections: report.connections,
        connectStalls: report.connectStalls,
        serviceMs: report.serviceMs,
        connectMs: report.connectMs,
        lagMs: report.lagMs,
        clientCpuCores: report.cpu.cores,
        histogram: report.histogram,
      };
      // nginx's log is the server host's, its times by the server's clock.
      const log = p.drain ? ((await hosts.read('server', join(plan.runDir, 'nginx', 'access.log'))) ?? '') : '';
      const connReuse = p.drain ? drainedHits(log, p.drain, t0 + hosts.serverClockMs) : undefined;
      return { ...base, cpu: withoutSpinners(cpu, report.cpu.busyPollSeconds), ...m, ...held, rps, ...(connReuse ? { connReuse } : {}) };
    }
    const m = p.tool === 'ab' ? parseAb(r.stdout, readFileSync(join(plan.rawDir, p.extraRaw!), 'utf8')) : parseWrk(r.stdout);
    const why = r.code !== 0 ? { status: 'failed' as const, reason: `${p.tool} exited ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}` } : judge(m);
    return { ...base, ...m, ...why };
  } catch (e) {
    if (!(e instanceof ParseError) && (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const err = r.stderr.trim().split('\n')[0];
    return { ...base, ...empty, status: 'failed', reason: `${(e as Error).message}${r.code ? `; exit ${r.code}` : ''}${err ? `; ${err}` : ''}` };
  }
}

/**
 * The load client's floor, once per run, before the proxy is programmed: `ab -c 1` and the client
 * (a new connection per request) on the same direct path, CLIENT_FLOOR_ROUNDS times in turn.
 * ratio = median client p50 ÷ median ab mean (one round is a 5 s sample, and a passing stall of
 * the machine moves it); a proxy effect smaller than the client's excess over ab cannot be told
 * from the instrument.
 */
async function measureFloor(plan: Plan, f: ClientFloor, signal?: AbortSignal): Promise<NonNullable<NonNullable<RunResult['proxy']>['clientFloor']>> {
  const raw = [`raw/${f.abCsv}`];
  try {
    const rounds: { abMeanMs: number; clientP50Ms: number; clientMeanMs: number }[] = [];
    let keptUp = true;
    let abErrors = 0;
    let clientErrors = 0;
    for (let k = 1; k <= CLIENT_FLOOR_ROUNDS; k++) {
      const ab = await run(f.ab, { check: false, signal, timeoutMs: f.timeoutSeconds * 1000 });
      saveRaw(plan, `client-floor-ab-${k}.txt`, ab);
      const rps = await run(f.rps, { check: false, signal, timeoutMs: f.timeoutSeconds * 1000 });
      saveRaw(plan, `client-floor-rps-${k}.txt`, rps);
      raw.push(`raw/client-floor-ab-${k}.txt`, `raw/client-floor-rps-${k}.txt`);
      const a = parseAb(ab.stdout, readFileSync(join(plan.rawDir, f.abCsv), 'utf8'));
      const { report } = parseRps(rps.stdout);
      rounds.push({ abMeanMs: a.latencyMs.mean!, clientP50Ms: report.latencyMs.p50, clientMeanMs: report.latencyMs.mean });
      keptUp &&= report.keptUp;
      abErrors += a.errors + a.non2xx;
      clientErrors += report.sent - report.ok;
    }
    const abMeanMs = median(rounds.map((r) => r.abMeanMs))!;
    const clientP50Ms = median(rounds.map((r) => r.clientP50Ms))!;
    return {
      rate: f.rate,
      abMeanMs,
      clientP50Ms,
      clientMeanMs: median(rounds.map((r) => r.clientMeanMs)),
      ratio: abMeanMs > 0 ? Math.round((clientP50Ms / abMeanMs) * 1000) / 1000 : null,
      rounds,
      clientKeptUp: keptUp,
      busyPoll: f.busyPoll,
      abErrors,
      clientErrors,
      raw,
    };
  } catch (e) {
    if ((e as Error).message === 'interrupted') throw e;
    return {
      rate: f.rate,
      abMeanMs: null,
      clientP50Ms: null,
      clientMeanMs: null,
      ratio: null,
      clientKeptUp: null,
      busyPoll: f.busyPoll,
      abErrors: null,
      clientErrors: null,
      raw,
      error: (e as Error).message,
    };
  }
}

/** conn-reuse: requests nginx served on the drained backend's address after weight 0 and after removal (`startMs` by the server's clock). */
function drainedHits(log: string, drain: NonNullable<Point['drain']>, startMs: number): NonNullable<PointResult['connReuse']> {
  const ip = drain.backend.split(':')[0]!;
  const after = (sec: number) =>
    log.split('\n').filter((l) => {
      const [msec, addr] = l.split(' ');
      return addr === ip && Number(msec) * 1000 >= startMs + sec * 1000;
    }).length;
  return {
    drainedBackend: drain.backend,
    drainedAtSeconds: drain.atSeconds,
    removedAtSeconds: drain.removedAtSeconds,
    requestsToDrainedAfterWeight0: after(drain.atSeconds),
    requestsToDrainedAfterRemoval: after(drain.removedAtSeconds),
  };
}

/** What the Pulumi fleet writer printed (lib/k8s/pulumi-fleet.ts: one JSON line) about its `pulumi up`. */
function pulumiWrite(writer: string, stdout: string): { pulumi?: { upSeconds: number; refreshed: boolean; changes: Record<string, number> } } {
  if (writer !== 'pulumi') return {};
  try {
    const s = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { upSeconds: number; refreshed: boolean; changes: Record<string, number> };
    return { pulumi: { upSeconds: s.upSeconds, refreshed: s.refreshed, changes: s.changes } };
  } catch {
    return {};
  }
}

/** Install the fleet for one Service count; timed; then check the target answers through it. */
async function program(
  plan: Plan,
  services: number,
  signal?: AbortSignal,
): Promise<{ prog: ProxyProgram; entry: NonNullable<RunResult['proxy']>['programs'][number] }> {
  const prog = plan.proxy!.program(services);
  writeFiles(prog.files);
  const scrape = async () => {
    try {
      return parseSyncCounters((await run(prog.syncMetrics!, { signal, timeoutMs: 15_000 })).stdout);
    } catch (e) {
      if ((e as Error).message === 'interrupted') throw e;
      throw new Error(`programming ${services} Services: kube-proxy did not answer on its metrics endpoint (hung or gone): ${(e as Error).message}`);
    }
  };
  const syncsBefore = prog.syncMetrics ? await scrape() : undefined;
  const t0 = Date.now();
  // The real kube-proxy: the first steps write the fleet into the API (timed apart too).
  let write: Pick<NonNullable<RunResult['proxy']>['programs'][number], 'writer' | 'writeSeconds' | 'pulumi'> = {};
  for (const [i, argv] of prog.steps.entries()) {
    try {
      const r = await run(argv, { signal, timeoutMs: plan.proxy!.stepSeconds * 1000 });
      if (prog.write && i === prog.write.steps - 1)
        write = { writer: prog.write.writer, writeSeconds: (Date.now() - t0) / 1000, ...pulumiWrite(prog.write.writer, r.stdout) };
    } catch (e) {
      if ((e as Error).message === 'interrupted') throw e;
      throw new Error(`programming ${services} Services (${plan.proxy!.mode}) failed: ${namedWait(e)}`);
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  const kubeProxySyncs = syncsBefore ? syncDelta(syncsBefore, await scrape()) : undefined;
  // Rules written by another program (the real kube-proxy) are counted as the kernel holds them,
  // and kept (gzipped) so they can be compared with the model's.
  let size = prog.size;
  let kernelState: string | undefined;
  if (prog.measureSize) {
    const state = (await run(prog.measureSize.argv, { signal, timeoutMs: 120_000 })).stdout;
    size = prog.measureSize.parse(state);
    kernelState = `raw/program-${services}-services.txt.gz`;
    writeFileSync(join(plan.rawDir, `program-${services}-services.txt.gz`), gzipSync(state));
  }
  // Rule files can be large (tens of MB at 10,000 Services): they are not kept once loaded.
  for (const f of prog.files) rmSync(f.path, { force: true });
  const u = plan.proxy!.urls(services)[0]!;
  const check = await httpCheck(plan, u.url, u.responseBytes, signal);
  return {
    prog,
    entry: {
      services,
      backendsPerService: prog.fleet[0]?.endpoints.length ?? 0,
      seconds,
      rules: size.rules,
      chains: size.chains,
      mapElements: size.mapElements,
      ...(kernelState ? { kernelState } : {}),
      ...(kubeProxySyncs ? { kubeProxySyncs } : {}),
      ...write,
      check,
    },
  };
}

/** What of a stack is on this machine before its run starts: anything there means a crashed or kept run. */
function leftoversOf(stack: string, namespaces: string[]): string[] {
  const root = cgroupRoot();
  const out: string[] = [];
  if (namespaces.length) out.push(`namespaces ${namespaces.join(', ')}`);
  if (root && existsSync(cgroupBase(root, stack))) out.push(`cgroup ${cgroupBase(root, stack)}`);
  const state = readState(stack);
  if (state) out.push(`state file (run ${state.runId})`);
  if (stacksWithTuning().includes(stack)) out.push('machine-wide tuning not yet put back');
  return out;
}

/**
 * A failed step's message. A bounded wait (lib/k8s/controlplane.ts waitFor) says on stderr what it
 * waited for ("netlab: … did not happen within N s") and then the log's last lines: that, not the
 * step's long command line, is the message.
 */
export function namedWait(e: unknown): string {
  if (!(e instanceof CommandError)) return (e as Error).message;
  const lines = e.result.stderr.trim().split('\n');
  const at = lines.findIndex((l) => l.startsWith('netlab: '));
  if (at < 0) return e.message;
  const tail = lines.slice(at + 1).slice(-3);
  return `${lines[at]!.slice('netlab: '.length)}${tail.length ? ` ${tail.join(' / ')}` : ''}`;
}

/**
 * Which of `names` (process names as /proc/<pid>/comm gives them; a name listed twice needs two
 * processes) cgroup `cg` is short of. A cgroup that is gone holds nothing.
 */
export function daemonsGone(cg: string, names: readonly string[]): string[] {
  let left: string[] = [];
  try {
    left = readFileSync(`${cg}/cgroup.procs`, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        } catch {
          return ''; // exited between the two reads
        }
      });
  } catch {
    /* the cgroup itself is gone */
  }
  return names.filter((n) => {
    const at = left.indexOf(n);
    if (at >= 0) left.splice(at, 1);
    return at < 0;
  });
}

/** flanneld's own word on its version (`--version`), or why it said nothing. */
async function flanneldReports(argv: string[], signal?: AbortSignal): Promise<string> {
  try {
    const r = await run(argv, { check: false, signal, timeoutMs: 20_000 });
    return (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? '';
  } catch (e) {
    if ((e as Error).message === 'interrupted') throw e;
    return `(not run: ${(e as Error).message})`;
  }
}

/** The pinned versions of what a flannel run runs (tools/k8s/versions.env). */
function flannelVersions() {
  const v = k8sVersions();
  return { flannel: v.flannel, flannelCni: v.flannelCni, cni: v.cni, cniPlugins: v.cniPlugins, kubernetes: v.kubernetes, etcd: v.etcd };
}

/** Every lab namespace's datapath state (lib/datapath/state.ts), kept as raw/datapath-state.json; its path relative to the run. */
async function saveDatapathState(plan: Plan, hosts: LabHosts, signal?: AbortSignal): Promise<string> {
  const prefix = plan.namespaces[0]!.slice(0, plan.namespaces[0]!.lastIndexOf('.') + 1);
  const state: DatapathState = {};
  for (const ns of plan.namespaces.filter((n) => n !== plan.flannel?.controlPlane.ns && n !== plan.proxy?.controlPlane?.ns))
    state[ns.slice(prefix.length)] = parseNsState((await hosts.run(hostOfNs(plan, ns), nsStateCommand(ns), { signal, timeoutMs: 20_000 })).stdout);
  writeFileSync(join(plan.rawDir, 'datapath-state.json'), `${JSON.stringify(state, null, 1)}\n`);
  return 'raw/datapath-state.json';
}

/** The teardown's `cnitool del` of each pod: run whatever happens, each one's outcome recorded. */
async function releasePods(steps: { host: string; network: string; argv: string[] }[]): Promise<NonNullable<NonNullable<RunResult['datapath']>['cniDel']>> {
  const out: NonNullable<NonNullable<RunResult['datapath']>['cniDel']> = [];
  for (const st of steps) {
    try {
      const r = await run(st.argv, { check: false, timeoutMs: 30_000 });
      out.push({
        host: st.host,
        network: st.network,
        ok: r.code === 0,
        detail: r.code === 0 ? 'released' : `exit ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}`,
      });
    } catch (e) {
      out.push({ host: st.host, network: st.network, ok: false, detail: (e as Error).message });
    }
  }
  return out;
}

/** After a point: the lab must still be whole (every namespace there, nginx answering), or the point measured a broken lab. */
async function stillWhole(plan: Plan, hosts: LabHosts, signal?: AbortSignal): Promise<string | null> {
  const present = new Set([...(await listNamespaces('')), ...(hosts.peer ? await hosts.peer.call<string[]>({ op: 'namespaces', prefix: '' }) : [])]);
  const gone = plan.namespaces.filter((n) => !present.has(n));
  if (gone.length) return `namespaces gone: ${gone.join(', ')}`;
  // The real components: the rules kube-proxy wrote and the routes flanneld set outlive them, so a
  // point after one of them (or the API server) died would measure state nobody keeps. Each
  // cgroup must still hold its daemons, looked for by name.
  const expected: { cg: string | undefined; names: string[]; where?: string }[] = [];
  if (plan.proxy?.controlPlane || plan.flannel) expected.push({ cg: plan.cgroups.find((g) => g.endsWith('/cp')), names: ['etcd', 'kube-apiserver'] });
  if (plan.proxy?.controlPlane) expected.push({ cg: plan.cgroups.find((g) => g.endsWith('/kube-proxy')), names: ['kube-proxy'] });
  if (plan.flannel) expected.push({ cg: plan.flannel.cgroup, names: ['flanneld', 'flanneld'], where: ' on both hosts' });
  for (const { cg, names, where = '' } of expected) {
    const gone = cg ? daemonsGone(cg, names) : names;
    if (gone.length) return `${[...new Set(gone)].join(' and ')} no longer running${where} (not all in ${cg})`;
  }
  const u = plan.server.urls[0]!;
  const c = await httpCheck(plan, u.url, u.responseBytes, signal);
  return c.ok ? null : `the server no longer answers: ${c.detail}`;
}

/** A run's final status from what happened: never `ok` unless a point measured and the lab stayed whole. */
export function finalStatus(result: Pick<RunResult, 'points' | 'status' | 'error'>): { status: RunResult['status']; error?: string } {
  if (result.status !== 'running') return { status: result.status, error: result.error };
  if (!result.points.length) return { status: 'failed', error: 'no point was measured' };
  if (!result.points.some((p) => p.status === 'ok')) {
    const n = (s: string) => result.points.filter((p) => p.status === s).length;
    return { status: 'failed', error: `no point gave a valid measurement (${n('invalid')} invalid, ${n('failed')} failed of ${result.points.length})` };
  }
  return { status: 'ok' };
}

/** How long the client VM waits for the server VM's agent (both boot together; under TCG in about 8 s here). */
const PEER_WAIT_MS = 120_000;

/** The server host's VM and this VM's NIC on the wire, set by lib/vm/guest-init.sh in the client VM of a two-VM run. */
function pairFromEnv(env: NodeJS.ProcessEnv = process.env): { address: string; nic: string } | null {
  const address = env.NETLAB_VM_PEER;
  const nic = env.NETLAB_VM_WIRE;
  return address && nic ? { address, nic } : null;
}

/** Run one stack end to end on this machine: preflight, build, measure, tear down, write results. */
export async function upLocal(spec: Spec, opts: UpOptions = {}): Promise<UpOutcome> {
  const { signal, keep = false } = opts;
  const progress: Progress = opts.progress ?? (() => {});
  const stack = spec.name;
  progress({ stack, phase: 'preflight', text: 'checking kernel features and tools' });
  const [env, features] = await Promise.all([environment(), probeFeatures()]);
  const problems = missing(spec, features, env.tools, env.kernel);
  if (spec.workload.tool === 'rps' || spec.workload.tool === 'conn-reuse') {
    try {
      rpsClient();
    } catch (e) {
      if (!(e instanceof RpsClientMissing)) throw e;
      problems.push(e.message);
    }
  }
  if (problems.length) throw new PreflightError(stack, problems);

  const release = acquireLock(stack);
  try {
    const leftovers = leftoversOf(stack, await listNamespaces(nsPrefix(stack)));
    if (leftovers.length)
      throw new PreflightError(stack, [
        `it is already up (${leftovers.join('; ')}), or a crashed run left that behind; remove it first with: netlab down ${stack}`,
      ]);

    const runId = guestRunId() ?? newRunId();
    const dir = join(opts.resultsRoot ?? join(PROJECT_DIR, 'results'), stack, runId);
    const runDir = runDirOf(stack);
    // In the client VM of a two-VM run (lib/vm/guest-init.sh): the server host is the other VM.
    const pair = pairFromEnv();
    const plan = buildPlan(spec, { runDir, rawDir: join(dir, 'raw'), ...machinePlanOptions(), ...(pair ? { wire: { nic: pair.nic } } : {}) });
    const startedAt = new Date().toISOString();
    // The plan's teardown, recorded in the state file so `netlab down` runs the same one.
    const { namespaces, cgroups } = teardownTargets(plan.teardown);
    const resultFile = join(dir, 'result.json');
    const result: RunResult = {
      schema: RESULT_SCHEMA_ID,
      runId,
      stack,
      target: spec.target,
      status: 'running',
      startedAt,
      finishedAt: null,
      spec: { ...spec },
      environment: env,
      setup: null,
      teardown: null,
      datapath: { name: spec.datapath, implementation: plan.flannel ? 'flannel' : 'model' },
      proxy: plan.proxy
        ? {
            mode: plan.proxy.mode,
            ...(plan.proxy.implementation === 'kube-proxy' ? { implementation: 'kube-proxy' as const, versions: k8sVersions() } : {}),
            programs: [],
          }
        : null,
      points: [],
    };
    const save = () => writeFileAtomic(resultFile, JSON.stringify(result, null, 2) + '\n');
    // Results first, state second, the lab last: a results folder or state folder that cannot be
    // written stops the run here, before anything on the machine has changed.
    makeDir(plan.rawDir);
    writeFileAtomic(join(dir, 'plan.txt'), renderPlan(plan));
    save();
    writeState({ stack, pid: process.pid, runId, startedAt, runDir, namespaces, cgroups, kept: false, resultFile });

    let interrupted = false;
    let hosts = ONE_MACHINE;
    try {
      if (pair) {
        progress({ stack, phase: 'setup', text: `reaching the server host's VM (${pair.address})` });
        const peer = await AgentClient.connect(pair.address, AGENT.port, PEER_WAIT_MS);
        const clock = await peer.clockOffsetMs();
        const uname = await peer.run(['uname', '-r'], { timeoutMs: 10_000 });
        hosts = twoMachines(peer, clock.offsetMs);
        result.serverHost = { address: pair.address, kernel: uname.stdout.trim(), clockOffsetMs: Math.round(clock.offsetMs), rttMs: clock.rttMs };
        save();
      }
      if (plan.flannel) result.datapath!.versions = { ...flannelVersions(), flanneldReports: await flanneldReports(plan.flannel.version, signal) };
      progress({
        stack,
        phase: 'setup',
        text: `building ${spec.datapath} datapath${plan.flannel ? ' with the real flannel (control plane, flanneld, CNI plugins)' : ''} (${plan.setup.length} commands)`,
      });
      const t0 = Date.now();
      writeFiles(plan.files);
      // nginx's configuration and bodies on the server host too (files under the run folder are
      // per machine; the results folder is shared).
      if (hosts.peer) await hosts.peer.call({ op: 'write', files: plan.files });
      // With the real flannel, how long the control plane and flanneld took to be ready.
      const cpSteps = new Set(
        plan.flannel ? [...plan.flannel.controlPlane.setup, ...plan.flannel.setup.filter((x) => x.host === 'cp').map((x) => x.argv)] : [],
      );
      const flanneldSteps = new Set(plan.flannel ? plan.flannel.setup.filter((x) => x.host !== 'cp').map((x) => x.argv) : []);
      const spent = { cp: 0, flanneld: 0 };
      const steps = async (list: Step[]) => {
        for (const step of list) {
          const s0 = Date.now();
          try {
            await exec(hosts, step, signal);
          } catch (e) {
            if ((e as Error).message === 'interrupted') throw e;
            throw new Error(`set-up step failed on host ${step.host}: ${(e as Error).message}`);
          }
          if ('argv' in step && cpSteps.has(step.argv)) spent.cp += Date.now() - s0;
          if ('argv' in step && flanneldSteps.has(step.argv)) spent.flanneld += Date.now() - s0;
        }
      };
      await steps(plan.setup);
      if (plan.flannel) Object.assign(result.datapath!, { controlPlaneSeconds: spent.cp / 1000, flanneldSeconds: spent.flanneld / 1000 });
      if (plan.tuning) {
        const t = plan.tuning;
        progress({ stack, phase: 'setup', text: `tuning the hosts (${t.steps.length} steps, profile ${t.spec.profile})` });
        const records: TuningRecord[] = [];
        const place = t.placement
          ? { client: formatCpuList(t.placement.client), server: formatCpuList(t.placement.server), clientReadBack: null, serverReadBack: [] }
          : null;
        result.tuning = { profile: t.spec.profile, steps: records, placement: place, restored: [] };
        await applyTuning(stack, t.steps, records, signal);
      }
      await steps(plan.start);
      const setupSeconds = (Date.now() - t0) / 1000;
      // The datapath as the kernel holds it, before any traffic (the checks' ARP and fdb learning).
      result.datapath!.state = await saveDatapathState(plan, hosts, signal);
      const checked = await checks(plan, signal);
      result.setup = {
        seconds: setupSeconds,
        pathMtu: plan.pathMtu,
        client: { netns: plan.client.netns, ip: plan.client.ip },
        server: { netns: plan.server.netns, ip: plan.server.ip, port: plan.server.port },
        checks: checked,
      };
      const bad = checked.filter((c) => !c.ok);
      if (bad.length) throw new Error(`the built datapath failed its checks: ${bad.map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
      if (result.tuning?.placement) {
        // Read the pinning back once nginx has answered (its workers pin themselves as they start):
        // nginx's processes, and a process started exactly like the load tool.
        result.tuning.placement.serverReadBack = cgroupAffinities(plan.server.cgroup);
        const r = await run(plan.tuning!.probe!, { check: false, signal });
        result.tuning.placement.clientReadBack = r.stdout.split(':')[1]?.trim() ?? null;
      }

      if (plan.clientFloor && result.proxy) {
        progress({ stack, phase: 'load', text: `the load client's floor: ab -c 1 and the client at ${plan.clientFloor.rate} req/s, straight to the server` });
        result.proxy.clientFloor = await measureFloor(plan, plan.clientFloor, signal);
        save();
      }
      if (plan.proxy) {
        writeFiles(plan.proxy.setup.files);
        if (plan.proxy.implementation === 'kube-proxy')
          progress({ stack, phase: 'setup', text: 'starting the control plane (etcd, kube-apiserver) and kube-proxy' });
        // A step's own bounded waits (the API server's readiness, kube-proxy's first sync) name
        // what they waited for; the runner's limit sits above them, so theirs is the message shown.
        for (const argv of plan.proxy.setup.steps)
          await run(argv, { signal, timeoutMs: plan.proxy.stepSeconds * 1000 }).catch((e: Error) => {
            throw e.message === 'interrupted' ? e : new Error(`proxy set-up failed: ${namedWait(e)}`);
          });
      }
      let installed: ProxyProgram | null = null;
      for (const [i, p] of plan.points.entries()) {
        if (plan.proxy && p.params.services !== undefined && p.params.services !== installed?.services) {
          progress({ stack, phase: 'setup', index: i + 1, total: plan.points.length, text: `programming ${p.params.services} Services (${plan.proxy.mode})` });
          const { prog, entry } = await program(plan, p.params.services, signal);
          result.proxy!.programs.push(entry);
          save();
          if (!entry.check.ok)
            throw new Error(
              `after programming ${p.params.services} Services the target does not answer through the ${plan.proxy.mode} proxy: ${entry.check.detail}`,
            );
          installed = prog;
        }
        const secs = p.params.durationSeconds !== undefined ? `${p.params.durationSeconds} s` : `${p.params.requests} requests`;
        progress({ stack, phase: 'load', index: i + 1, total: plan.points.length, text: `${p.id} (${secs})` });
        const point = await measure(plan, hosts, p, installed, signal);
        const broken = await stillWhole(plan, hosts, signal);
        if (broken)
          Object.assign(point, {
            status: point.status === 'failed' ? 'failed' : 'invalid',
            reason: `the lab broke during this point (${broken})${point.reason ? `; ${point.reason}` : ''}`,
          });
        result.points.push(point);
        save();
        if (broken) throw new Error(`the lab broke during point ${p.id}: ${broken}`);
      }
      // A Ctrl-C after the last point still makes the run interrupted, never ok.
      if (signal?.aborted) throw new Error('interrupted');
    } catch (e) {
      interrupted = signal?.aborted ?? false;
      result.status = interrupted ? 'interrupted' : 'failed';
      result.error = (e as Error).message;
    } finally {
      if (!keep || interrupted) {
        progress({ stack, phase: 'teardown', text: 'removing namespaces, links and processes' });
        // The real flannel: each pod released through the plugins first, as a runtime does.
        if (plan.flannel) result.datapath!.cniDel = await releasePods(plan.flannel.teardown);
        const td = await teardownStack(stack, { namespaces, cgroups });
        if (hosts.peer) {
          // The server VM's own teardown, by the same code there; what it could not remove is this run's too.
          try {
            const there = await hosts.peer.call<TeardownReport>({ op: 'teardown', stack, namespaces, cgroups });
            td.seconds += there.seconds;
            td.left.push(...there.left.map((l) => `on the server host: ${l}`));
          } catch (e) {
            td.left.push(`the server host's teardown did not report: ${(e as Error).message}`);
          }
          hosts.peer.close();
        }
        if (result.tuning) result.tuning.restored = td.restored;
        result.teardown = { seconds: td.seconds, by: 'run', left: td.left };
        if (td.left.length) {
          result.status = 'failed';
          result.error = `${result.error ? `${result.error}; ` : ''}teardown left something on the machine (netlab down ${stack} retries): ${td.left.join('; ')}`;
        }
      } else {
        writeState({ stack, pid: process.pid, runId, startedAt, runDir, namespaces, cgroups, kept: true, resultFile });
      }
      Object.assign(result, finalStatus(result));
      result.finishedAt = new Date().toISOString();
      save();
    }
    progress({ stack, phase: 'done', text: `${result.status}: ${relative(process.cwd(), dir) || dir}` });
    return { result, dir };
  } finally {
    release();
  }
}
