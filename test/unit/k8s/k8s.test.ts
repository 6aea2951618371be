// The real components' pins, the API objects of the fleet, the control plane's plan and the
// counting of what kube-proxy wrote (issue 16). Root-free; the runs are in test/integration/kube-proxy.test.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { PROJECT_DIR } from '../../../lib/core/project.ts';
import { controlPlane, waitFor } from '../../../lib/k8s/controlplane.ts';
import { fleetObjects, nodeObject, nodeStatusPatch, pruneBeyond, sliceName } from '../../../lib/k8s/objects.ts';
import { k8sVersions } from '../../../lib/k8s/tools.ts';
import { buildFleet } from '../../../lib/proxy/fleet.ts';
import { sizeOf } from '../../../lib/proxy/kube-proxy/index.ts';
import { specFromStackDoc } from '../../../lib/spec/document.ts';
import { tempDir } from '../../helpers/tmp.ts';

const gomod = (family: string) => readFileSync(join(PROJECT_DIR, 'tools', 'k8s', family, 'go.mod'), 'utf8');

test('tools/k8s/versions.env matches the wrapper modules, and every staging module is replaced by its published version', (t) => {
  const v = k8sVersions();
  t.regex(gomod('k8s'), new RegExp(`^require k8s\\.io/kubernetes ${v.kubernetes.replace(/\./g, '\\.')}$`, 'm'));
  // v1.37.2 → every k8s.io/* staging module at v0.37.2.
  const staging = `v0.${v.kubernetes.slice(3)}`;
  const replaces = [...gomod('k8s').matchAll(/^\t(k8s\.io\/\S+) => (\S+) (\S+)$/gm)];
  t.true(replaces.length >= 30, `${replaces.length} replaces`);
  for (const [, from, to, version] of replaces) {
    t.is(to, from, `${from} is replaced by itself at a version`);
    t.is(version, staging, `${from} at ${version}`);
  }
  t.regex(gomod('etcd'), new RegExp(`go\\.etcd\\.io/etcd/server/v3 ${v.etcd}\\b`));
  t.regex(gomod('flanneld'), new RegExp(`github\\.com/flannel-io/flannel ${v.flannel}\\b`));
  t.regex(gomod('flannel-cni'), new RegExp(`github\\.com/containernetworking/plugins ${v.flannelCni}\\b`));
  t.regex(gomod('cnitool'), new RegExp(`github\\.com/containernetworking/cni ${v.cni}\\b`));
  t.regex(gomod('cni-plugins'), new RegExp(`github\\.com/containernetworking/plugins ${v.cniPlugins}\\b`));
});

test('the fleet as API objects: a namespace, then per Service a selectorless Service with the model ClusterIP and its EndpointSlice', (t) => {
  const fleet = buildFleet({ count: 2, backendsPerService: 2, serviceCidr: '10.96.0.0/12', backendCidr: '10.128.0.0/12' });
  const objs = fleetObjects(fleet);
  t.deepEqual(
    objs.map((o) => `${o.kind} ${(o.metadata as { name: string }).name}`),
    ['Namespace netlab', 'Service svc-1', 'EndpointSlice svc-1-netlab', 'Service svc-2', 'EndpointSlice svc-2-netlab'],
  );
  t.deepEqual(objs[3], {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'svc-2', namespace: 'netlab', labels: { 'netlab.io/fleet': 'true', 'netlab.io/index': '2' } },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.3', ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 80 }] },
  });
  t.deepEqual(objs[4], {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'svc-2-netlab',
      namespace: 'netlab',
      labels: {
        'netlab.io/fleet': 'true',
        'netlab.io/index': '2',
        'kubernetes.io/service-name': 'svc-2',
        'endpointslice.kubernetes.io/managed-by': 'netlab.io',
      },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
    endpoints: [
      { addresses: ['10.128.0.3'], conditions: { ready: true, serving: true, terminating: false } },
      { addresses: ['10.128.0.4'], conditions: { ready: true, serving: true, terminating: false } },
    ],
  });
  t.is(sliceName(fleet[0]!), 'svc-1-netlab');
  const n = { name: 'lab-client', internalIP: '10.77.0.1', podCIDR: '10.244.0.0/24' };
  t.deepEqual((nodeObject(n) as { spec: unknown }).spec, { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] });
  t.deepEqual((nodeStatusPatch(n) as { status: { addresses: unknown } }).status.addresses, [
    { type: 'InternalIP', address: '10.77.0.1' },
    { type: 'Hostname', address: 'lab-client' },
  ]);
});

