// The ssh target, rehearsed through the real Pulumi engine and @pulumi/command's SSH sessions: two
// Debian 12 containers running sshd (test/helpers/ssh-hosts.ts) stand in for your own two hosts.
// `netlab up` of an ssh stack (Automation API: refresh, up, always destroy) runs, from an operator
// namespace, the first-connection check, verify, packages (all present: nothing is fetched, and the
// hosts have no route to any mirror), facts, tuning, nginx on the server host, the run and collect,
// then destroy undoes each step. The hosts' overlay layers and their namespace sysctls must be as
// before. Bad input (a wrong key, an unreachable host) is refused naming its key, with nothing
// changed. kubeadm cannot run here (it pulls its control plane as container images from a registry
// this machine cannot reach): the first stack uses ssh.cluster: none, the second ssh.cluster:
// processes, the cluster made of the upstream programs netlab builds (etcd, kube-apiserver,
// flanneld, kube-proxy, cnitool), copied to the hosts over SSH; the kubeadm steps are covered by
// their exact scripts and shellcheck.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { imageFor } from '../../lib/aws/catalogue.ts';
import { packageList } from '../../lib/aws/scripts.ts';
import { k8sMissing, k8sMissingText } from '../../lib/k8s/tools.ts';
import { pulumiBinary, pulumiEnv } from '../../lib/pulumi/tools.ts';
import { PROCESS_PROGRAMS } from '../../lib/remote/processes.ts';
import { PROJECT_DIR as root } from '../../lib/spec/stackfile.ts';
import { ADDR, buildNetwork, hostRoot, layerState, startHost, tearDown, waitForLinks, waitForSsh, type Host, type Role } from '../helpers/ssh-hosts.ts';

const isRoot = process.getuid?.() === 0;
const STACK = `reh-ssh-${process.pid}`;
const PASSPHRASE = 'netlab-ssh-rehearsal';
const SYSCTLS = { 'net.ipv4.tcp_fin_timeout': 10, 'net.core.somaxconn': 8192, 'net.ipv4.ip_local_port_range': '10000 65000' };

const sh = (args: string[], o: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
  spawnSync(args[0]!, args.slice(1), {
    encoding: 'utf8',
    input: o.input,
    env: o.env ?? process.env,
    cwd: root,
    stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    timeout: 1_200_000,
  });

/** A command in its own process group, bounded in time, output collected. */
function run(args: string[], env: NodeJS.ProcessEnv, ms: number): Promise<{ code: number | null; out: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(args[0]!, args.slice(1), { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGINT');
      } catch {}
    }, ms);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, stdout });
    });
  });
}

/** The stack file: your two hosts as a user would write them, in the lab's addresses. */
function writeStack(stack: string, over: { serverAddress?: string; config?: Record<string, unknown> } = {}) {
  const stackFile = join(root, 'stacks', `Pulumi.${stack}.yaml`);
  const config = {
    'netlab:description': 'ssh rehearsal: two Debian 12 containers with sshd (test/integration/ssh-rehearsal.test.ts)',
    'netlab:target': 'ssh',
    'netlab:datapath': 'host',
    'netlab:ssh': {
      user: 'admin',
      os: 'debian',
      cluster: 'none',
      hosts: {
        server: { address: over.serverAddress ?? ADDR.server.mgmt, privateAddress: ADDR.server.data },
        client: { address: ADDR.client.mgmt, privateAddress: ADDR.client.data },
      },
    },
    'netlab:server': { responseBytes: 350, workers: 2 },
    'netlab:tuning': { profile: 'none', sysctls: SYSCTLS },
    'netlab:workload': { tool: 'ab', requests: 2000, concurrency: 4, keepalive: [false, true] },
    ...over.config,
  };
  // Keep what `pulumi stack init` and `config set` added (the salt, the encrypted key).
  let doc: { config: Record<string, unknown> } & Record<string, unknown> = { config: {} };
  try {
    doc = YAML.parse(readFileSync(stackFile, 'utf8'));
  } catch {}
  writeFileSync(stackFile, YAML.stringify({ ...doc, config: { ...doc.config, ...config } }));
}

const sysctlsOf = (ns: string) => sh(['ip', 'netns', 'exec', ns, 'sysctl', '-n', ...Object.keys(SYSCTLS)]).stdout;

/** Every process of a host but its sshd listener and the sessions' sshd processes. */
const otherProcesses = (ns: string) =>
  sh(['ip', 'netns', 'pids', ns])
    .stdout.split('\n')
    .filter(Boolean)
    .map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {
        return '';
      }
    })
    .filter((c) => c && c !== 'sshd' && c !== 'sh' && c !== 'unshare');

