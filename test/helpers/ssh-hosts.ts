// Two Debian 12 "hosts" for the ssh rehearsal: containers made of a network namespace, a private
// mount and PID namespace, an overlay of a cached Debian root filesystem, and sshd as their first
// process. A third namespace, the operator's, reaches both over a management link; the hosts talk to
// each other over their own link. Everything is named netlab.<stack>.<role>, so `netlab down
// <stack>` removes it after a crash (the namespaces, and with them every process in them).
//
//   ops 10.98.0.1/30 ── 10.98.0.2 server 10.89.0.10/24 ── 10.89.0.11 client 10.98.0.6 ── 10.98.0.5/30 ops
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const CACHE = join(process.env.NETLAB_CACHE ?? join(homedir(), '.cache', 'netlab'), 'rehearsal');
export const ADDR = {
  server: { mgmt: '10.98.0.2', ops: '10.98.0.1', data: '10.89.0.10' },
  client: { mgmt: '10.98.0.6', ops: '10.98.0.5', data: '10.89.0.11' },
} as const;
export type Role = 'server' | 'client';

const sh = (args: string[], input?: string) =>
  spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: 1_200_000 });

function must(args: string[], input?: string): string {
  const r = sh(args, input);
  if (r.status !== 0) throw new Error(`${args.join(' ')}: exit ${r.status}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** A chroot's apt run with the root namespace's network (package downloads only; nothing else runs there). */
function inChroot(root: string, script: string): void {
  const inner = `mount -t proc proc ${root}/proc && mount --rbind /dev ${root}/dev && exec chroot ${root} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /bin/bash -s`;
  must(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', inner], `set -euo pipefail\n${script}`);
}

/**
 * The hosts' root filesystem, extracted once into the cache and used read-only as the overlay's
 * lower layer: the cached Debian 12 base (scripts/debian-rootfs.sh) plus sshd, sudo, nginx and the
 * packages the remote steps install (so the packages step finds them all and fetches nothing), a
 * user `admin` with passwordless sudo, as on Debian's cloud images.
 */
export function hostRoot(base: string, packages: string[]): string {
  const all = [...new Set(['openssh-server', 'sudo', 'nginx-light', ...packages])].sort();
  const key = createHash('sha256')
    .update(`2 ${all.join(' ')}`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(CACHE, `ssh-host-${key}`);
  if (existsSync(join(dir, 'ready'))) return join(dir, 'root');
  rmSync(dir, { recursive: true, force: true });
  const work = `${dir}.build-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'root'), { recursive: true });
  try {
    must(['tar', '-C', join(work, 'root'), '-xf', base]);
    const root = join(work, 'root');
    writeFileSync(join(root, 'etc', 'resolv.conf'), readFileSync('/etc/resolv.conf'));
    // No daemon starts while packages install (nginx's and tuned's postinst would try).
    writeFileSync(join(root, 'usr', 'sbin', 'policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    inChroot(
      root,
      `DEBIAN_FRONTEND=noninteractive apt-get update -q > /dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${all.join(' ')} > /dev/null
apt-get clean
ssh-keygen -A > /dev/null
useradd -m -s /bin/bash admin
usermod -p '*' admin
echo 'admin ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/admin
chmod 440 /etc/sudoers.d/admin
install -d -m 700 -o admin -g admin /home/admin/.ssh
rm -f /usr/sbin/policy-rc.d
# The hosts' names resolve locally, as on any installed host (sudo looks its host name up; without
# this it would wait for a DNS server these namespaces cannot reach).
printf '127.0.1.1\\tserver client\\n' >> /etc/hosts`,
    );
    writeFileSync(join(work, 'ready'), all.join('\n'));
    renameSync(work, dir);
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    throw e;
  }
  return join(dir, 'root');
}

export interface Host {
  role: Role;
  ns: string;
  upper: string;
  proc: ChildProcess;
}

