// `netlab sweep`: run stacks one after another through the Pulumi Automation API: up (which
// measures and collects), then always destroy, also after a failure or Ctrl-C. aws stacks and, so
// that the Automation API path is exercised for real on any machine, local stacks too. The
// prerequisites (the Pulumi CLI and plugins, AWS credentials, a passphrase for the local state
// backend, root for local stacks) are checked first, so a missing one is named before anything is
// created. The Pulumi environment (tools cache, PULUMI_HOME) comes from lib/pulumi/tools.ts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { engineMissing, passphraseProblem, pulumiBinary, pulumiEnv, toolsCache, versionOf } from '../pulumi/tools.ts';
import type { Spec } from '../spec/schema.ts';
import { awsPlan, isAwsSpec } from './plan.ts';
import { isSshSpec } from '../remote/plan.ts';
import { parseCidr } from '../core/cidr.ts';

export interface Prereq {
  name: string;
  ok: boolean;
  detail: string;
}

export interface PrereqEnv {
  env: NodeJS.ProcessEnv;
  /** Version line of the Pulumi CLI, or null when there is none. */
  pulumiVersion: () => string | null;
  exists: (path: string) => boolean;
  home: string;
  /** Local stacks: whether this process runs as root (default: it is asked). */
  isRoot?: () => boolean;
  /** Local stacks: why the engine cannot run them (no CLI at the pinned version, no plugins), or null. */
  engineMissing?: () => string | null;
}

/** Version line of the Pulumi CLI netlab runs (the tools cache's, else PATH's), or null. */
export function pulumiCliVersion(): string | null {
  const bin = pulumiBinary();
  return bin ? versionOf(bin) : null;
}

export const defaultPrereqEnv = (): PrereqEnv => ({
  env: process.env,
  pulumiVersion: pulumiCliVersion,
  exists: existsSync,
  home: homedir(),
  isRoot: () => process.getuid?.() === 0,
  engineMissing: () => engineMissing(),
});

/** The default state backend of `netlab sweep`: a local directory, no Pulumi Cloud account needed. */
export const defaultBackend = (home: string) => `file://${join(home, '.netlab', 'pulumi-state')}`;

/** How a run ended, from its result.json: ok only if the file says ok; a missing or unreadable file is not ok. */
export function runStatus(resultDir: string | null): { status: SweepRow['status']; error?: string } {
  if (!resultDir) return { status: 'failed', error: 'the run left no result directory' };
  try {
    const r = JSON.parse(readFileSync(join(resultDir, 'result.json'), 'utf8')) as { status?: string; error?: string };
    if (r.status === 'ok') return { status: 'ok' };
    return { status: r.status === 'interrupted' ? 'interrupted' : 'failed', error: `result.json says ${r.status}${r.error ? `: ${r.error}` : ''}` };
  } catch (e) {
    return { status: 'failed', error: `cannot read ${join(resultDir, 'result.json')}: ${(e as Error).message}` };
  }
}

