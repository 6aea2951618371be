// The real flannel (issue 16), pure parts: the comparison that holds the model to it, the spec's
// choice, the plan of a flannel run, its configuration files and its preflight.
import test from 'ava';
import { join } from 'node:path';
import { compareDatapaths, datapathDiffText, datapathsEqual, eui64, normalizeDatapath } from '../../../lib/datapath/flannel/compare.ts';
import { cniConfigs, FLANNEL_PROGRAMS, netConf } from '../../../lib/datapath/flannel/index.ts';
import type { DatapathState, NsState } from '../../../lib/datapath/state.ts';
import { FEATURES, type FeatureState, missing } from '../../../lib/local/features.ts';
import { buildPlan, renderPlan } from '../../../lib/local/plan.ts';
import { specFromStackDoc } from '../../../lib/spec/document.ts';
import { SpecError } from '../../../lib/spec/errors.ts';
import { assertGolden } from '../../helpers/golden.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import { tempDir } from '../../helpers/tmp.ts';

// --- the comparison ---------------------------------------------------------------------------

const vethPort = (name: string, mac: string, bridgeId: string, hairpin: boolean, extra: Record<string, unknown> = {}) => ({
  ifindex: 6,
  link_index: 2,
  ifname: name,
  flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
  mtu: 1450,
  master: 'cni0',
  operstate: 'UP',
  address: mac,
  link_netnsid: 2,
  linkinfo: {
    info_kind: 'veth',
    info_slave_kind: 'bridge',
    info_slave_data: { state: 'forwarding', hairpin, forward_delay_timer: 14.68, bridge_id: bridgeId },
  },
  addr_info: [{ family: 'inet6', local: eui64(mac), prefixlen: 64, scope: 'link', tentative: true }],
  ...extra,
});

/** One host as the model builds it (fixed MACs, veth0) or as the real plugins do (random MACs, veth<hash>, the control-plane link). */
function host(real: boolean, o: { hairpin?: boolean } = {}): NsState {
  const vtep = real ? 'c2:e9:f0:a0:5e:bb' : '0e:6e:6c:00:00:01';
  const peerVtep = real ? '72:b5:7c:49:62:f4' : '0e:6e:6c:00:00:02';
  const bridge = real ? '7a:2b:53:e7:22:6c' : '0e:6e:6c:00:01:01';
  const port = real ? 'aa:f4:60:fa:63:15' : '02:11:22:33:44:55';
  const links: Record<string, unknown>[] = [
    {
      ifindex: 1,
      ifname: 'lo',
      flags: ['LOOPBACK', 'UP'],
      mtu: 65536,
      address: '00:00:00:00:00:00',
      addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }],
    },
    {
      ifindex: real ? 4 : 3,
      ifname: 'flannel.1',
      mtu: 1450,
      address: vtep,
      linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: '10.77.0.1', link: 'eth0', port: 8472, learning: false } },
      addr_info: [{ family: 'inet', local: '10.244.0.0', prefixlen: 32, scope: 'global', label: 'flannel.1' }],
    },
    {
      ifindex: real ? 5 : 4,
      ifname: 'cni0',
      mtu: 1450,
      address: bridge,
      linkinfo: {
        info_kind: 'bridge',
        info_data: { stp_state: 0, bridge_id: `8000.${real ? bridge : 'e:6e:6c:0:1:1'}`, gc_timer: real ? 299.7 : 12.1 },
      },
      addr_info: [{ family: 'inet', local: '10.244.0.1', prefixlen: 24, broadcast: '10.244.0.255', scope: 'global', label: 'cni0' }],
    },
    vethPort(real ? 'vethbdb5def6' : 'veth0', port, `8000.${real ? bridge : 'e:6e:6c:0:1:1'}`, o.hairpin ?? true, { ifindex: real ? 6 : 5 }),
  ];
  if (real) links.push({ ifindex: 3, ifname: 'k8s0', mtu: 1500, address: 'f6:a7:75:38:bc:0f', linkinfo: { info_kind: 'veth' }, addr_info: [] });
  return {
    links,
    routes: [
      { type: 'unicast', dst: '10.244.1.0/24', gateway: '10.244.1.0', dev: 'flannel.1', table: 'main', protocol: 'boot', scope: 'global', flags: ['onlink'] },
      ...(real ? [{ type: 'unicast', dst: '10.79.0.0/24', dev: 'k8s0', table: 'main', protocol: 'kernel', scope: 'link', flags: [] }] : []),
      ...(real ? [{ type: 'local', dst: eui64(port), dev: 'vethbdb5def6', table: 'local', protocol: 'kernel' }] : []),
    ],
    neighbours: [
      { dst: '10.244.1.0', dev: 'flannel.1', lladdr: peerVtep, state: ['PERMANENT'] },
      ...(real ? [{ dst: '10.79.0.1', dev: 'k8s0', lladdr: '0a:08:31:76:aa:84', state: ['REACHABLE'] }] : []),
      ...(real ? [] : [{ dst: '10.244.0.2', dev: 'cni0', lladdr: '42:bf:7c:50:03:83', state: ['STALE'] }]),
    ],
    fdb: [
      { mac: peerVtep, ifname: 'flannel.1', dst: '10.77.0.2', flags: ['self'], state: 'permanent' },
      { mac: bridge, ifname: 'cni0', flags: [], master: 'cni0', state: 'permanent' },
      { mac: `33:33:ff:${port.slice(9)}`, ifname: real ? 'vethbdb5def6' : 'veth0', flags: ['self'], state: 'permanent' },
      { mac: real ? 'ea:73:66:61:1f:fb' : '42:bf:7c:50:03:83', ifname: real ? 'vethbdb5def6' : 'veth0', flags: [], master: 'cni0', state: '' },
    ],
  };
}

