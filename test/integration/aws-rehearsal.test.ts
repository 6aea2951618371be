// The Debian rehearsal of the aws target: the host scripts a Debian 12 stack sends to its hosts, run
// for real in a debootstrapped Debian 12 root filesystem (cached: scripts/debian-rootfs.sh), as two
// hosts in two lab network namespaces joined by a veth (chroot + ip netns exec).
//
// What runs exactly as the remote steps send it: the packages scripts (server and client, Debian's
// names, tuned included; the client's build dependencies of tcpkali), the facts script, a tuning
// script from those facts (per-namespace settings only, see below), nginx with the ConfigMap's
// nginx.conf, the run script at a small load, and collect into result.json.
// What does not: EC2, kubeadm and everything Kubernetes (kubectl is a stand-in that answers the
// server's address), the tcpkali build itself (its source is on github.com, unreachable from
// here: only its prerequisite check runs), and the study tuning's machine-wide writes (IRQs,
// kernel.*, tuned, irqbalance), which would retune this machine: the tuning script runs with a
// per-namespace profile instead. Amazon Linux scripts stay covered by shellcheck only.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRunDir } from '../../lib/aws/collect.ts';
import { awsPlan, awsScripts } from '../../lib/aws/plan.ts';
import { parseFacts, tcpkaliBuild } from '../../lib/aws/scripts.ts';
import { hostTuningScript, runScript, workloadManifest } from '../../lib/aws/workload.ts';
import type { AwsSpec } from '../../lib/spec/schema.ts';
import { PROJECT_DIR } from '../../lib/spec/stackfile.ts';
import { specFromStackDoc } from '../../lib/spec/document.ts';
import { responseFiles } from '../../lib/server/http.ts';

const CACHE = join(process.env.NETLAB_CACHE ?? join(homedir(), '.cache', 'netlab'), 'rehearsal');
// Named like a stack's namespaces, so `netlab down rehearsal` (or `down --all`) removes them after a crash.
const NS = { server: 'netlab.rehearsal.server', client: 'netlab.rehearsal.client' } as const;
const IP = { server: '10.99.0.10', client: '10.99.0.11' } as const;

const doc = (config: Record<string, unknown>) => ({ config: Object.fromEntries(Object.entries(config).map(([k, v]) => [`netlab:${k}`, v])) });
/** A small Debian 12 stack: hostgw, a 1- and 10-Service iptables fleet, ab with and without keep-alive. */
const spec = specFromStackDoc(
  'aws-rehearsal',
  doc({
    target: 'aws',
    datapath: 'hostgw',
    aws: { sshCidr: '198.18.0.0/24', os: 'debian', kernel: '6.1' },
    server: { responseBytes: 350, workers: 2 },
    proxy: { mode: 'iptables', services: [1, 10] },
    tuning: { profile: 'none', sysctls: { 'net.ipv4.tcp_fin_timeout': 10, 'net.core.somaxconn': 8192, 'net.ipv4.ip_local_port_range': '10000 65000' } },
    workload: { tool: 'ab', requests: 2000, concurrency: 4, keepalive: [false, true] },
  }),
) as AwsSpec;

const sh = (args: string[], input?: string) =>
  spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: 1_200_000 });