/** What an aws run needs on this machine, each with what to do when it is missing. */
export function awsPrereqs(p: PrereqEnv = defaultPrereqEnv()): Prereq[] {
  const e = p.env;
  const v = p.pulumiVersion();
  const out: Prereq[] = [
    v
      ? { name: 'Pulumi CLI', ok: true, detail: v }
      : {
          name: 'Pulumi CLI',
          ok: false,
          detail: `no \`pulumi\` on PATH or in ${join(toolsCache(e), 'bin')}: run scripts/install-tools.sh (or install it: https://www.pulumi.com/docs/install/), then \`pulumi version\``,
        },
  ];
  const keys = !!(e.AWS_ACCESS_KEY_ID && e.AWS_SECRET_ACCESS_KEY);
  const profileFile = [e.AWS_SHARED_CREDENTIALS_FILE ?? join(p.home, '.aws', 'credentials'), e.AWS_CONFIG_FILE ?? join(p.home, '.aws', 'config')].find((f) =>
    p.exists(f),
  );
  const sso = !!e.AWS_WEB_IDENTITY_TOKEN_FILE || !!e.AWS_CONTAINER_CREDENTIALS_FULL_URI || !!e.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  out.push(
    keys
      ? { name: 'AWS credentials', ok: true, detail: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set' }
      : profileFile
        ? { name: 'AWS credentials', ok: true, detail: `profile ${e.AWS_PROFILE ?? 'default'} from ${profileFile}` }
        : sso
          ? { name: 'AWS credentials', ok: true, detail: 'web identity / container credentials' }
          : {
              name: 'AWS credentials',
              ok: false,
              detail: 'none found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials (aws configure)',
            },
  );
  const backend = e.PULUMI_BACKEND_URL ?? defaultBackend(p.home);
  if (backend.startsWith('file://'))
    out.push(
      e.PULUMI_CONFIG_PASSPHRASE !== undefined || e.PULUMI_CONFIG_PASSPHRASE_FILE
        ? {
            name: 'state passphrase',
            ok: true,
            detail: `secrets in ${backend} encrypted with PULUMI_CONFIG_PASSPHRASE${e.PULUMI_CONFIG_PASSPHRASE_FILE ? '_FILE' : ''}`,
          }
        : {
            name: 'state passphrase',
            ok: false,
            detail: `the local backend (${backend}) encrypts the stack's secrets (SSH key, kubeconfig): set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE`,
          },
    );
  else out.push({ name: 'state backend', ok: true, detail: backend });
  return out;
}

export class PrereqError extends Error {
  constructor(
    readonly missing: Prereq[],
    target: 'aws' | 'local' | 'ssh' = 'aws',
  ) {
    super(
      `the ${target === 'local' ? 'local target through the Pulumi engine' : `${target} target`} cannot run here:\n${missing.map((m) => `  - ${m.name}: ${m.detail}`).join('\n')}`,
    );
    this.name = 'PrereqError';
  }
}

export interface SweepRow {
  stack: string;
  target: 'local' | 'aws' | 'ssh';
  status: 'ok' | 'failed' | 'interrupted';
  minutes: number;
  /** aws: the pair's price; local: 0. */
  usdPerHour: number;
  resultDir: string | null;
  /** Whether `pulumi destroy` ended with nothing left; null when nothing was created (e.g. a wrong passphrase). */
  /** true/false: destroy ran and succeeded/failed; 'kept': --keep left the stack up; null: nothing was created. */
  destroyed: boolean | 'kept' | null;
  error?: string;
}

/** RFC 5737 documentation ranges: the shipped stacks' placeholder SSH range is one of them. */
const DOC_RANGES = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'].map(parseCidr);

/** Whether an SSH range is still a documentation placeholder (no real client is in it). */
export function isPlaceholderCidr(cidr: string): boolean {
  const c = parseCidr(cidr);
  return DOC_RANGES.some((d) => c.prefix >= d.prefix && (c.base ^ d.base) >>> (32 - d.prefix) === 0);
}

/** Refuse placeholder SSH ranges and missing prerequisites (of each target given) before any Pulumi call. */
export function checkSweep(specs: Spec[], p: PrereqEnv = defaultPrereqEnv()): void {
  const placeholder = specs.filter((s) => s.aws && isPlaceholderCidr(s.aws.sshCidr));
  if (placeholder.length)
    throw new Error(
      `netlab:aws.sshCidr is still the documentation placeholder in ${placeholder.map((s) => `${s.name} (${s.aws!.sshCidr})`).join(', ')}: nothing could SSH in to prepare the hosts. Set your own, e.g.\n` +
        placeholder.map((s) => `  pulumi config set --path 'netlab:aws.sshCidr' "$(curl -s https://checkip.amazonaws.com)/32" -s ${s.name}`).join('\n'),
    );
  const placeholderHosts = specs.flatMap((s) =>
    (['server', 'client'] as const)
      .map((r) => ({ s, r, a: s.ssh?.hosts[r].address }))
      .filter((x) => x.a && /^\d+\.\d+\.\d+\.\d+$/.test(x.a) && isPlaceholderCidr(`${x.a}/32`)),
  );
  if (placeholderHosts.length)
    throw new Error(
      `netlab:ssh.hosts.<role>.address is still a documentation placeholder in ${placeholderHosts.map((x) => `${x.s.name} (${x.r} ${x.a})`).join(', ')}: no host is there. Set your hosts', e.g.\n` +
        placeholderHosts.map((x) => `  pulumi config set --path 'netlab:ssh.hosts.${x.r}.address' <address> -s ${x.s.name}`).join('\n'),
    );
  if (specs.some(isAwsSpec)) {
    const bad = awsPrereqs(p).filter((x) => !x.ok);
    if (bad.length) throw new PrereqError(bad);
  }
  if (specs.some(isSshSpec)) {
    // Your own hosts: the engine, its plugins and the state passphrase (the key is a secret), no AWS credentials.
    const bad = awsPrereqs(p).filter((x) => !x.ok && x.name !== 'AWS credentials');
    const why = p.engineMissing?.();
    if (why) bad.push({ name: 'Pulumi tools', ok: false, detail: why });
    if (bad.length) throw new PrereqError(bad, 'ssh');
  }
  if (specs.some((s) => s.target === 'local')) {
    const bad: Prereq[] = [];
    if (p.isRoot && !p.isRoot()) bad.push({ name: 'root', ok: false, detail: 'the local target creates network namespaces: run as root' });
    const why = p.engineMissing?.();
    if (why) bad.push({ name: 'Pulumi tools', ok: false, detail: why });
    if (bad.length) throw new PrereqError(bad, 'local');
  }
}

/** One stack as the scheduler sees it: its name, what it costs per hour while it exists, and whether it runs on this machine. */
export interface Scheduled {
  name: string;
  /** aws: the pair's price (plan.cost.usdPerHour); local: 0. */
  usdPerHour: number;
  /** A local stack measures on this machine: two of them never run at once (they would disturb each other). */
  local: boolean;
}

export interface ScheduleLimits {
  /** At most this many stacks at once (`--parallel`, default 1). */
  parallel: number;
  /** The sum of USD/hour of the stacks that exist at once never exceeds this (`--max-hourly-usd`); undefined: no total cap. */
  maxHourlyUsd?: number | undefined;
}

/** The largest `--parallel` netlab accepts. */
export const MAX_PARALLEL = 32;

/** USD per hour in ten-thousandths (the precision of hourlyCost), so that sums compare exactly. */
const units = (usd: number) => Math.round(usd * 10_000);

/**
 * Refuse limits that no sweep of these stacks could keep, before anything is created: a parallel
 * count that is not a whole number from 1 to MAX_PARALLEL, a cap that is not a positive number, and
 * a cap below one stack's own cost (that stack could never start). Messages name the flag, its
 * value and what is allowed.
 */
export function checkSchedule(stacks: Scheduled[], limits: ScheduleLimits): void {
  const p = limits.parallel;
  if (!Number.isInteger(p) || p < 1 || p > MAX_PARALLEL) throw new Error(`--parallel ${p}: expected a whole number from 1 to ${MAX_PARALLEL}`);
  const cap = limits.maxHourlyUsd;
  if (cap === undefined) return;
  if (!Number.isFinite(cap) || cap <= 0) throw new Error(`--max-hourly-usd ${cap}: expected a positive number of USD per hour`);
  const over = stacks.filter((s) => units(s.usdPerHour) > units(cap));
  if (over.length)
    throw new Error(
      `--max-hourly-usd ${cap}: below the cost of ${over.map((s) => `${s.name} (${s.usdPerHour.toFixed(4)} USD/hour)`).join(', ')}, which could never start; ` +
        'the cap must hold the dearest stack on its own (local stacks cost 0). Raise it, or leave those stacks out',
    );
}

/**
 * Which waiting stack may start now, as an index into `waiting`, or null: none while `parallel`
 * stacks run; else the first in the order given that fits: the running stacks' USD/hour, plus
 * `heldUsd` (stacks that ended but may still bill: kept with --keep, or whose destroy failed), plus
 * its own stay within the cap; a local stack only when no other local stack runs; a stack only when
 * no stack of the same name runs. So a stack that does not fit waits, and a later one that fits
 * may start before it. Pure.
 */
export function nextToStart(waiting: readonly Scheduled[], running: readonly Scheduled[], limits: ScheduleLimits, heldUsd = 0): number | null {
  if (running.length >= limits.parallel) return null;
  const used = running.reduce((s, r) => s + units(r.usdPerHour), units(heldUsd));
  const cap = limits.maxHourlyUsd === undefined ? Infinity : units(limits.maxHourlyUsd);
  const i = waiting.findIndex(
    (s) => used + units(s.usdPerHour) <= cap && !(s.local && running.some((r) => r.local)) && !running.some((r) => r.name === s.name),
  );
  return i < 0 ? null : i;
}

/** One stack's turn in a simulated sweep: when it started and ended, and the USD/hour of all stacks running right after it started. */
export interface ScheduleEvent {
  name: string;
  start: number;
  end: number;
  runningUsdPerHour: number;
}

/**
 * The sweep's schedule with given durations (any unit), decided by nextToStart exactly as the real
 * sweep decides: at time 0 and whenever stacks end, start every stack that fits. Events in start
 * order. Pure (for tests and for explaining a schedule); throws if the stacks cannot all start,
 * which checkSchedule rules out.
 */
export function simulateSchedule(stacks: readonly (Scheduled & { duration: number })[], limits: ScheduleLimits): ScheduleEvent[] {
  checkSchedule([...stacks], limits);
  const waiting = [...stacks];
  const running: (Scheduled & { duration: number; end: number })[] = [];
  const events: ScheduleEvent[] = [];
  let now = 0;
  // Each pass starts at least one stack or ends at least one: at most 2 × n passes.
  for (let pass = 0; pass <= 2 * stacks.length && (waiting.length || running.length); pass++) {
    for (let i = nextToStart(waiting, running, limits); i !== null; i = nextToStart(waiting, running, limits)) {
      const s = waiting.splice(i, 1)[0]!;
      running.push({ ...s, end: now + s.duration });
      events.push({ name: s.name, start: now, end: now + s.duration, runningUsdPerHour: running.reduce((a, r) => a + units(r.usdPerHour), 0) / 10_000 });
    }
    if (!running.length) throw new Error(`cannot start ${waiting.map((s) => s.name).join(', ')} under these limits`);
    now = Math.min(...running.map((r) => r.end));
    for (let i = running.length - 1; i >= 0; i--) if (running[i]!.end === now) running.splice(i, 1);
  }
  return events;
}

/**
 * What a spot stack's failure text says about an interruption: EC2's reasons for reclaiming a spot
 * instance (the state reason `Server.SpotInstanceTermination`, the spot request's
 * `instance-terminated-…`/`marked-for-…` codes), the metadata notice (`spot/instance-action`, or
 * its JSON `{"action": …, "time": …}`) and the run script's own `spot interruption notice` line.
 * Returns the reason to report, or null when the text names none (a host that merely went away is
 * not called an interruption). Pure.
 */
export function spotInterruption(text: string): string | null {
  const code =
    /Server\.SpotInstanceTermination|instance-terminated-(?:by-price|no-capacity|capacity-oversubscribed|launch-group-constraint|by-service)|marked-for-(?:termination|stop)/.exec(
      text,
    );
  if (code) return `EC2 reclaimed a spot host (${code[0]})`;
  const notice = /\{\s*"action"\s*:\s*"(terminate|stop|hibernate)"\s*,\s*"time"\s*:\s*"([^"]+)"\s*\}/.exec(text);
  if (notice) return `spot interruption notice: ${notice[1]} at ${notice[2]}`;
  if (/spot interruption notice|spot\/instance-action/i.test(text)) return 'spot interruption notice';
  return null;
}