interface Rehearsal {
  ns: Record<Role | 'ops', string>;
  dir: string;
  /** `netlab up <stack> --json` from the operator's namespace: refresh, up, always destroy. */
  netlabUp: () => Promise<{ code: number | null; out: string; stdout: string }>;
  pulumi: (args: string[], input?: string) => ReturnType<typeof sh>;
  /** Both hosts' upper layers are as when they started (what the test itself put there aside). */
  unchanged: (what: string) => void;
  before: Record<Role, string>;
}

/**
 * Two fresh hosts (sshd containers on the cached root with `packages`), a stack `stack` of a file
 * backend with its key set, then `body`; the stack, its file, its results and the hosts are removed
 * whatever happens.
 */
async function withHosts(t: ExecutionContext, stack: string, packages: string[], body: (r: Rehearsal) => Promise<void>): Promise<void> {
  const built = sh([join(root, 'scripts', 'debian-rootfs.sh')]);
  if (built.status !== 0) return void t.fail(`no Debian 12 root filesystem: ${built.stderr.trim()}`);
  const t0 = Date.now();
  const lower = hostRoot(built.stdout.trim(), packages);
  t.log(`host root filesystem ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const dir = mkdtempSync(join(tmpdir(), 'netlab-ssh-reh-'));
  const backend = mkdtempSync(join(tmpdir(), 'netlab-ssh-reh-state-'));
  const hosts: Host[] = [];
  const base = { ...process.env, PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: PASSPHRASE };
  const env = { ...base, ...pulumiEnv({ env: base }) };
  const pulumi = (args: string[], input?: string) => sh([pulumiBinary(env)!, ...args, '--non-interactive', '-s', stack], { env, ...(input ? { input } : {}) });
  try {
    for (const k of ['key', 'stranger']) sh(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `netlab-${k}`, '-f', join(dir, k)]);
    const ns = buildNetwork(stack);
    const pub = readFileSync(join(dir, 'key.pub'), 'utf8');
    hosts.push(startHost('server', ns.server, lower, dir, pub), startHost('client', ns.client, lower, dir, pub));
    waitForSsh(ns.ops, ADDR.server.mgmt);
    waitForSsh(ns.ops, ADDR.client.mgmt);
    // The baselines below are of settled links.
    for (const n of [ns.server, ns.client]) waitForLinks(n);
    const before = { server: sysctlsOf(ns.server), client: sysctlsOf(ns.client) };
    const baseline = hosts.map((h) => [...layerState(h.upper, lower)].sort().join('\n'));
    const unchanged = (what: string) =>
      hosts.forEach((h, i) => t.is([...layerState(h.upper, lower)].sort().join('\n'), baseline[i]!, `${what}: the ${h.role} host's files are as before`));
    writeStack(stack);
    const init = pulumi(['stack', 'init', '--secrets-provider', 'passphrase']);
    t.is(init.status, 0, init.stderr);
    const netlabUp = () => run(['ip', 'netns', 'exec', ns.ops, process.execPath, join(root, 'bin', 'netlab.js'), 'up', stack, '--json'], env, 15 * 60_000);
    await body({ ns, dir, netlabUp, pulumi, unchanged, before });
  } finally {
    pulumi(['stack', 'rm', '--yes', '--force']);
    rmSync(join(root, 'stacks', `Pulumi.${stack}.yaml`), { force: true });
    rmSync(join(root, 'results', stack), { recursive: true, force: true });
    rmSync(backend, { recursive: true, force: true });
    tearDown(stack, hosts, dir);
  }
}

/** The run's row from `netlab up --json`, and its result.json. */
function outcome(stdout: string) {
  const { runs: rows } = JSON.parse(stdout.slice(stdout.lastIndexOf('\n{') + 1)) as {
    runs: { stack: string; status: string; resultDir: string | null; destroyed: boolean }[];
  };
  const result = rows[0]?.resultDir
    ? (JSON.parse(readFileSync(join(rows[0].resultDir, 'result.json'), 'utf8')) as {
        status: string;
        environment: { os: string };
        points: { id: string; status: string; requests: number; params: { services?: number } }[];
      })
    : null;
  return { row: rows[0], result };
}