/** Both hosts: the server's flannel.1 holds the peer VTEP MAC the client's entries point at. */
function lab(real: boolean, o: { hairpin?: boolean } = {}): DatapathState {
  const client = host(real, o);
  const peerVtep = real ? '72:b5:7c:49:62:f4' : '0e:6e:6c:00:00:02';
  const server: NsState = {
    links: [{ ifindex: 4, ifname: 'flannel.1', mtu: 1450, address: peerVtep, linkinfo: { info_kind: 'vxlan' } }],
    routes: [],
    neighbours: [],
    fdb: [],
  };
  return { client, server };
}

test('normalised: MACs named by the link that owns them, the pod veth by its bridge port, timers, learned entries and the control-plane link dropped', (t) => {
  t.deepEqual(normalizeDatapath(lab(true)).client, [
    'addr cni0 10.244.0.1/24 broadcast=10.244.0.255 family=inet scope=global',
    'addr cni0-port0 fe80::<eui64 of client/cni0-port0>/64 family=inet6 scope=link',
    'addr flannel.1 10.244.0.0/32 family=inet scope=global',
    'addr lo 127.0.0.1/8 family=inet scope=host',
    'fdb 33:33:ff:<client/cni0-port0> flags=[self] ifname=cni0-port0 state=permanent',
    'fdb client/cni0 flags=[] ifname=cni0 master=cni0 state=permanent',
    'fdb server/flannel.1 dst=10.77.0.2 flags=[self] ifname=flannel.1 state=permanent',
    'link cni0 mac=client/cni0 mtu=1450 kind=bridge data={bridge_id=8000.client/cni0,stp_state=0}',
    'link cni0-port0 mac=client/cni0-port0 master=cni0 flags=[BROADCAST,MULTICAST,UP,LOWER_UP] mtu=1450 operstate=UP kind=veth slave=bridge {bridge_id=8000.client/cni0,hairpin=true,state=forwarding}',
    'link flannel.1 mac=client/flannel.1 mtu=1450 kind=vxlan data={id=1,learning=false,link=eth0,local=10.77.0.1,port=8472}',
    'link lo mac=00:00:00:00:00:00 flags=[LOOPBACK,UP] mtu=65536',
    'neigh 10.244.1.0 dev=flannel.1 lladdr=server/flannel.1 state=[PERMANENT]',
    'route 10.244.1.0/24 dev=flannel.1 flags=[onlink] gateway=10.244.1.0 protocol=boot scope=global table=main type=unicast',
  ]);
});