/** The Pulumi operations the sweep runs on one stack (the Automation API's Stack, or a test's fake). */
export interface SweepStack {
  refresh(o: { onOutput: (s: string) => void; color: 'never'; signal: AbortSignal }): Promise<unknown>;
  up(o: { onOutput: (s: string) => void; color: 'never'; signal: AbortSignal }): Promise<{ outputs: Record<string, { value?: unknown } | undefined> }>;
  destroy(o: { onOutput: (s: string) => void; color: 'never' }): Promise<unknown>;
  /** Remove the stack from the backend (local stacks, after a destroy). */
  remove(): Promise<void>;
}

/** Where the sweep gets its stacks: the state backend's URL and, per stack, its operations. */
export interface SweepEngine {
  backend: string;
  open(name: string): Promise<SweepStack>;
}

export interface SweepOptions {
  projectDir: string;
  signal: AbortSignal;
  /** One progress line of one stack; the line starts with its phase (`refresh: `, `up: `, `destroy: `, `waiting: `). */
  log: (stack: string, line: string) => void;
  keep?: boolean;
  /** At most this many stacks at once (default 1). */
  parallel?: number;
  /** The total USD/hour of the stacks that exist at once stays at or below this (default: no total cap). */
  maxHourlyUsd?: number | undefined;
  /** The environment to start from (default process.env); PULUMI_BACKEND_URL there wins over defaultBackend. */
  env?: NodeJS.ProcessEnv;
  /** Prerequisites as checkSweep sees them (default: this machine). */
  prereqs?: PrereqEnv;
  /** The stacks' operations (default: the Pulumi Automation API on projectDir). */
  engine?: SweepEngine;
}

