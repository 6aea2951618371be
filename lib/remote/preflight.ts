// The ssh target's first connection, before Pulumi creates anything: each host is reached with the
// stack's key through OpenSSH's client and runs the check script as the login user. An unreachable
// host, a refused key, a user without root or sudo, an unsupported distribution or kernel is
// refused with the key that names it; nothing has changed on either host by then.
import { k8sMissing, k8sMissingText } from '../k8s/tools.ts';
import { PROCESS_PROGRAMS } from './processes.ts';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from './plan.ts';
import type { SshSpec } from '../spec/schema.ts';
import { sshOptions } from '../core/ssh.ts';
import { SUPPORTED_RELEASES, checkScript, parseCheck, type CheckResult } from './scripts.ts';
import { sshImage, type SshEndpoint } from './plan.ts';

/** What one ssh run returned. */
export interface SshOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `script` on the host with `sh -s` as the login user; bounded by `timeoutMs`. */
export function runOverSsh(e: SshEndpoint, key: string, script: string, timeoutMs = 30_000): Promise<SshOutcome> {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-ssh-'));
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, key.endsWith('\n') ? key : `${key}\n`, { mode: 0o600 });
  return new Promise((resolve) => {
    const child = spawn('ssh', [...sshOptions({ keyFile, port: e.port, connectTimeout: 10 }), `${e.user}@${e.address}`, 'sh -s'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      rmSync(dir, { recursive: true, force: true });
      resolve({ code: null, stdout, stderr: `${stderr}${err.message}` });
    });
    child.on('close', (code) => {
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(script);
  });
}

/** The error for one host's outcome, naming the stack key to fix; null when the host passed. Pure. */
export function judgeHost(spec: SshSpec, role: Role, out: SshOutcome): string | null {
  const h = spec.ssh;
  const e = { address: h.hosts[role].address, user: h.hosts[role].user ?? h.user, port: h.hosts[role].port ?? h.port };
  const at = `${role} host ${e.user}@${e.address}:${e.port}`;
  const userKey = h.hosts[role].user ? `netlab:ssh.hosts.${role}.user` : 'netlab:ssh.user';
  const first = (s: string) =>
    s
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-1)[0] ?? '';
  if (out.code === 255 || out.code === null) {
    const err = first(out.stderr);
    if (/Permission denied|Too many authentication failures|no mutual signature/i.test(out.stderr))
      return `netlab:sshPrivateKey: the ${at} refused the key (${err}); set the private half of a key in that user's authorized_keys (pulumi config set --secret netlab:sshPrivateKey < key), or fix ${userKey}`;
    if (/invalid format|error in libcrypto|Load key/i.test(out.stderr))
      return `netlab:sshPrivateKey: not an OpenSSH private key the ssh client can read (${err})`;
    return `netlab:ssh.hosts.${role}.address = ${e.address}: unreachable over SSH on port ${e.port} (${err || 'no answer'}); check the address, ${h.hosts[role].port ? `netlab:ssh.hosts.${role}.port` : 'netlab:ssh.port'} and that sshd runs there`;
  }
  const r: CheckResult | null = parseCheck(out.stdout);
  if (!r) return `the ${at} answered but did not run the check (exit ${out.code}): ${first(out.stderr) || first(out.stdout) || 'no output'}`;
  if (r.ok) return null;
  if (r.what === 'no-root') return `${userKey} = ${e.user}: on the ${at}, ${r.detail}; use root or a user with passwordless sudo (NOPASSWD)`;
  if (r.what === 'distribution')
    return `netlab:ssh.os = ${h.os}: the ${at} runs ${r.detail}; ${h.os} means ${SUPPORTED_RELEASES[h.os].names} (the packages netlab installs are named for it)`;
  return `netlab:ssh.kernel = ${h.kernel}: the ${at} runs kernel ${r.detail.replace(/^kernel /, '')}, not ${h.kernel}.x`;
}

/**
 * Both hosts checked, concurrently, before anything is created: resolves with each host's check
 * (distribution, version, kernel) or rejects with every host's problem, each naming its key.
 */
export async function sshPreflight(
  spec: SshSpec,
  key: string | undefined,
  run = runOverSsh,
): Promise<Record<Role, { id: string; version: string; kernel: string }>> {
  if (!key)
    throw new Error(
      'netlab:sshPrivateKey is not set: target ssh needs the private key as a config secret (pulumi config set --secret netlab:sshPrivateKey < ~/.ssh/id_ed25519)',
    );
  if (spec.ssh.cluster === 'processes') {
    // The programs the binaries steps copy must be here first.
    const missing = k8sMissing([...new Set([...PROCESS_PROGRAMS.server, ...PROCESS_PROGRAMS.client])]);
    if (missing.length) throw new Error(`netlab:ssh.cluster = processes: ${k8sMissingText(missing)}`);
  }
  const image = sshImage(spec);
  const script = checkScript({ os: spec.ssh.os, unamePrefix: image.unamePrefix });
  const roles = ['server', 'client'] as const;
  const endpoint = (r: Role): SshEndpoint => ({
    address: spec.ssh.hosts[r].address,
    user: spec.ssh.hosts[r].user ?? spec.ssh.user,
    port: spec.ssh.hosts[r].port ?? spec.ssh.port,
  });
  const outs = await Promise.all(roles.map((r) => run(endpoint(r), key, script)));
  const problems = roles.map((r, i) => judgeHost(spec, r, outs[i]!)).filter((p): p is string => p !== null);
  if (problems.length) throw new Error(`netlab preflight of ssh stack ${spec.name} (nothing was changed on either host):\n  ${problems.join('\n  ')}`);
  // What validation could not know without the hosts: their kernel against the proxy mode.
  const kernels = roles.map((_, i) => {
    const r = parseCheck(outs[i]!.stdout);
    return r?.ok ? r.kernel : '';
  });
  const older = (k: string, a: number, b: number) => {
    const [x = 0, y = 0] = k.split(/[.-]/).map(Number);
    return x < a || (x === a && y < b);
  };
  const late: string[] = [];
  roles.forEach((r, i) => {
    const k = kernels[i]!;
    if (spec.proxy?.mode === 'nftables' && older(k, 5, 13))
      late.push(`netlab:proxy.mode = nftables: the ${r} host runs kernel ${k}; kube-proxy's nftables mode needs Linux 5.13 or newer`);
    if (spec.datapath === 'cilium' && older(k, 5, 4))
      late.push(`netlab:datapath = cilium: the ${r} host runs kernel ${k}; Cilium 1.16 needs Linux 5.4 or newer`);
  });
  if (late.length) throw new Error(`netlab preflight of ssh stack ${spec.name} (nothing was changed on either host):\n  ${late.join('\n  ')}`);
  const ok = (i: number) => {
    const r = parseCheck(outs[i]!.stdout);
    return r?.ok ? { id: r.id, version: r.version, kernel: r.kernel } : { id: '', version: '', kernel: '' };
  };
  return { server: ok(0), client: ok(1) };
}