test('the model and the real flannel compare equal when they differ only in what is run-specific', (t) => {
  const d = compareDatapaths(lab(false), lab(true));
  t.true(datapathsEqual(d), datapathDiffText(d));
});

test('a real difference is shown per namespace, model lines with -, flannel lines with +', (t) => {
  const d = compareDatapaths(lab(false, { hairpin: false }), lab(true));
  t.false(datapathsEqual(d));
  t.is(
    datapathDiffText(d),
    [
      'client:',
      '- link cni0-port0 mac=client/cni0-port0 master=cni0 flags=[BROADCAST,MULTICAST,UP,LOWER_UP] mtu=1450 operstate=UP kind=veth slave=bridge {bridge_id=8000.client/cni0,hairpin=false,state=forwarding}',
      '+ link cni0-port0 mac=client/cni0-port0 master=cni0 flags=[BROADCAST,MULTICAST,UP,LOWER_UP] mtu=1450 operstate=UP kind=veth slave=bridge {bridge_id=8000.client/cni0,hairpin=true,state=forwarding}',
    ].join('\n'),
  );
});

test('a MAC that belongs to no link of the lab stays as it is; so does a link only one side has', (t) => {
  const model = lab(false);
  const real = lab(true);
  real.client!.neighbours.push({ dst: '10.244.1.9', dev: 'flannel.1', lladdr: '12:34:56:78:9a:bc', state: ['PERMANENT'] });
  real.client!.links.push({ ifindex: 9, ifname: 'extra0', mtu: 1500, address: '00:00:00:00:00:00', linkinfo: { info_kind: 'dummy' } });
  t.deepEqual(compareDatapaths(model, real), {
    onlyModel: {},
    onlyReal: {
      client: ['link extra0 mac=00:00:00:00:00:00 mtu=1500 kind=dummy', 'neigh 10.244.1.9 dev=flannel.1 lladdr=12:34:56:78:9a:bc state=[PERMANENT]'],
    },
  });
});

test('eui64: a MAC as the interface identifier of its IPv6 link-local address', (t) => {
  t.is(eui64('0e:6e:6c:00:01:01'), 'fe80::c6e:6cff:fe00:101');
  t.is(eui64('aa:f4:60:fa:63:15'), 'fe80::a8f4:60ff:fefa:6315');
});

// --- the spec ---------------------------------------------------------------------------------

const problems = (config: Record<string, unknown>) => {
  try {
    specFromStackDoc('x', { config });
  } catch (e) {
    if (e instanceof SpecError) return e.problems;
    throw e;
  }
  throw new Error('expected the spec to be refused');
};

test('datapathImplementation: model by default, flannel for hostgw and vxlan', (t) => {
  t.is(specFromStackDoc('x', { config: { 'netlab:datapath': 'vxlan' } }).datapathImplementation, 'model');
  for (const dp of ['hostgw', 'vxlan'])
    t.is(specFromStackDoc('x', { config: { 'netlab:datapath': dp, 'netlab:datapathImplementation': 'flannel' } }).datapathImplementation, 'flannel');
});