/** The namespaces and links: ops ↔ server, ops ↔ client (management), server ↔ client (data). */
export function buildNetwork(stack: string): Record<Role | 'ops', string> {
  const ns = { ops: `netlab.${stack}.ops`, server: `netlab.${stack}.server`, client: `netlab.${stack}.client` };
  for (const n of Object.values(ns)) {
    must(['ip', 'netns', 'add', n]);
    must(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
  }
  const veth = (a: string, an: string, b: string, bn: string) => must(['ip', 'link', 'add', an, 'netns', a, 'type', 'veth', 'peer', 'name', bn, 'netns', b]);
  veth(ns.ops, 'mgmt-s', ns.server, 'mgmt0');
  veth(ns.ops, 'mgmt-c', ns.client, 'mgmt0');
  veth(ns.server, 'eth0', ns.client, 'eth0');
  const addr = (n: string, dev: string, cidr: string) => {
    must(['ip', '-n', n, 'addr', 'add', cidr, 'dev', dev]);
    must(['ip', '-n', n, 'link', 'set', dev, 'up']);
  };
  addr(ns.ops, 'mgmt-s', `${ADDR.server.ops}/30`);
  addr(ns.ops, 'mgmt-c', `${ADDR.client.ops}/30`);
  addr(ns.server, 'mgmt0', `${ADDR.server.mgmt}/30`);
  addr(ns.client, 'mgmt0', `${ADDR.client.mgmt}/30`);
  addr(ns.server, 'eth0', `${ADDR.server.data}/24`);
  addr(ns.client, 'eth0', `${ADDR.client.data}/24`);
  // The data link is each host's primary interface (the facts and verify steps read the default route's device).
  must(['ip', '-n', ns.server, 'route', 'add', 'default', 'via', ADDR.client.data]);
  must(['ip', '-n', ns.client, 'route', 'add', 'default', 'via', ADDR.server.data]);
  return ns;
}

/**
 * Starts one host: in its namespace, a new mount and PID namespace whose first process mounts the
 * overlay, /proc, the namespace's /sys, /dev, a /run and a /tmp, then becomes sshd. Killing that
 * process ends every process of the host (its PID namespace goes with it) and drops the mounts.
 */
export function startHost(role: Role, ns: string, lower: string, dir: string, authorizedKey: string): Host {
  const upper = join(dir, role, 'upper');
  const work = join(dir, role, 'work');
  const merged = join(dir, role, 'merged');
  for (const d of [upper, work, merged]) mkdirSync(d, { recursive: true });
  const inner = [
    `mount -t overlay overlay -o lowerdir=${lower},upperdir=${upper},workdir=${work} ${merged}`,
    `mount -t proc proc ${merged}/proc`,
    `mount -t sysfs sysfs ${merged}/sys`,
    `mount --rbind /dev ${merged}/dev`,
    `mount -t tmpfs -o mode=755 tmpfs ${merged}/run`,
    `mount -t tmpfs -o mode=1777 tmpfs ${merged}/tmp`,
    `mkdir -p ${merged}/run/sshd`,
    `hostname ${role}`,
    `exec chroot ${merged} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 /usr/sbin/sshd -D -e -o UsePAM=no -o PrintLastLog=no`,
  ].join(' && ');
  // The key is put into the upper layer before the overlay is mounted (the mount lives in the host's
  // own mount namespace); it is there in the baseline, the only thing the test itself adds.
  const admin = readFileSync(join(lower, 'etc', 'passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('admin:'))!
    .split(':');
  for (const [home, uid, gid] of [
    ['home/admin', Number(admin[2]), Number(admin[3])],
    ['root', 0, 0],
  ] as const) {
    const homeDir = join(upper, home);
    mkdirSync(join(homeDir, '.ssh'), { recursive: true });
    const st = lstatSync(join(lower, home));
    chmodSync(homeDir, st.mode & 0o7777);
    chownSync(homeDir, st.uid, st.gid);
    chmodSync(join(homeDir, '.ssh'), 0o700);
    chownSync(join(homeDir, '.ssh'), uid, gid);
    writeFileSync(join(homeDir, '.ssh', 'authorized_keys'), authorizedKey, { mode: 0o600 });
    chownSync(join(homeDir, '.ssh', 'authorized_keys'), uid, gid);
  }
  const proc = spawn(
    'ip',
    ['netns', 'exec', ns, 'unshare', '--mount', '--uts', '--pid', '--fork', '--kill-child', '--propagation', 'private', 'sh', '-c', inner],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    },
  );
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  proc.on('exit', (code) => {
    if (code) process.stderr.write(`ssh host ${role} ended (${code}): ${err}\n`);
  });
  return { role, ns, upper, proc };
}

/** sshd answers on the host's management address within `ms` (a bounded wait). */
export function waitForSsh(opsNs: string, address: string, ms = 30_000): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (sh(['ip', 'netns', 'exec', opsNs, 'bash', '-c', `exec 3<>/dev/tcp/${address}/22 && head -c 4 <&3`]).stdout === 'SSH-') return;
    sh(['sleep', '0.2']);
  }
  throw new Error(`sshd on ${address} did not answer within ${ms / 1000} s`);
}