const firstLines = (e: unknown, n = 5) =>
  String((e as Error).message ?? e)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' ')
    .slice(0, 400);

/** The Automation API on the project: the tools cache's CLI (else PATH's), the project's Pulumi environment, the backend. */
async function automationEngine(o: SweepOptions): Promise<SweepEngine> {
  const { LocalWorkspace, PulumiCommand } = await import('@pulumi/pulumi/automation/index.js');
  const env = o.env ?? process.env;
  const envVars = pulumiEnv({ projectDir: o.projectDir, env, backend: defaultBackend(env.HOME || homedir()) });
  const backend = envVars.PULUMI_BACKEND_URL!;
  if (backend.startsWith('file://')) mkdirSync(backend.slice('file://'.length), { recursive: true });
  const cache = toolsCache(env);
  const pulumiCommand = existsSync(join(cache, 'bin', 'pulumi'))
    ? await PulumiCommand.get({ root: cache, skipVersionCheck: true })
    : await PulumiCommand.get({ skipVersionCheck: true });
  return {
    backend,
    async open(name) {
      const stack = await LocalWorkspace.createOrSelectStack({ stackName: name, workDir: o.projectDir }, { pulumiCommand, envVars });
      return {
        refresh: (x) => stack.refresh(x),
        up: (x) => stack.up(x),
        destroy: (x) => stack.destroy(x),
        remove: () => stack.workspace.removeStack(name),
      };
    },
  };
}