test('datapathImplementation: refused naming the key, the value and what is allowed', (t) => {
  t.deepEqual(problems({ 'netlab:datapath': 'vxlan', 'netlab:datapathImplementation': 'calico' }), [
    'netlab:datapathImplementation = "calico": expected one of: model, flannel',
  ]);
  t.deepEqual(problems({ 'netlab:datapath': 'macvlan', 'netlab:datapathImplementation': 'flannel' }), [
    'netlab:datapathImplementation = "flannel": the real flannel runs the datapaths hostgw and vxlan (its host-gw and vxlan backends); datapath macvlan exists only as model',
  ]);
  t.deepEqual(problems({ 'netlab:datapathImplementation': 'flannel' }), [
    'netlab:datapathImplementation = "flannel": the real flannel runs the datapaths hostgw and vxlan (its host-gw and vxlan backends); datapath host exists only as model',
  ]);
  t.deepEqual(
    problems({ 'netlab:target': 'aws', 'netlab:datapath': 'vxlan', 'netlab:datapathImplementation': 'flannel', 'netlab:aws': { sshCidr: '203.0.113.7/32' } }),
    [
      'netlab:datapathImplementation = "flannel": the real flannel as lab processes is for target local (on aws the cluster installs its own CNI); with target aws use model',
    ],
  );
});

// --- the plan ---------------------------------------------------------------------------------

const opts = {
  runDir: '/run/netlab/t',
  rawDir: '/tmp/results/t/run/raw',
  cgroupRoot: '/sys/fs/cgroup',
  k8sBin: (name: string) => `/opt/netlab/k8s/bin/${name}`,
};
const flannelSpec = (datapath: string, extra: Record<string, unknown> = {}) =>
  specFromStackDoc('t', {
    config: {
      'netlab:datapath': datapath,
      'netlab:datapathImplementation': 'flannel',
      'netlab:workload': { tool: 'wrk', durationSeconds: 5, connections: [1], threads: 1 },
      ...extra,
    },
  });

// Whole-plan golden file, reviewed by hand. UPDATE_GOLDEN=1 npx ava test/unit/datapath/flannel.test.ts rewrites it.
test('exact plan for vxlan by the real flannel', (t) => {
  assertGolden(t, join(FIXTURES, 'plan', 'flannel-vxlan.txt'), renderPlan(buildPlan(flannelSpec('vxlan'), opts)));
});

test('the flannel plan: its cgroups, the control plane in the set-up before flanneld and the pods, teardown through cnitool', (t) => {
  const p = buildPlan(flannelSpec('hostgw'), opts);
  t.deepEqual(p.cgroups, [
    '/sys/fs/cgroup/netlab.t',
    '/sys/fs/cgroup/netlab.t/client',
    '/sys/fs/cgroup/netlab.t/server',
    '/sys/fs/cgroup/netlab.t/cp',
    '/sys/fs/cgroup/netlab.t/flanneld',
  ]);
  t.deepEqual(p.namespaces, ['netlab.t.client', 'netlab.t.server', 'netlab.t.client.pod0', 'netlab.t.server.pod0', 'netlab.t.cp']);
  const at = (pred: (argv: string[]) => boolean) => p.setup.findIndex((s) => 'argv' in s && pred(s.argv));
  const apiserver = at((a) => a.some((x) => x.endsWith('/kube-apiserver')));
  const flanneld = at((a) => a.includes('/opt/netlab/k8s/bin/flanneld'));
  const cnitool = at((a) => a.includes('/opt/netlab/k8s/bin/cnitool'));
  const mkdirCp = at((a) => a[0] === 'mkdir' && a[1] === '/sys/fs/cgroup/netlab.t/cp');
  t.true(mkdirCp >= 0 && mkdirCp < apiserver && apiserver < flanneld && flanneld < cnitool, `${mkdirCp} ${apiserver} ${flanneld} ${cnitool}`);
  // The steps that wait get the runner's longer bound.
  for (const s of p.setup.slice(apiserver)) if ('argv' in s) t.true((s.timeoutSeconds ?? 0) >= 120, s.argv.join(' ').slice(0, 80));
  t.deepEqual(
    p.flannel!.teardown.map((s) => [s.host, s.network, s.argv.slice(-3)]),
    [
      ['client', 'cbr0', ['del', 'cbr0', '/var/run/netns/netlab.t.client.pod0']],
      ['client', 'lo', ['del', 'lo', '/var/run/netns/netlab.t.client.pod0']],
      ['server', 'cbr0', ['del', 'cbr0', '/var/run/netns/netlab.t.server.pod0']],
      ['server', 'lo', ['del', 'lo', '/var/run/netns/netlab.t.server.pod0']],
    ],
  );
  t.is(p.pathMtu, 1500);
  t.is(buildPlan(flannelSpec('vxlan', { 'netlab:network': { underlayMtu: 9000 } }), opts).pathMtu, 8950);
});

