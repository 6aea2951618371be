import test from 'ava';
import { join } from 'node:path';
import { assertGolden } from '../../helpers/golden.ts';
import { buildPlan, renderPlan, type Plan } from '../../../lib/local/plan.ts';
import { DATAPATHS } from '../../../lib/spec/schema.ts';
import { loadStack } from '../../../lib/spec/stackfile.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import { specFromStackDoc } from '../../../lib/spec/document.ts';

const GOLDEN = join(FIXTURES, 'plan');
const opts = { runDir: '/run/netlab/t', rawDir: '/tmp/results/t/run/raw' };

function planFor(datapath: string, extra: Record<string, unknown> = {}): Plan {
  return buildPlan(
    specFromStackDoc('t', {
      config: {
        'netlab:datapath': datapath,
        'netlab:server': { responseBytes: [350, 4096], workers: 2, keepaliveRequests: 100 },
        'netlab:workload': { tool: 'wrk', durationSeconds: 5, connections: [1, 16], threads: 1, keepalive: [true, false] },
        ...extra,
      },
    }),
    opts,
  );
}

// Whole-plan golden files, reviewed by hand (as kube-proxy's tests compare whole rulesets).
// Regenerate after an intended change with: UPDATE_GOLDEN=1 npx ava test/plan.test.ts
for (const dp of DATAPATHS) {
  test(`exact plan for the ${dp} datapath`, (t) => {
    const text = renderPlan(planFor(dp));
    assertGolden(t, join(GOLDEN, `${dp}.txt`), text);
  });
}