/** How many of a stack's last output lines are kept to look for a spot interruption in. */
const TAIL_LINES = 200;

/**
 * One stack: select or create it in the project (its config comes from stacks/), refresh (so
 * resources that ended outside Pulumi, such as hosts ended by their time-to-live, leave the state
 * and up recreates them), up, read the result directory, destroy. Destroy runs in `finally`, so a
 * failed refresh or up or an abort still removes what was created; a destroy that itself fails is
 * reported with the command to retry. A local stack that was destroyed is also removed from the
 * backend and its stack file put back as it was (`pulumi stack init` rewrites it), so a sweep
 * leaves no trace in the project.
 */
async function sweepOne(spec: Spec, usdPerHour: number, engine: SweepEngine, o: SweepOptions): Promise<SweepRow> {
  // Only a local stack's file is put back afterwards: an aws or ssh stack file keeps its salt and secrets.
  const aws = spec.target !== 'local';
  const t0 = Date.now();
  const row: SweepRow = { stack: spec.name, target: spec.target, status: 'failed', minutes: 0, usdPerHour, resultDir: null, destroyed: null };
  const stackFile = join(o.projectDir, 'stacks', `Pulumi.${spec.name}.yaml`);
  const original = !aws && existsSync(stackFile) ? readFileSync(stackFile, 'utf8') : null;
  const tail: string[] = [];
  // The CLI's own progress dots ("@ updating....", ".") say nothing a log line should: dropped.
  const output = (phase: string) => (s: string) =>
    s
      .split('\n')
      .filter((l) => l.trim() && !/^\s*(@ [a-z]+)?\.*\s*$/.test(l))
      .forEach((l) => {
        tail.push(l);
        if (tail.length > TAIL_LINES) tail.shift();
        o.log(spec.name, `${phase}: ${l}`);
      });
  const retry = `PULUMI_BACKEND_URL=${engine.backend} npm run pulumi -- destroy -s ${spec.name}`;
  let stack: SweepStack | null = null;
  let created = false;
  try {
    stack = await engine.open(spec.name);
    created = true;
    o.log(
      spec.name,
      aws
        ? "refresh: reading the stack's resources back from AWS (a host ended by its time-to-live leaves the state, and up recreates it)"
        : "refresh: reading the stack's resources back",
    );
    await stack.refresh({ onOutput: output('refresh'), color: 'never', signal: o.signal });
    o.log(
      spec.name,
      spec.aws
        ? `up: ${usdPerHour.toFixed(2)} USD/hour while it exists${spec.aws.spot ? ' (spot)' : ''}; hosts end themselves after ${spec.aws.ttlMinutes} min`
        : spec.ssh
          ? `up: over SSH on ${spec.ssh.hosts.server.address} and ${spec.ssh.hosts.client.address}; destroy undoes every step there`
          : 'up: netlab up on this machine, through the Pulumi engine',
    );
    const up = await stack.up({ onOutput: output('up'), color: 'never', signal: o.signal });
    row.resultDir = String(up.outputs.resultDir?.value ?? '') || null;
    // A successful `up` only says the steps ran: the run's own result.json says how it ended
    // (an aws run that failed half-way still collects, so its up succeeds).
    const ended = runStatus(row.resultDir);
    row.status = ended.status;
    if (ended.error) row.error = ended.error;
  } catch (e) {
    row.status = o.signal.aborted ? 'interrupted' : 'failed';
    // The CLI checks the passphrase as it reads the stack's config, before it changes anything:
    // then there is nothing to destroy (and destroy would only fail the same way).
    const pass = passphraseProblem(String((e as Error).message ?? e), spec.name, engine.backend);
    if (pass) created = false;
    row.error = pass ?? firstLines(e);
    tail.push(String((e as Error).message ?? e));
  }
  // A spot host that EC2 reclaimed is an interruption, not a failure of the stack: said so when the
  // error, the run's result or the output names it.
  if (spec.aws?.spot && row.status === 'failed') {
    const why = spotInterruption(`${row.error ?? ''}\n${tail.join('\n')}`);
    if (why) {
      row.status = 'interrupted';
      row.error = `${why}; ${row.error ?? ''}`;
    }
  }
  try {
    if (stack && created && !o.keep) {
      try {
        o.log(spec.name, 'destroy: removing everything the stack created');
        // Not aborted by the same signal: after Ctrl-C the destroy is what must still happen.
        await stack.destroy({ onOutput: output('destroy'), color: 'never' });
        row.destroyed = true;
        if (!aws) {
          await stack.remove().catch((e: Error) => o.log(spec.name, `destroy: pulumi stack rm: ${firstLines(e, 1)}`));
          if (original !== null) writeFileSync(stackFile, original);
        }
      } catch (e) {
        row.destroyed = false;
        row.error = `${row.error ? `${row.error}; ` : ''}DESTROY FAILED (${firstLines(e, 2)}): run \`${retry}\`${spec.aws ? '; the hosts still end themselves at their time-to-live' : spec.ssh ? "; until then netlab's changes stay on your hosts" : ` (or netlab down ${spec.name})`}`;
      }
    }
    if (stack && created && o.keep) row.destroyed = 'kept';
  } finally {
    row.minutes = (Date.now() - t0) / 60_000;
  }
  return row;
}