/** Run a script as root in `root` (chroot), optionally inside a network namespace with its own /sys. */
function inHost(root: string, script: string, o: { ns?: string; env?: Record<string, string> } = {}) {
  const env = Object.entries({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', ...o.env }).map(
    ([k, v]) => `${k}=${v}`,
  );
  // A private mount namespace: proc, a sysfs of the network namespace, dev; nothing leaks to the host.
  const inner = `mount -t proc proc ${root}/proc && mount -t sysfs sysfs ${root}/sys && mount --rbind /dev ${root}/dev && exec chroot ${root} /usr/bin/env -i ${env.join(' ')} /bin/bash -s`;
  const argv = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', inner];
  return sh(o.ns ? ['ip', 'netns', 'exec', o.ns, ...argv] : argv, script);
}

/** Extract the cached Debian root, then run the exact packages script (cached per script hash). */
function preparedRoot(role: 'server' | 'client', base: string, packages: string, extra: string): string {
  const key = createHash('sha256')
    .update(packages + extra)
    .digest('hex')
    .slice(0, 16);
  const tarball = join(CACHE, `prepared-${role}-${key}.tar`);
  const root = mkdtempSync(join(tmpdir(), `netlab-reh-${role}-`));
  if (existsSync(tarball)) {
    execFileSync('tar', ['-C', root, '-xf', tarball]);
    return root;
  }
  execFileSync('tar', ['-C', root, '-xf', base]);
  writeFileSync(join(root, 'etc', 'resolv.conf'), readFileSync('/etc/resolv.conf'));
  // No daemons start inside the chroot (tuned's and nginx's postinst would try).
  writeFileSync(join(root, 'usr', 'sbin', 'policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  const r = inHost(root, packages);
  if (r.status !== 0) throw new Error(`packages script failed in the Debian 12 root (${role}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  if (extra) {
    const x = inHost(root, `set -euo pipefail\n${extra}`);
    if (x.status !== 0) throw new Error(`rehearsal extras failed (${role}): ${x.stderr.slice(-2000)}`);
  }
  execFileSync('tar', ['-C', root, '-cf', `${tarball}.tmp`, '.']);
  execFileSync('mv', [`${tarball}.tmp`, tarball]);
  return root;
}

function cleanup(roots: string[]) {
  for (const ns of Object.values(NS)) {
    // What the rehearsal started in the namespace (nginx) ends with it.
    for (const pid of sh(['ip', 'netns', 'pids', ns]).stdout.split('\n').filter(Boolean)) sh(['kill', pid]);
    sh(['ip', 'netns', 'del', ns]);
  }
  for (const r of roots) rmSync(r, { recursive: true, force: true });
}

const roots: string[] = [];
test.after.always(() => cleanup(roots));

const REHEARSAL = 'Debian 12 rehearsal: packages, facts, tuning, nginx, the run script and collect, for real in two namespaces';
// Without root it cannot run, and says so; as root (CI) it must run: a root filesystem that cannot
// be built is a failure, never a pass.
(process.getuid?.() === 0 ? test.serial : test.skip)(
  process.getuid?.() === 0 ? REHEARSAL : `${REHEARSAL} — skipped: needs root (namespaces, chroot)`,
  async (t) => {
    const built = sh([join(PROJECT_DIR, 'scripts', 'debian-rootfs.sh')]);
    if (built.status !== 0) return t.fail(`no Debian 12 root filesystem: ${built.stderr.trim()}`);
    const base = built.stdout.trim();
    const t0 = Date.now();
    const plan = awsPlan(spec);
    t.is(plan.image.os, 'debian-12');
    const scripts = awsScripts(spec);
    // The client's exact packages script up to the tcpkali build, whose source is unreachable here.
    const e2 = specFromStackDoc(
      'e2',
      doc({
        target: 'aws',
        datapath: 'vxlan',
        aws: { sshCidr: '198.18.0.0/24', os: 'debian', kernel: '6.1' },
        server: { keepaliveRequests: 1000000 },
        workload: { tool: 'tcpkali', rate: [1000], connections: 10 },
      }),
    ) as AwsSpec;
    const clientPackages = awsScripts(e2)['packages-client']!;
    const cut = clientPackages.indexOf('if ! command -v tcpkali');
    t.true(cut > 0);
    // nginx stands in for the pod's nginx:1.27.3 image (the rehearsal's only package outside the host scripts).
    const server = preparedRoot(
      'server',
      base,
      scripts['packages-server']!,
      'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light',
    );
    roots.push(server);
    const client = preparedRoot('client', base, `${clientPackages.slice(0, cut)}ab -V | head -1\n`, '');
    roots.push(client);
    t.log(`roots ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (cached under ${CACHE})`);
    // tuned is packaged in Debian 12 and was installed by the exact packages script.
    t.is(inHost(server, 'command -v tuned-adm').status, 0, 'tuned-adm installed');
    // tcpkali's prerequisite check passes with the Debian build packages (the build itself needs github.com).
    const check = inHost(client, `set -euo pipefail\n${tcpkaliBuild().replace(/\n {2}src=[\s\S]*$/, '\n  echo build-tools-ok\nfi\n')}`);
    t.is(check.status, 0, check.stderr);
    t.is(check.stdout.trim(), 'build-tools-ok');

    // Two hosts: two namespaces, a veth, default routes via each other.
    cleanup([]);
    for (const ns of Object.values(NS)) execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['link', 'add', 'nlreh-s', 'netns', NS.server, 'type', 'veth', 'peer', 'name', 'nlreh-c', 'netns', NS.client]);
    for (const [role, dev, peer] of [
      ['server', 'nlreh-s', 'client'],
      ['client', 'nlreh-c', 'server'],
    ] as const) {
      const n = ['ip', 'netns', 'exec', NS[role], 'ip'];
      execFileSync(n[0]!, [...n.slice(1), 'addr', 'add', `${IP[role]}/24`, 'dev', dev]);
      execFileSync(n[0]!, [...n.slice(1), 'link', 'set', dev, 'up']);
      execFileSync(n[0]!, [...n.slice(1), 'link', 'set', 'lo', 'up']);
      execFileSync(n[0]!, [...n.slice(1), 'route', 'add', 'default', 'via', IP[peer]]);
    }

    // facts → tuning, as the facts and tuning steps do.
    const facts = inHost(server, scripts.facts!, { ns: NS.server });
    t.is(facts.status, 0, facts.stderr);
    const f = parseFacts(facts.stdout);
    t.is(f.nic.name, 'nlreh-s');
    const tuning = hostTuningScript(spec, facts.stdout, plan.image);
    const tuned = inHost(server, tuning, { ns: NS.server });
    t.is(tuned.status, 0, tuned.stderr);
    const rows = readFileSync(join(server, 'var', 'lib', 'netlab', 'tuning.tsv'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    t.deepEqual(
      rows.map((r) => [r[0], r[1], r[4]]),
      [
        ['applied', 'net.ipv4.tcp_fin_timeout', '10'],
        ['applied', 'net.core.somaxconn', '8192'],
        ['applied', 'net.ipv4.ip_local_port_range', '10000 65000'],
      ],
    );
    // The kernel reads ip_local_port_range back with a tab; tuning.tsv stays six columns.
    t.true(rows.every((r) => r.length === 6));

    // nginx with the ConfigMap's nginx.conf and the pod's command line.
    const manifest = workloadManifest(spec, {});
    const conf = /nginx\.conf: \|\n([\s\S]*?)\n---/
      .exec(manifest)![1]!
      .split('\n')
      .map((l) => l.slice(4))
      .join('\n');
    const podCmd = /- (mkdir -p [^\n]*); exec nginx -c \/etc\/netlab\/nginx\.conf/.exec(manifest)![1]!;
    const ngx = inHost(
      server,
      `set -euo pipefail\ninstall -d /etc/netlab\ncat > /etc/netlab/nginx.conf <<'CONF'\n${conf}\nCONF\n${podCmd}\nsed -i 's/^daemon off;//' /etc/netlab/nginx.conf\nnginx -c /etc/netlab/nginx.conf -g 'daemon on;'\n`,
      { ns: NS.server },
    );
    t.is(ngx.status, 0, ngx.stderr);
    // The pod's command writes the response bodies: 350 B responses carry a body of 'x's.
    const body = sh(['ip', 'netns', 'exec', NS.client, 'curl', '-s', `http://${IP.server}/350`]);
    t.is(body.stdout, 'x'.repeat(responseFiles(spec.server.responseBytes)[0]!.bodyBytes), 'body of x');

    // The run script on the client, kubectl a stand-in that answers the server's address.
    const kubectl = `#!/bin/bash
case "$*" in
  *jsonpath*) echo ${IP.server} ;;
  apply*) cat > /dev/null ;;
  'version --client -o json') echo '{"clientVersion":{"gitVersion":"stand-in"}}' ;;
esac
exit 0
`;
    writeFileSync(join(client, 'usr', 'local', 'bin', 'kubectl'), kubectl, { mode: 0o755 });
    const run = inHost(client, runScript(spec, plan.points, { clientCpus: '0' }), { ns: NS.client });
    t.is(run.status, 0, run.stderr.slice(-3000));
    const tgz = /^netlab-run: (\/var\/lib\/netlab\/runs\/\d{8}T\d{6}Z\.tgz)$/m.exec(run.stdout)?.[1];
    t.truthy(tgz, run.stdout);
    const out = mkdtempSync(join(tmpdir(), 'netlab-reh-result-'));
    roots.push(out);
    execFileSync('tar', ['-xzf', join(client, tgz!), '-C', out]);
    const result = readRunDir(out, spec, { runId: 'rehearsal', startedAt: new Date(t0).toISOString(), finishedAt: new Date().toISOString() });
    t.is(result.status, 'ok', result.error);
    t.is(result.environment.os, 'Debian GNU/Linux 12 (bookworm)');
    t.deepEqual(
      result.points.map((p) => [p.id, p.status, p.requests]),
      plan.points.map((p) => [p.id, 'ok', 2000]),
    );
    t.true(existsSync(join(out, 'raw', 'iptables-nat.txt.gz')));
    t.log(
      `${result.points.length} points, e.g. ${result.points[0]!.id}: ${result.points[0]!.reqPerSec} req/s; whole rehearsal ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  },
);