test('ab plan: points, flags and raw CSV paths', (t) => {
  const p = planFor('host', { 'netlab:workload': { tool: 'ab', requests: 1000, concurrency: [1, 4], keepalive: [false, true] }, 'netlab:repetitions': 2 });
  t.is(p.points.length, 2 * 2 * 2 * 2); // sizes × keepalive × concurrency × repetitions
  const pt = p.points.find((x) => x.id === 'ab-b4096-c4-ka-r2')!;
  t.deepEqual(pt.argv.slice(0, 4), ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', '/sys/fs/cgroup/netlab.t/client']);
  t.deepEqual(pt.argv.slice(4), [
    'ip',
    'netns',
    'exec',
    'netlab.t.client',
    'ab',
    '-q',
    '-r',
    '-n',
    '1000',
    '-c',
    '4',
    '-s',
    '10',
    '-k',
    '-e',
    '/tmp/results/t/run/raw/ab-b4096-c4-ka-r2.csv',
    'http://10.77.0.2:80/4096',
  ]);
  t.is(pt.warmup, undefined);
  t.false(p.points.find((x) => x.id === 'ab-b350-c1-noka-r1')!.argv.includes('-k'));
});

test('vxlan pods get the underlay MTU minus 50; the path MTU follows', (t) => {
  const p = planFor('vxlan', { 'netlab:network': { underlayMtu: 9000 } });
  t.is(p.pathMtu, 8950);
  const mtus = p.setup.flatMap((s) => ('argv' in s && s.argv.includes('mtu') ? [s.argv[s.argv.indexOf('mtu') + 1]] : []));
  t.deepEqual([...new Set(mtus)].sort(), ['8950', '9000']);
});

test('custom CIDRs move every address', (t) => {
  const p = planFor('hostgw', { 'netlab:network': { underlayCidr: '192.168.50.0/24', podCidr: '172.20.0.0/16' } });
  t.is(p.client.ip, '172.20.0.2');
  t.is(p.server.ip, '172.20.1.2');
  t.true(p.setup.some((s) => 'argv' in s && s.argv.join(' ') === 'ip -n netlab.t.client route add 172.20.1.0/24 via 192.168.50.2 dev eth0'));
});

// Safety: no command may act on the root namespace. Every ip/bridge command names a lab
// namespace with -n, or is `ip netns add|del|exec <lab namespace>`.
for (const dp of DATAPATHS) {
  test(`${dp}: every command targets a lab namespace, never the root one`, (t) => {
    const p = planFor(dp);
    const steps = [
      ...p.setup,
      ...p.start,
      ...p.teardown,
      ...p.points.flatMap((x) => [{ host: 'client', argv: x.argv }, ...(x.warmup ? [{ host: 'client', argv: x.warmup }] : [])]),
    ];
    for (const s of steps) {
      if ('killNetns' in s) {
        t.true(s.killNetns.startsWith('netlab.t.'));
        continue;
      }
      if ('removeCgroup' in s) {
        t.is(s.removeCgroup, p.cgroups[0] ?? '');
        continue;
      }
      let a = s.argv;
      // Commands run inside the lab's own cgroups, and the only other effect is creating them.
      if (a[0] === 'mkdir') {
        t.true(p.cgroups.includes(a[1]!) && a[1]!.startsWith('/sys/fs/cgroup/netlab.t'), a.join(' '));
        continue;
      }
      if (a[0] === 'sh') {
        t.true([p.client.cgroup, p.server.cgroup].includes(a[3] ?? ''), a.join(' '));
        a = a.slice(4);
      }
      const ns = a[1] === '-n' ? a[2] : a[1] === 'netns' ? a[3] : undefined;
      t.true(['ip', 'bridge'].includes(a[0]!), a.join(' '));
      t.truthy(ns, a.join(' '));
      t.true(ns!.startsWith('netlab.t.'), a.join(' '));
      t.true(p.namespaces.includes(ns!), a.join(' '));
    }
    // Teardown removes exactly what set-up created, innermost first.
    const deleted = p.teardown.flatMap((s) => ('argv' in s ? [s.argv[3]!] : []));
    t.deepEqual([...deleted].sort(), [...p.namespaces].sort());
    t.deepEqual(deleted, [...p.namespaces].reverse());
  });
}

test('load targets only the server endpoint inside a lab namespace', (t) => {
  for (const dp of DATAPATHS) {
    const p = planFor(dp);
    for (const pt of p.points) t.true(pt.argv.at(-1)!.startsWith(`http://${p.server.ip}:80/`));
    t.true(p.namespaces.includes(p.server.netns) && p.namespaces.includes(p.client.netns));
  }
});

// Whole plans with a Service fleet, one per proxy mode (2 Services × 2 backends, so every rule is
// visible), plus the conn-reuse experiment. Reviewed by hand; regenerate as above.
const proxyOpts = {
  ...opts,
  cgroupRoot: '/sys/fs/cgroup',
  rpsClient: ['/opt/netlab/tools/netlab-rps'],
  includeDir: '/usr/include/x86_64-linux-gnu',
  k8sBin: (name: string) => `/opt/netlab/k8s/bin/${name}`,
  pulumiFleet: ['node', '--import', 'tsx', '/opt/netlab/lib/k8s/pulumi-fleet.ts'],
};
const proxyCases: [string, Record<string, unknown>][] = [
  ...(['none', 'iptables', 'nftables', 'ipvs', 'ebpf'] as const).map((mode): [string, Record<string, unknown>] => [
    `proxy-${mode}`,
    {
      'netlab:proxy': { mode, services: [1, 2], backendsPerService: 2, target: 'last' },
      'netlab:workload': { tool: 'rps', rate: 100, durationSeconds: 2, keepalive: [false, true], requestsPerConnection: 10 },
      // iptables also shows the busy-poll spinners (the floor's ab under them too) and the
      // alternating order of Service counts over two repetitions.
      ...(mode === 'iptables'
        ? {
            'netlab:workload': { tool: 'rps', rate: 100, durationSeconds: 2, keepalive: [false, true], requestsPerConnection: 10, busyPoll: true },
            'netlab:repetitions': 2,
          }
        : {}),
    },
  ]),
  [
    'proxy-iptables-2019-host',
    { 'netlab:proxy': { mode: 'iptables', services: 2, backendsPerService: 2, iptablesLayout: '2019' }, 'netlab:workload': { tool: 'ab', requests: 100 } },
  ],
  [
    // The real kube-proxy: the control plane's namespace, links, PKI, daemons and Nodes, kube-proxy
    // with the nft backend first on its PATH, and each count written through the API.
    'proxy-kube-proxy-iptables',
    {
      'netlab:proxy': { mode: 'iptables', implementation: 'kube-proxy', services: [1, 2], backendsPerService: 2, target: 'last' },
      'netlab:workload': { tool: 'rps', rate: 100, durationSeconds: 2, keepalive: [false] },
    },
  ],
  [
    'conn-reuse',
    {
      'netlab:proxy': { mode: 'ipvs', services: 1, backendsPerService: 2, ipvs: { connReuseMode: [0, 1] } },
      'netlab:workload': { tool: 'conn-reuse', rate: 100, durationSeconds: 20, drainAtSeconds: 5, removeAfterSeconds: 5 },
    },
  ],
];
for (const [name, config] of proxyCases) {
  test(`exact plan: ${name}`, (t) => {
    const datapath = name.endsWith('-host') ? 'host' : 'hostgw';
    const text = renderPlan(buildPlan(specFromStackDoc('t', { config: { 'netlab:datapath': datapath, ...config } }), proxyOpts));
    assertGolden(t, join(GOLDEN, `${name}.txt`), text);
  });
}

test('a large fleet is shortened in the plan unless --full', (t) => {
  const p = buildPlan(specFromStackDoc('t', { config: { 'netlab:proxy': { mode: 'iptables', services: 100 } } }), proxyOpts);
  const short = renderPlan(p);
  const full = renderPlan(p, { full: true });
  t.regex(short, /… \d+ more lines \(netlab plan --full prints them all\)/);
  t.false(full.includes('more lines'));
  t.true(full.split('\n').filter((l) => l.startsWith('#   -A KUBE-SEP-')).length === 100 * 10 * 2);
});

// Issue 19, item 14: `plan local-proxy-iptables --full` overflowed the stack (a 10,000-Service ruleset
// spread into push()), while nftables and ebpf printed.
test('the full plan of local-proxy-iptables prints every line of its rulesets', (t) => {
  const plan = buildPlan(loadStack('local-proxy-iptables'), opts);
  const text = renderPlan(plan, { full: true });
  const files = [...plan.proxy!.setup.files, ...plan.proxy!.counts.flatMap((n) => plan.proxy!.program(n).files)];
  const fileLines = files.reduce((sum, f) => sum + f.content.trimEnd().split('\n').length, 0);
  t.true(fileLines > 200_000, `${fileLines} ruleset lines`);
  t.false(text.includes('more lines (netlab plan --full prints them all)'));
  t.true(text.split('\n').length > fileLines);
  t.true(text.endsWith('ip netns del netlab.local-proxy-iptables.client\n'));
  // Cut to 60 lines per file without --full.
  t.true(renderPlan(plan).includes('more lines (netlab plan --full prints them all)'));
});

test('hosts on machines of their own (two VMs): each moves its NIC on the wire into its host namespace as eth0; the rest is the same plan', (t) => {
  const spec = specFromStackDoc('t', { config: { 'netlab:datapath': 'ipvlan', 'netlab:network': { underlayMtu: 1450 } } });
  const one = buildPlan(spec, opts);
  const two = buildPlan(spec, { ...opts, wire: { nic: 'wire' } });
  const text = (steps: Plan['setup']) => steps.map((s) => `${s.host}: ${'argv' in s ? s.argv.join(' ') : ''}`);
  t.deepEqual(text(two.setup.slice(0, 8)), [
    'client: ip netns add netlab.t.client',
    'client: ip -n netlab.t.client link set lo up',
    'server: ip netns add netlab.t.server',
    'server: ip -n netlab.t.server link set lo up',
    'client: ip link set wire netns netlab.t.client',
    'client: ip -n netlab.t.client link set wire name eth0 mtu 1450',
    'server: ip link set wire netns netlab.t.server',
    'server: ip -n netlab.t.server link set wire name eth0 mtu 1450',
  ]);
  t.is(text(one.setup)[4], 'client: ip -n netlab.t.client link add eth0 mtu 1450 type veth peer name eth0 mtu 1450 netns netlab.t.server');
  // The server's machine makes the stack's cgroup before its own; everything after the wire is the one machine's plan.
  const rest = (p: Plan, from: number) => text(p.setup.slice(from)).filter((l) => l !== 'server: mkdir /sys/fs/cgroup/netlab.t');
  t.deepEqual(rest(two, 8), rest(one, 5));
  t.true(text(two.setup).includes('server: mkdir /sys/fs/cgroup/netlab.t'));
  t.false(text(one.setup).includes('server: mkdir /sys/fs/cgroup/netlab.t'));
  t.deepEqual(two.teardown, one.teardown);
  t.regex(renderPlan(two), /# \(on a machine of its own: its NIC wire, on the wire to the client's, becomes eth0\)/);
});