test('with the real kube-proxy too, one control plane serves both, started once in the set-up', (t) => {
  const p = buildPlan(flannelSpec('hostgw', { 'netlab:proxy': { mode: 'iptables', implementation: 'kube-proxy', services: 1 } }), opts);
  t.is(p.proxy!.controlPlane, p.flannel!.controlPlane);
  t.false(p.proxy!.setup.steps.some((a) => a.some((x) => x.endsWith('/kube-apiserver'))));
  t.is(p.setup.filter((s) => 'argv' in s && s.argv.some((x) => x.endsWith('/kube-apiserver'))).length, 1);
  t.deepEqual(
    p.cgroups.map((g) => g.slice('/sys/fs/cgroup/netlab.t'.length)),
    ['', '/client', '/server', '/cp', '/kube-proxy', '/flanneld'],
  );
});

test("flanneld's network configuration and the CNI configuration, as written", (t) => {
  t.is(
    netConf('10.244.0.0/16', 'vxlan'),
    '{\n  "Network": "10.244.0.0/16",\n  "EnableNFTables": false,\n  "Backend": {\n    "Type": "vxlan",\n    "VNI": 1,\n    "Port": 8472\n  }\n}\n',
  );
  t.deepEqual(JSON.parse(netConf('10.244.0.0/16', 'hostgw')).Backend, { Type: 'host-gw' });
  t.deepEqual(
    cniConfigs('/run/netlab/t/flannel/client/subnet.env').map((c) => [c.name, JSON.parse(c.content)]),
    [
      [
        '10-flannel.conflist',
        {
          cniVersion: '0.4.0',
          name: 'cbr0',
          plugins: [
            { type: 'flannel', subnetFile: '/run/netlab/t/flannel/client/subnet.env', delegate: { hairpinMode: true, isDefaultGateway: true, ipMasq: false } },
          ],
        },
      ],
      ['99-loopback.conf', { cniVersion: '0.4.0', name: 'lo', type: 'loopback' }],
    ],
  );
});

// --- preflight --------------------------------------------------------------------------------

test('preflight names the missing flannel programs before anything changes', (t) => {
  const saved = process.env.NETLAB_TOOLS_CACHE;
  process.env.NETLAB_TOOLS_CACHE = tempDir('netlab-no-tools-');
  try {
    const ok: FeatureState = { ok: true, detail: 'works' };
    const features = Object.fromEntries(FEATURES.map((f) => [f, ok])) as Record<(typeof FEATURES)[number], FeatureState>;
    const tools = Object.fromEntries(['ip', 'bridge', 'nginx', 'curl', 'ping', 'wrk', 'openssl'].map((n) => [n, 'present']));
    const out = missing(flannelSpec('vxlan'), features, tools, '6.18');
    t.is(out.length, 1);
    t.true(
      out[0]!.startsWith(`datapathImplementation flannel: the real Kubernetes components are not installed (${FLANNEL_PROGRAMS.join(', ')} missing from `),
      out[0],
    );
    t.true(out[0]!.includes('run bash scripts/install-k8s.sh'), out[0]);
    t.deepEqual(missing(flannelSpec('vxlan', { 'netlab:datapathImplementation': 'model' }), features, tools, '6.18'), []);
  } finally {
    if (saved === undefined) delete process.env.NETLAB_TOOLS_CACHE;
    else process.env.NETLAB_TOOLS_CACHE = saved;
  }
});