test('the control plane: its own namespace linked to each host, no secret in any file of the plan, daemons in its cgroup', (t) => {
  const cp = controlPlane({
    ns: 'netlab.x.cp',
    dir: '/run/netlab/x/k8s',
    cgroup: '/sys/fs/cgroup/netlab.x/cp',
    serviceCidr: '10.96.0.0/12',
    nodes: [
      { name: 'x-client', netns: 'netlab.x.client', internalIP: '10.77.0.1', podCIDR: '10.244.0.0/24' },
      { name: 'x-server', netns: 'netlab.x.server', internalIP: '10.77.0.2', podCIDR: '10.244.1.0/24' },
    ],
    bin: (n) => `/k8s/${n}`,
  });
  t.is(cp.server(1), 'https://10.79.1.1:6443');
  t.is(cp.kubeconfig('kube-proxy', 0), '/run/netlab/x/k8s/kube-proxy-node0.kubeconfig');
  // Every command acts inside a lab namespace or the run folder: never on the root namespace.
  for (const a of cp.setup) {
    const s = a.join(' ');
    t.true(/netlab\.x\.(cp|client|server)\b|\/run\/netlab\/x\/k8s/.test(s), s);
    t.false(/^ip (link|addr|route) /.test(s), s);
  }
  // Tokens and keys are made at run time; the plan's files only point at them.
  for (const f of cp.files) {
    t.false(/token:|BEGIN|PRIVATE/.test(f.content), f.path);
    t.true(f.path.startsWith('/run/netlab/x/k8s/'), f.path);
  }
  t.regex(cp.files.find((f) => f.path.endsWith('kube-proxy-node0.kubeconfig'))!.content, /tokenFile: \/run\/netlab\/x\/k8s\/kube-proxy\.token/);
  const daemons = cp.setup.filter((a) => a.includes('/k8s/etcd') || a.includes('/k8s/kube-apiserver'));
  t.is(daemons.length, 2);
  for (const d of daemons) t.is(d[3], '/sys/fs/cgroup/netlab.x/cp');
  // The readiness wait is bounded: 60 s of wall time, no gate.
  const wait = cp.setup.find((a) => a[2]?.startsWith('what=$0'))!;
  t.deepEqual(wait.slice(-3), ['60', '', '2']);
});

test('waitFor: a bounded loop, in wall time, that names what it waited for', (t) => {
  const w = waitFor('x ready', 'true', 3, '/tmp/log');
  t.deepEqual(w.slice(3), ['x ready', '/tmp/log', 'true', '3', '', '2']);
  t.is(spawnSync(w[0]!, w.slice(1)).status, 0);
  // A probe that never holds: fails after its bound (1 s), naming what it waited for and the log.
  const dir = tempDir('netlab-wait-');
  writeFileSync(join(dir, 'log'), 'last words\n');
  const no = waitFor('y ready', 'false', 1, join(dir, 'log'));
  const t0 = Date.now();
  const r = spawnSync(no[0]!, no.slice(1), { encoding: 'utf8' });
  t.is(r.status, 1);
  t.true(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  t.regex(r.stderr, /netlab: y ready did not happen within 1 s; the last lines of .*log:\nlast words/);
});

test('waitFor with a gate runs the probe when the gate holds, and every few seconds regardless', (t) => {
  const dir = tempDir('netlab-wait-');
  const count = join(dir, 'n');
  // The probe counts its runs and never holds; the gate never holds: over ~2 s, the probe runs at
  // the start and once per second (everySeconds 1), not every 100 ms.
  const probe = `echo x >> ${count}; false`;
  const shut = waitFor('z', probe, 2, '/dev/null', { gate: 'false', everySeconds: 1 });
  spawnSync(shut[0]!, shut.slice(1));
  const n = readFileSync(count, 'utf8').split('\n').filter(Boolean).length;
  t.true(n >= 2 && n <= 4, `probe ran ${n} times`);
  // A gate that holds once the wait has started (it reads $NETLAB_WAIT_START) lets the probe run.
  const open = waitFor('z', 'true', 2, '/dev/null', { gate: '[ -n "$NETLAB_WAIT_START" ]', everySeconds: 100 });
  t.is(spawnSync(open[0]!, open.slice(1)).status, 0);
});

test("sizeOf counts what kube-proxy wrote in the model's units", (t) => {
  const save = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-SVC-A - [0:0]',
    '-A OUTPUT -j KUBE-SERVICES',
    '-A KUBE-SERVICES -d 10.96.0.2/32 -j KUBE-SVC-A',
    'COMMIT',
  ].join('\n');
  t.deepEqual(sizeOf('iptables', save), { rules: 2, chains: 2, mapElements: 0 });
  const nft = `table ip kube-proxy {
\tcomment "rules for kube-proxy"
\tmap service-ips {
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\tcomment "ClusterIP, ExternalIP and LoadBalancer IP traffic"
\t\telements = { 10.96.0.2 . tcp . 80 : goto service-A,
\t\t\t     10.96.0.3 . tcp . 80 : goto service-B }
\t}
\tchain services {
\t\tip daddr . meta l4proto . th dport vmap @service-ips
\t}
\tchain service-A {
\t\tip daddr 10.96.0.2 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
\t\tnumgen random mod 1 vmap { 0 : goto endpoint-A }
\t}
}`;
  t.deepEqual(sizeOf('nftables', nft), { rules: 3, chains: 2, mapElements: 2 });
  const ipvs =
    'IP Virtual Server version 1.2.1\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight\nTCP  10.96.0.2:80 rr\n  -> 10.128.0.1:80 Masq 1 0 0\n';
  t.deepEqual(sizeOf('ipvs', ipvs), { rules: 2, chains: 0, mapElements: 0 });
});