/** The steps of 5 s or more in `netlab up`'s output. */
const slowSteps = (out: string) =>
  out
    .split('\n')
    .filter((l) => /(created|deleted) \((\d{2,}|[5-9])(\.\d+)?s\)/.test(l))
    .map((l) => l.replace(/^.*?(command|netlab)/, '$1').trim())
    .join('\n');

const image = imageFor('debian', '6.1')!;
/** Both rehearsals' hosts have every package either needs (one cached root filesystem for both). */
const packages = [
  ...new Set([
    ...packageList({ image, role: 'server', tools: ['ab'], hostNginx: true, processes: true }),
    ...packageList({ image, role: 'client', tools: ['ab'] }),
  ]),
];

const TITLE = 'ssh target through the real engine: check, packages (offline), tuning, nginx, run, collect over SSH; destroy leaves the hosts as they were';
(isRoot ? test.serial : test.skip)(isRoot ? TITLE : `${TITLE} — skipped: needs root (namespaces, overlay mounts)`, async (t: ExecutionContext) => {
  t.timeout(25 * 60_000);
  await withHosts(t, STACK, packages, async ({ ns, dir, netlabUp, pulumi, unchanged, before }) => {
    // A key the hosts do not accept: named, before anything changed on either host.
    t.is(pulumi(['config', 'set', '--secret', 'netlab:sshPrivateKey'], readFileSync(join(dir, 'stranger'), 'utf8')).status, 0);
    const wrongKey = await netlabUp();
    t.not(wrongKey.code, 0);
    t.regex(wrongKey.out, /netlab:sshPrivateKey: the server host admin@10\.98\.0\.2:22 refused the key/);
    t.regex(wrongKey.out, /nothing was changed on either host/);
    unchanged('after a wrong key');

    // The right key, but the server's address answers nowhere.
    const set = pulumi(['config', 'set', '--secret', 'netlab:sshPrivateKey'], readFileSync(join(dir, 'key'), 'utf8'));
    t.is(set.status, 0, set.stderr);
    writeStack(STACK, { serverAddress: '10.98.0.10' });
    const unreachable = await netlabUp();
    t.not(unreachable.code, 0);
    t.regex(unreachable.out, /netlab:ssh\.hosts\.server\.address = 10\.98\.0\.10: unreachable over SSH on port 22/);
    t.notRegex(unreachable.out, /netlab:ssh\.hosts\.client/);
    unchanged('after an unreachable host');

    // The real run: up (every step over SSH), collect, destroy.
    writeStack(STACK);
    const t1 = Date.now();
    const up = await netlabUp();
    t.log(`netlab up (refresh, up, destroy) in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    t.is(up.code, 0, up.out.slice(-4000));
    // The packages step fetched nothing: the hosts have no route to any mirror, and an apt-get
    // update would have left new package lists in their layers (checked after destroy below).
    t.log(`steps of 5 s or more:\n${slowSteps(up.out)}`);
    const { row, result } = outcome(up.stdout);
    t.is(row?.status, 'ok');
    t.true(row?.destroyed);
    t.is(result?.status, 'ok');
    t.is(result?.environment.os, 'Debian GNU/Linux 12 (bookworm)');
    t.deepEqual(
      result?.points.map((p) => [p.status, p.requests]),
      [
        ['ok', 2000],
        ['ok', 2000],
      ],
    );
    t.log(`points: ${result?.points.map((p) => p.id).join(', ')}`);
    // destroy undid every step: the same files, the same namespace settings, nothing running.
    unchanged('after destroy');
    t.deepEqual({ server: sysctlsOf(ns.server), client: sysctlsOf(ns.client) }, before, 'tuning put back');
    t.deepEqual(otherProcesses(ns.server), [], 'nothing of netlab runs on the server host');
    t.deepEqual(otherProcesses(ns.client), [], 'nothing of netlab runs on the client host');
  });
});

/**
 * What a cluster leaves in a host's network namespace: links, routes, and the firewall's rules and
 * own chains and tables. Not counted: the iptables-nft tables with their empty built-in chains, which
 * stay once any iptables command has run (a host with a firewall has them anyway), and IPv6 link-local local
 * routes (duplicate address detection); MAC addresses are masked.
 */
const NET_STATE = [
  "ip -o link show | sed 's/ [0-9a-f:]\\{17\\} / <mac> /g'",
  // IPv6 link-local routes of the local table come and go with duplicate address detection.
  "ip route show table all | grep -v '^local fe80::' || true",
  ...['iptables-save', 'ip6tables-save'].map((c) => `${c} | grep -E '^(-A |:)' | grep -vE '^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ' || true`),
  "nft list ruleset | grep -vE '^\\s*(table (ip|ip6) (filter|nat|mangle|raw|security) \\{|chain (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) \\{|type .*|\\}|)$' || true",
];
const netState = (ns: string) => NET_STATE.map((c) => `# ${c}\n${sh(['ip', 'netns', 'exec', ns, 'sh', '-c', c]).stdout}`).join('');

const missingK8s = k8sMissing([...new Set([...PROCESS_PROGRAMS.server, ...PROCESS_PROGRAMS.client])]);
/** The processes cluster twice: flannel host-gw with kube-proxy's iptables mode, vxlan with its nftables mode (each its own undo paths). */
const CLUSTERS = [
  { datapath: 'hostgw', backend: 'host-gw', mode: 'iptables' },
  { datapath: 'vxlan', backend: 'vxlan', mode: 'nftables' },
] as const;
for (const v of CLUSTERS) {
  const CLUSTER = `ssh.cluster processes through the real engine: etcd, kube-apiserver, flanneld (${v.backend}) and kube-proxy (${v.mode}) on the hosts, a pod by cnitool, Services by EndpointSlices; destroy leaves the hosts as they were`;
  (isRoot ? test.serial : test.skip)(isRoot ? CLUSTER : `${CLUSTER} — skipped: needs root (namespaces, overlay mounts)`, async (t: ExecutionContext) => {
    t.timeout(25 * 60_000);
    // npm test's pretest builds them (scripts/install-k8s.sh); a run without them is a failure, not a skip.
    if (missingK8s.length) return t.fail(k8sMissingText(missingK8s));
    const stack = `${STACK}-${v.datapath}`;
    await withHosts(t, stack, packages, async ({ ns, dir, netlabUp, pulumi, unchanged, before }) => {
      const set = pulumi(['config', 'set', '--secret', 'netlab:sshPrivateKey'], readFileSync(join(dir, 'key'), 'utf8'));
      t.is(set.status, 0, set.stderr);
      const net = { server: netState(ns.server), client: netState(ns.client) };
      writeStack(stack, {
        config: {
          'netlab:datapath': v.datapath,
          'netlab:ssh': {
            user: 'admin',
            os: 'debian',
            cluster: 'processes',
            hosts: {
              server: { address: ADDR.server.mgmt, privateAddress: ADDR.server.data },
              client: { address: ADDR.client.mgmt, privateAddress: ADDR.client.data },
            },
          },
          'netlab:proxy': { mode: v.mode, services: [1, 20], target: 'last' },
          'netlab:workload': { tool: 'ab', requests: 1000, concurrency: 4, keepalive: [true] },
        },
      });
      const t1 = Date.now();
      const up = await netlabUp();
      t.log(`netlab up (refresh, up, destroy) in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
      if (up.code !== 0) writeFileSync(join(tmpdir(), `netlab-${stack}.log`), up.out);
      t.is(
        up.code,
        0,
        `the whole output is in ${join(tmpdir(), `netlab-${stack}.log`)}; its errors:\n${up.out
          .split('\n')
          .filter((l) => /error|netlab: /i.test(l) && !/ destroy: /.test(l))
          .join('\n')
          .slice(-8000)}`,
      );
      t.log(`steps of 5 s or more:\n${slowSteps(up.out)}`);
      const { row, result } = outcome(up.stdout);
      t.is(row?.status, 'ok');
      t.true(row?.destroyed);
      t.is(result?.status, 'ok');
      // Each point went through a ClusterIP of the fleet (kube-proxy's DNAT) to the pod on the server (flannel's route).
      t.deepEqual(
        result?.points.map((p) => [p.status, p.requests, p.params.services]),
        [
          ['ok', 1000, 1],
          ['ok', 1000, 20],
        ],
      );
      t.log(`points: ${result?.points.map((p) => p.id).join(', ')}`);
      unchanged('after destroy');
      t.deepEqual({ server: sysctlsOf(ns.server), client: sysctlsOf(ns.client) }, before, 'tuning put back');
      t.deepEqual({ server: netState(ns.server), client: netState(ns.client) }, net, "no link, route or rule of flannel's or kube-proxy's is left");
      t.deepEqual(otherProcesses(ns.server), [], 'nothing of netlab runs on the server host (etcd, kube-apiserver, flanneld, nginx stopped)');
      t.deepEqual(otherProcesses(ns.client), [], 'nothing of netlab runs on the client host (flanneld, kube-proxy stopped)');
    });
  });
}
