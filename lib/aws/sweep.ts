// `netlab sweep`: run aws stacks one after another through the Pulumi Automation API: up (which
// measures and collects), then always destroy, also after a failure or Ctrl-C. The prerequisites
// (Pulumi CLI, AWS credentials, a passphrase for the local state backend) are checked first, so a
// missing one is named before anything is created.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseCidr, type Spec } from '../spec.ts';
import { awsPlan, isAwsSpec } from './plan.ts';

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
}

export function pulumiCliVersion(): string | null {
  try {
    return execFileSync('pulumi', ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 }).trim();
  } catch {
    return null;
  }
}

export const defaultPrereqEnv = (): PrereqEnv => ({ env: process.env, pulumiVersion: pulumiCliVersion, exists: existsSync, home: homedir() });

/** The default state backend of `netlab sweep`: a local directory, no Pulumi Cloud account needed. */
export const defaultBackend = (home: string) => `file://${join(home, '.netlab', 'pulumi-state')}`;

/** What an aws run needs on this machine, each with what to do when it is missing. */
export function awsPrereqs(p: PrereqEnv = defaultPrereqEnv()): Prereq[] {
  const e = p.env;
  const v = p.pulumiVersion();
  const out: Prereq[] = [
    v
      ? { name: 'Pulumi CLI', ok: true, detail: v }
      : { name: 'Pulumi CLI', ok: false, detail: 'no `pulumi` on PATH; install it (https://www.pulumi.com/docs/install/), then `pulumi version`' },
  ];
  const keys = !!(e.AWS_ACCESS_KEY_ID && e.AWS_SECRET_ACCESS_KEY);
  const profileFile = [e.AWS_SHARED_CREDENTIALS_FILE ?? join(p.home, '.aws', 'credentials'), e.AWS_CONFIG_FILE ?? join(p.home, '.aws', 'config')].find((f) => p.exists(f));
  const sso = !!e.AWS_WEB_IDENTITY_TOKEN_FILE || !!e.AWS_CONTAINER_CREDENTIALS_FULL_URI || !!e.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  out.push(
    keys
      ? { name: 'AWS credentials', ok: true, detail: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set' }
      : profileFile
        ? { name: 'AWS credentials', ok: true, detail: `profile ${e.AWS_PROFILE ?? 'default'} from ${profileFile}` }
        : sso
          ? { name: 'AWS credentials', ok: true, detail: 'web identity / container credentials' }
          : { name: 'AWS credentials', ok: false, detail: 'none found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials (aws configure)' },
  );
  const backend = e.PULUMI_BACKEND_URL ?? defaultBackend(p.home);
  if (backend.startsWith('file://'))
    out.push(
      e.PULUMI_CONFIG_PASSPHRASE !== undefined || e.PULUMI_CONFIG_PASSPHRASE_FILE
        ? { name: 'state passphrase', ok: true, detail: `secrets in ${backend} encrypted with PULUMI_CONFIG_PASSPHRASE${e.PULUMI_CONFIG_PASSPHRASE_FILE ? '_FILE' : ''}` }
        : { name: 'state passphrase', ok: false, detail: `the local backend (${backend}) encrypts the stack's secrets (SSH key, kubeconfig): set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE` },
    );
  else out.push({ name: 'state backend', ok: true, detail: backend });
  return out;
}

export class PrereqError extends Error {
  constructor(readonly missing: Prereq[]) {
    super(`the aws target cannot run here:\n${missing.map((m) => `  - ${m.name}: ${m.detail}`).join('\n')}`);
    this.name = 'PrereqError';
  }
}

export interface SweepRow {
  stack: string;
  status: 'ok' | 'failed' | 'interrupted';
  minutes: number;
  usdPerHour: number;
  resultDir: string | null;
  destroyed: boolean;
  error?: string;
}

/** RFC 5737 documentation ranges: the shipped stacks' placeholder SSH range is one of them. */
const DOC_RANGES = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'].map(parseCidr);

/** Whether an SSH range is still a documentation placeholder (no real client is in it). */
export function isPlaceholderCidr(cidr: string): boolean {
  const c = parseCidr(cidr);
  return DOC_RANGES.some((d) => c.prefix >= d.prefix && ((c.base ^ d.base) >>> (32 - d.prefix)) === 0);
}

/** Refuse non-aws stacks, placeholder SSH ranges and missing prerequisites before any Pulumi call. */
export function checkSweep(specs: Spec[], p: PrereqEnv = defaultPrereqEnv()): void {
  const local = specs.filter((s) => !isAwsSpec(s)).map((s) => s.name);
  if (local.length) throw new Error(`netlab sweep runs aws stacks; ${local.join(', ')} ${local.length > 1 ? 'are' : 'is'} local (use netlab up)`);
  const placeholder = specs.filter((s) => s.aws && isPlaceholderCidr(s.aws.sshCidr));
  if (placeholder.length)
    throw new Error(
      `netlab:aws.sshCidr is still the documentation placeholder in ${placeholder.map((s) => `${s.name} (${s.aws!.sshCidr})`).join(', ')}: nothing could SSH in to prepare the hosts. Set your own, e.g.\n` +
        placeholder.map((s) => `  pulumi config set --path 'netlab:aws.sshCidr' "$(curl -s https://checkip.amazonaws.com)/32" -s ${s.name}`).join('\n'),
    );
  const bad = awsPrereqs(p).filter((x) => !x.ok);
  if (bad.length) throw new PrereqError(bad);
}

/**
 * Run each stack: select or create it in the project (its config comes from stacks/), up, read
 * the result directory, destroy. Destroy runs in `finally`, so a failed up or an abort still
 * removes what was created; a destroy that itself fails is reported with the command to retry.
 */
export async function sweep(
  specs: Spec[],
  o: { projectDir: string; signal: AbortSignal; log: (stack: string, line: string) => void; keep?: boolean },
): Promise<SweepRow[]> {
  checkSweep(specs);
  const { LocalWorkspace } = await import('@pulumi/pulumi/automation/index.js');
  const home = homedir();
  const backend = process.env.PULUMI_BACKEND_URL ?? defaultBackend(home);
  if (backend.startsWith('file://')) mkdirSync(backend.slice('file://'.length), { recursive: true });
  const rows: SweepRow[] = [];
  for (const spec of specs) {
    if (!isAwsSpec(spec)) continue;
    if (o.signal.aborted) break;
    const t0 = Date.now();
    const row: SweepRow = { stack: spec.name, status: 'failed', minutes: 0, usdPerHour: awsPlan(spec).cost.usdPerHour, resultDir: null, destroyed: false };
    const stack = await LocalWorkspace.createOrSelectStack({ stackName: spec.name, workDir: o.projectDir }, { envVars: { PULUMI_BACKEND_URL: backend } });
    const onAbort = () => void stack.cancel().catch(() => {});
    const onOutput = (s: string) => s.split('\n').filter(Boolean).forEach((l) => o.log(spec.name, l));
    o.signal.addEventListener('abort', onAbort);
    try {
      o.log(spec.name, `up (${row.usdPerHour.toFixed(2)} USD/hour while it exists; hosts end themselves after ${spec.aws.ttlMinutes} min)`);
      const up = await stack.up({ onOutput, color: 'never' });
      row.resultDir = String(up.outputs.resultDir?.value ?? '') || null;
      row.status = 'ok';
    } catch (e) {
      row.status = o.signal.aborted ? 'interrupted' : 'failed';
      row.error = (e as Error).message.split('\n').slice(-5).join(' ').slice(0, 400);
    } finally {
      o.signal.removeEventListener('abort', onAbort);
      if (!o.keep) {
        try {
          o.log(spec.name, 'destroy');
          await stack.destroy({ onOutput, color: 'never' });
          row.destroyed = true;
        } catch (e) {
          row.error = `${row.error ? `${row.error}; ` : ''}DESTROY FAILED (${(e as Error).message.split('\n')[0]}): run \`PULUMI_BACKEND_URL=${backend} pulumi destroy -s ${spec.name}\`; the hosts still end themselves at their time-to-live`;
        }
      }
      row.minutes = (Date.now() - t0) / 60_000;
      rows.push(row);
    }
  }
  return rows;
}