test('proxy.implementation: kube-proxy for iptables, nftables and ipvs in the current layout; refused otherwise with the reason', (t) => {
  const spec = (proxy: Record<string, unknown>) => () => specFromStackDoc('s', { config: { 'netlab:datapath': 'hostgw', 'netlab:proxy': proxy } });
  t.is(spec({ mode: 'nftables', implementation: 'kube-proxy' })().proxy!.implementation, 'kube-proxy');
  t.is(spec({ mode: 'nftables' })().proxy!.implementation, 'model');
  t.throws(spec({ mode: 'ebpf', implementation: 'kube-proxy' }), {
    message: /netlab:proxy\.implementation = "kube-proxy": the real kube-proxy has the modes iptables, nftables, ipvs/,
  });
  t.throws(spec({ mode: 'iptables', implementation: 'kube-proxy', iptablesLayout: '2019' }), {
    message: /netlab:proxy\.iptablesLayout = "2019": the real kube-proxy/,
  });
  t.throws(spec({ mode: 'iptables', implementation: 'real' }), { message: /netlab:proxy\.implementation = "real": expected one of: model, kube-proxy/ });
});

test('pruneBeyond: one list, then a DeleteCollection per type and per 400 positions above n (run against a stand-in kubectl)', (t) => {
  const dir = tempDir('netlab-prune-');
  const calls = join(dir, 'calls');
  // A stand-in kubectl: `get` lists positions 1…1000 in a scrambled order; `delete --raw` is recorded.
  const kubectl = join(dir, 'kubectl');
  writeFileSync(kubectl, `#!/bin/sh\nif [ "$1" = get ]; then seq 1 1000 | sort -r; else echo "$*" >> ${calls}; fi\n`, { mode: 0o755 });
  const run = (n: number) => spawnSync('sh', ['-c', pruneBeyond(['netlab']), String(n), kubectl], { encoding: 'utf8' });
  t.is(run(1000).status, 0);
  t.false(existsSync(calls), 'nothing above 1000: no delete');
  t.is(run(100).status, 0);
  const lines = readFileSync(calls, 'utf8').trim().split('\n');
  // 900 positions: 3 chunks (400, 400, 100), Services and their EndpointSlices each.
  t.is(lines.length, 6);
  t.regex(lines[0]!, /^delete --raw \/api\/v1\/namespaces\/netlab\/services\?labelSelector=netlab\.io%2Findex%20in%20\((\d+,){399}\d+\)$/);
  t.regex(lines[1]!, /^delete --raw \/apis\/discovery\.k8s\.io\/v1\/namespaces\/netlab\/endpointslices\?labelSelector=/);
  const deleted = lines.filter((l) => l.includes('/services?')).flatMap((l) => /\((.*)\)/.exec(l)![1]!.split(',').map(Number));
  t.deepEqual(
    deleted.sort((a, b) => a - b),
    Array.from({ length: 900 }, (_, i) => i + 101),
  );
});