/**
 * Run the stacks through the engine, up to `parallel` at once under the `maxHourlyUsd` cap
 * (nextToStart decides; checkSchedule refuses impossible limits first). Each stack refreshes, ups
 * and always destroys (sweepOne). Ctrl-C aborts every running stack, each of which still destroys,
 * and starts no more. Rows in the order the stacks were given; a stack that never started is
 * `interrupted` with why.
 */
export async function sweep(specs: Spec[], o: SweepOptions): Promise<SweepRow[]> {
  checkSweep(specs, o.prereqs);
  const limits: ScheduleLimits = { parallel: o.parallel ?? 1, maxHourlyUsd: o.maxHourlyUsd };
  const items = specs.map((s, index) => ({ index, name: s.name, usdPerHour: isAwsSpec(s) ? awsPlan(s).cost.usdPerHour : 0, local: s.target === 'local' }));
  checkSchedule(items, limits);
  const engine = o.engine ?? (await automationEngine(o));
  const rows: (SweepRow | undefined)[] = specs.map(() => undefined);
  const waiting = [...items];
  const running = new Map<number, { item: (typeof items)[number]; done: Promise<void> }>();
  let heldUsd = 0;
  const told = new Set<number>();
  while (waiting.length || running.size) {
    if (!o.signal.aborted)
      for (
        let i = nextToStart(
          waiting,
          [...running.values()].map((r) => r.item),
          limits,
          heldUsd,
        );
        i !== null;
      ) {
        const item = waiting.splice(i, 1)[0]!;
        const done = sweepOne(specs[item.index]!, item.usdPerHour, engine, o).then((row) => {
          rows[item.index] = row;
          // Until its destroy succeeded (or nothing was created), a stack may still bill.
          if (row.destroyed !== true && row.destroyed !== null) heldUsd += item.usdPerHour;
          running.delete(item.index);
        });
        running.set(item.index, { item, done });
        i = nextToStart(
          waiting,
          [...running.values()].map((r) => r.item),
          limits,
          heldUsd,
        );
      }
    if (!running.size) break; // aborted; or nothing fits any more (stacks kept or left by a failed destroy hold the cap)
    for (const w of waiting)
      if (!told.has(w.index) && running.size < limits.parallel) {
        told.add(w.index);
        const now = [...running.values()].reduce((s, r) => s + r.item.usdPerHour, heldUsd);
        o.log(
          w.name,
          `waiting: its ${w.usdPerHour.toFixed(2)} USD/hour on top of the ${now.toFixed(2)} running would pass --max-hourly-usd ${limits.maxHourlyUsd}`,
        );
      }
    await Promise.race([...running.values()].map((r) => r.done));
  }
  return rows.map(
    (r, i) =>
      r ?? {
        stack: specs[i]!.name,
        target: items[i]!.local ? 'local' : 'aws',
        status: 'interrupted',
        minutes: 0,
        usdPerHour: items[i]!.usdPerHour,
        resultDir: null,
        destroyed: null,
        error: o.signal.aborted
          ? 'not started: the sweep was interrupted (Ctrl-C) before its turn'
          : `not started: stacks that may still bill (kept, or a failed destroy) hold ${heldUsd.toFixed(2)} of --max-hourly-usd ${limits.maxHourlyUsd}`,
      },
  );
}