/**
 * Every link of namespace `ns` settled (a bounded wait): carrier on, and IPv6 done with it (its
 * link-local route there, no address still tentative). A snapshot of a host's network taken before
 * that can catch a link half-way: seen here as the server's mgmt0 with NO-CARRIER and no fe80 route
 * in the baseline, a moment after sshd had answered through it.
 */
export function waitForLinks(ns: string, ms = 10_000): void {
  const end = Date.now() + ms;
  let why = '';
  while (Date.now() < end) {
    const links = sh(['ip', '-n', ns, '-o', 'link', 'show'])
      .stdout.split('\n')
      .filter((l) => l && !/: lo: /.test(l));
    const names = links.map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '?');
    const routes = sh(['ip', '-n', ns, '-6', 'route', 'show', 'table', 'all']).stdout;
    const tentative = sh(['ip', '-n', ns, '-6', 'addr', 'show', 'tentative']).stdout.trim();
    const noCarrier = names.filter((_, i) => /NO-CARRIER|state DOWN/.test(links[i]!));
    const noRoute = names.filter((n) => !routes.includes(`fe80::/64 dev ${n} `));
    if (!noCarrier.length && !noRoute.length && !tentative) return;
    why = `no carrier: ${noCarrier.join(', ') || '-'}; no fe80 route: ${noRoute.join(', ') || '-'}; tentative: ${tentative ? 'yes' : 'no'}`;
    sh(['sleep', '0.1']);
  }
  throw new Error(`the links of ${ns} did not settle within ${ms / 1000} s (${why})`);
}

/**
 * What differs in a host's upper layer, path → kind, leaving out what sshd itself writes on every
 * login (lastlog, wtmp, btmp) and the mark sudo leaves in the home of a user of group admin after
 * its first use (Debian's admin_flag): the changes made to the host since it started.
 */
export function layerState(upper: string, lower: string): Map<string, string> {
  const out = new Map<string, string>();
  const skip = new Set(['var/log/lastlog', 'var/log/wtmp', 'var/log/btmp', 'home/admin/.sudo_as_admin_successful']);
  const walk = (rel: string) => {
    for (const name of readdirSync(join(upper, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip.has(r)) continue;
      const st = lstatSync(join(upper, r));
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.set(r, 'deleted');
        continue;
      }
      if (st.isDirectory()) {
        if (!existsSync(join(lower, r))) out.set(r, 'new directory');
        walk(r);
        continue;
      }
      const lowerFile = join(lower, r);
      if (!existsSync(lowerFile)) {
        out.set(r, 'new');
        continue;
      }
      const same =
        st.isFile() && lstatSync(lowerFile).isFile() && readFileSync(lowerFile).equals(readFileSync(join(upper, r))) && lstatSync(lowerFile).mode === st.mode;
      if (!same) out.set(r, 'changed');
    }
  };
  walk('');
  return out;
}

/** Stops the hosts and removes the namespaces and the hosts' layers. */
export function tearDown(stack: string, hosts: Host[], dir: string): void {
  for (const h of hosts) {
    try {
      process.kill(-h.proc.pid!, 'SIGKILL');
    } catch {}
  }
  for (const role of ['server', 'client', 'ops']) {
    const ns = `netlab.${stack}.${role}`;
    for (const pid of sh(['ip', 'netns', 'pids', ns]).stdout.split('\n').filter(Boolean)) sh(['kill', '-9', pid]);
    sh(['ip', 'netns', 'del', ns]);
  }
  rmSync(dir, { recursive: true, force: true });
}
