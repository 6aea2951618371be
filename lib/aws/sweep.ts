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
    target: 'aws' | 'local' = 'aws',
  ) {
    super(
      `the ${target === 'aws' ? 'aws target' : 'local target through the Pulumi engine'} cannot run here:\n${missing.map((m) => `  - ${m.name}: ${m.detail}`).join('\n')}`,
    );
    this.name = 'PrereqError';
  }
}

export interface SweepRow {
  stack: string;
  target: 'local' | 'aws';
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
  if (specs.some(isAwsSpec)) {
    const bad = awsPrereqs(p).filter((x) => !x.ok);
    if (bad.length) throw new PrereqError(bad);
  }
  if (specs.some((s) => !isAwsSpec(s))) {
    const bad: Prereq[] = [];
    if (p.isRoot && !p.isRoot()) bad.push({ name: 'root', ok: false, detail: 'the local target creates network namespaces: run as root' });
    const why = p.engineMissing?.();
    if (why) bad.push({ name: 'Pulumi tools', ok: false, detail: why });
    if (bad.length) throw new PrereqError(bad, 'local');
  }
}

export interface SweepOptions {
  projectDir: string;
  signal: AbortSignal;
  log: (stack: string, line: string) => void;
  keep?: boolean;
  /** The environment to start from (default process.env); PULUMI_BACKEND_URL there wins over defaultBackend. */
  env?: NodeJS.ProcessEnv;
  /** Prerequisites as checkSweep sees them (default: this machine). */
  prereqs?: PrereqEnv;
}

const firstLines = (e: unknown, n = 5) =>
  String((e as Error).message ?? e)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' ')
    .slice(0, 400);

/**
 * Run each stack: select or create it in the project (its config comes from stacks/), up, read
 * the result directory, destroy. Destroy runs in
 * `finally`, so a failed up or an abort still removes what was created; a destroy that itself
 * fails is reported with the command to retry. A local stack that was destroyed is also removed
 * from the backend and its stack file put back as it was (`pulumi stack init` rewrites it), so a
 * sweep leaves no trace in the project.
 */
export async function sweep(specs: Spec[], o: SweepOptions): Promise<SweepRow[]> {
  checkSweep(specs, o.prereqs);
  const { LocalWorkspace, PulumiCommand } = await import('@pulumi/pulumi/automation/index.js');
  const env = o.env ?? process.env;
  const envVars = pulumiEnv({ projectDir: o.projectDir, env, backend: defaultBackend(env.HOME || homedir()) });
  const backend = envVars.PULUMI_BACKEND_URL!;
  if (backend.startsWith('file://')) mkdirSync(backend.slice('file://'.length), { recursive: true });
  const cache = toolsCache(env);
  const pulumiCommand = existsSync(join(cache, 'bin', 'pulumi'))
    ? await PulumiCommand.get({ root: cache, skipVersionCheck: true })
    : await PulumiCommand.get({ skipVersionCheck: true });
  const rows: SweepRow[] = [];
  for (const spec of specs) {
    if (o.signal.aborted) break;
    const aws = isAwsSpec(spec);
    const t0 = Date.now();
    const row: SweepRow = {
      stack: spec.name,
      target: aws ? 'aws' : 'local',
      status: 'failed',
      minutes: 0,
      usdPerHour: aws ? awsPlan(spec).cost.usdPerHour : 0,
      resultDir: null,
      destroyed: null,
    };
    const stackFile = join(o.projectDir, 'stacks', `Pulumi.${spec.name}.yaml`);
    const original = !aws && existsSync(stackFile) ? readFileSync(stackFile, 'utf8') : null;
    // The CLI's own progress dots ("@ updating....", ".") say nothing a log line should: dropped.
    const onOutput = (s: string) =>
      s
        .split('\n')
        .filter((l) => l.trim() && !/^\s*(@ [a-z]+)?\.*\s*$/.test(l))
        .forEach((l) => o.log(spec.name, l));
    const retry = `PULUMI_BACKEND_URL=${backend} npm run pulumi -- destroy -s ${spec.name}`;
    let stack: Awaited<ReturnType<typeof LocalWorkspace.createOrSelectStack>> | null = null;
    let created = false;
    try {
      stack = await LocalWorkspace.createOrSelectStack({ stackName: spec.name, workDir: o.projectDir }, { pulumiCommand, envVars });
      created = true;
      o.log(
        spec.name,
        aws
          ? `up (${row.usdPerHour.toFixed(2)} USD/hour while it exists; hosts end themselves after ${spec.aws.ttlMinutes} min)`
          : 'up (netlab up on this machine, through the Pulumi engine)',
      );
      const up = await stack.up({ onOutput, color: 'never', signal: o.signal });
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
      const pass = passphraseProblem(String((e as Error).message ?? e), spec.name, backend);
      if (pass) created = false;
      row.error = pass ?? firstLines(e);
    } finally {
      if (stack && created && !o.keep) {
        try {
          o.log(spec.name, 'destroy');
          // Not aborted by the same signal: after Ctrl-C the destroy is what must still happen.
          await stack.destroy({ onOutput, color: 'never' });
          row.destroyed = true;
          if (!aws) {
            await stack.workspace.removeStack(spec.name).catch((e: Error) => o.log(spec.name, `pulumi stack rm: ${firstLines(e, 1)}`));
            if (original !== null) writeFileSync(stackFile, original);
          }
        } catch (e) {
          row.destroyed = false;
          row.error = `${row.error ? `${row.error}; ` : ''}DESTROY FAILED (${firstLines(e, 2)}): run \`${retry}\`${aws ? '; the hosts still end themselves at their time-to-live' : ' (or netlab down ' + spec.name + ')'}`;
        }
      }
      if (stack && created && o.keep) row.destroyed = 'kept';
      row.minutes = (Date.now() - t0) / 60_000;
      rows.push(row);
    }
  }
  return rows;
}
