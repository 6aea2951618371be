// spec → plan: every command `netlab up` runs, per host, in order, plus the files it writes and
// the measurement points. Pure: no I/O, so `netlab plan` prints exactly what `up` executes.
import { intToIp, parseCidr, type Datapath, type Spec } from './spec.ts';
import { nginxConf, responseFiles, WRK_REPORT_LUA } from './nginx.ts';

export const PREFIX = 'netlab';

/** Teardown waits this long after SIGTERM before SIGKILL: nginx alone takes over a second to
 * finish a TERM shutdown, and nothing of a finished run needs it. */
export const KILL_GRACE_MS = 300;

/** Every network namespace of a stack is named `netlab.<stack>.<role>[.<pod>]`. */
export const nsPrefix = (stack: string) => `${PREFIX}.${stack}.`;

/** A command run as is (no shell), or the teardown action "stop every process in a namespace". */
export type Step =
  | { host: string; argv: string[] }
  | { host: string; killNetns: string };

export interface PlanFile {
  path: string;
  /** Text content, or `fill` bytes of "x" (response bodies). */
  content?: string;
  fill?: number;
}

export interface Endpoint {
  host: string;
  netns: string;
  ip: string;
}

export interface Point {
  id: string;
  tool: 'ab' | 'wrk';
  repetition: number;
  params: {
    responseBytes: number;
    keepalive: boolean;
    concurrency?: number;
    requests?: number;
    connections?: number;
    threads?: number;
    durationSeconds?: number;
  };
  /** Unrecorded warm-up load run just before the point, if any. */
  warmup?: string[];
  argv: string[];
  /** Where the tool writes extra raw output (ab's percentile CSV), relative to the raw dir. */
  extraRaw?: string;
  /** Upper bound on the tool's run time; the runner kills it after this. */
  timeoutSeconds: number;
}

export interface Plan {
  stack: string;
  datapath: Datapath;
  runDir: string;
  rawDir: string;
  /** Namespaces in creation order. */
  namespaces: string[];
  setup: Step[];
  files: PlanFile[];
  start: Step[];
  teardown: Step[];
  client: Endpoint;
  server: Endpoint & { port: number; urls: { responseBytes: number; url: string }[] };
  /** MTU of the path between the client and the server endpoint. */
  pathMtu: number;
  points: Point[];
}

export interface PlanOptions {
  /** Where the run keeps its files (nginx config, response bodies); `/run/netlab/<stack>`. */
  runDir: string;
  /** Where raw tool output goes; `results/<stack>/<run-id>/raw`. */
  rawDir: string;
}

const ipn = (ns: string, ...args: string[]) => ['ip', '-n', ns, ...args];
const inNs = (ns: string, ...argv: string[]) => ['ip', 'netns', 'exec', ns, ...argv];

interface HostAddr {
  role: 'client' | 'server';
  netns: string;
  underlayIp: string;
  podSubnetBase: number; // network address of this host's /24
  vtepMac: string;
}

export const VXLAN_OVERHEAD = 50;

export function buildPlan(spec: Spec, opts: PlanOptions): Plan {
  const prefix = nsPrefix(spec.name);
  const under = parseCidr(spec.network.underlayCidr);
  const pods = parseCidr(spec.network.podCidr);
  const mtu = spec.network.underlayMtu;
  const hosts: HostAddr[] = (['client', 'server'] as const).map((role, i) => ({
    role,
    netns: `${prefix}${role}`,
    underlayIp: intToIp(under.base + i + 1),
    podSubnetBase: pods.base + i * 256,
    vtepMac: `0e:6e:6c:00:00:0${i + 1}`,
  }));
  const underPrefix = under.prefix;

  const namespaces: string[] = [];
  const setup: Step[] = [];
  const add = (host: string, argv: string[]) => setup.push({ host, argv });

  // Hosts and the wire between them. The veth pair is created directly between the two host
  // namespaces (`peer … netns`), so no link ever exists in the root namespace.
  for (const h of hosts) {
    namespaces.push(h.netns);
    add(h.role, ['ip', 'netns', 'add', h.netns]);
    add(h.role, ipn(h.netns, 'link', 'set', 'lo', 'up'));
  }
  const [c, s] = hosts as [HostAddr, HostAddr];
  add('client', ipn(c.netns, 'link', 'add', 'eth0', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(mtu), 'netns', s.netns));
  for (const h of hosts) {
    add(h.role, ipn(h.netns, 'addr', 'add', `${h.underlayIp}/${underPrefix}`, 'dev', 'eth0'));
    add(h.role, ipn(h.netns, 'link', 'set', 'eth0', 'up'));
  }

  // Endpoints: where the load runs (client) and where nginx listens (server).
  const endpoint: Record<'client' | 'server', Endpoint> = {
    client: { host: 'client', netns: c.netns, ip: c.underlayIp },
    server: { host: 'server', netns: s.netns, ip: s.underlayIp },
  };
  let pathMtu = mtu;

  const dp = spec.datapath;
  if (dp === 'hostgw' || dp === 'vxlan') {
    const podMtu = dp === 'vxlan' ? mtu - VXLAN_OVERHEAD : mtu;
    pathMtu = podMtu;
    for (const h of hosts) {
      const gw = intToIp(h.podSubnetBase + 1);
      add(h.role, inNs(h.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'));
      add(h.role, ipn(h.netns, 'link', 'add', 'cni0', 'mtu', String(podMtu), 'type', 'bridge'));
      add(h.role, ipn(h.netns, 'addr', 'add', `${gw}/24`, 'dev', 'cni0'));
      add(h.role, ipn(h.netns, 'link', 'set', 'cni0', 'up'));
      const pod = `${h.netns}.pod0`;
      const podIp = intToIp(h.podSubnetBase + 2);
      namespaces.push(pod);
      add(h.role, ['ip', 'netns', 'add', pod]);
      add(h.role, ipn(pod, 'link', 'set', 'lo', 'up'));
      add(h.role, ipn(h.netns, 'link', 'add', 'veth0', 'mtu', String(podMtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(podMtu), 'netns', pod));
      add(h.role, ipn(h.netns, 'link', 'set', 'veth0', 'master', 'cni0'));
      add(h.role, ipn(h.netns, 'link', 'set', 'veth0', 'up'));
      add(h.role, ipn(pod, 'addr', 'add', `${podIp}/24`, 'dev', 'eth0'));
      add(h.role, ipn(pod, 'link', 'set', 'eth0', 'up'));
      add(h.role, ipn(pod, 'route', 'add', 'default', 'via', gw));
      endpoint[h.role] = { host: h.role, netns: pod, ip: podIp };
    }
    for (const h of hosts) {
      const peer = h === c ? s : c;
      const peerSubnet = `${intToIp(peer.podSubnetBase)}/24`;
      if (dp === 'hostgw') {
        // flannel host-gw: the peer's pod subnet via the peer's underlay address.
        add(h.role, ipn(h.netns, 'route', 'add', peerSubnet, 'via', peer.underlayIp, 'dev', 'eth0'));
      } else {
        // flannel vxlan: flannel.1 (VNI 1, UDP 8472, no learning) holding <subnet>.0/32; per peer a
        // permanent neighbour for the peer's VTEP address, an fdb entry to the peer's underlay
        // address and an onlink route to the peer's pod subnet via its VTEP address.
        const vtepIp = intToIp(h.podSubnetBase);
        const peerVtep = intToIp(peer.podSubnetBase);
        add(h.role, ipn(h.netns, 'link', 'add', 'flannel.1', 'address', h.vtepMac, 'mtu', String(podMtu), 'type', 'vxlan', 'id', '1', 'local', h.underlayIp, 'dev', 'eth0', 'dstport', '8472', 'nolearning'));
        add(h.role, ipn(h.netns, 'addr', 'add', `${vtepIp}/32`, 'dev', 'flannel.1'));
        add(h.role, ipn(h.netns, 'link', 'set', 'flannel.1', 'up'));
        add(h.role, ipn(h.netns, 'neigh', 'add', peerVtep, 'lladdr', peer.vtepMac, 'dev', 'flannel.1', 'nud', 'permanent'));
        add(h.role, ['bridge', '-n', h.netns, 'fdb', 'append', peer.vtepMac, 'dev', 'flannel.1', 'dst', peer.underlayIp]);
        add(h.role, ipn(h.netns, 'route', 'add', peerSubnet, 'via', peerVtep, 'dev', 'flannel.1', 'onlink'));
      }
    }
  } else if (dp === 'macvlan' || dp === 'ipvlan') {
    // The pod's interface is a child of the host's underlay NIC, created straight into the pod
    // namespace; pods take addresses on the underlay (client pods .10, server pods .20).
    for (const [i, h] of hosts.entries()) {
      const pod = `${h.netns}.pod0`;
      const podIp = intToIp(under.base + 10 * (i + 1));
      namespaces.push(pod);
      add(h.role, ['ip', 'netns', 'add', pod]);
      add(h.role, ipn(pod, 'link', 'set', 'lo', 'up'));
      const type = dp === 'macvlan' ? ['type', 'macvlan', 'mode', 'bridge'] : ['type', 'ipvlan', 'mode', 'l2'];
      add(h.role, ipn(h.netns, 'link', 'add', 'link', 'eth0', 'name', 'eth0', 'netns', pod, ...type));
      add(h.role, ipn(pod, 'addr', 'add', `${podIp}/${underPrefix}`, 'dev', 'eth0'));
      add(h.role, ipn(pod, 'link', 'set', 'eth0', 'up'));
      endpoint[h.role] = { host: h.role, netns: pod, ip: podIp };
    }
  }

  // Server: nginx in the server endpoint's namespace, one static file per response size.
  const port = 80;
  const srv = endpoint.server;
  const nginxDir = `${opts.runDir}/nginx`;
  const wwwDir = `${opts.runDir}/www`;
  const bodies = responseFiles(spec.server.responseBytes);
  const files: PlanFile[] = [
    { path: `${nginxDir}/nginx.conf`, content: nginxConf({ spec, listen: `${srv.ip}:${port}`, dir: nginxDir, wwwDir }) },
    ...bodies.map((b) => ({ path: `${wwwDir}/${b.responseBytes}`, fill: b.bodyBytes })),
  ];
  if (spec.workload.tool === 'wrk') files.push({ path: `${opts.runDir}/wrk-report.lua`, content: WRK_REPORT_LUA });
  const start: Step[] = [
    { host: 'server', argv: inNs(srv.netns, 'nginx', '-p', nginxDir, '-c', `${nginxDir}/nginx.conf`, '-e', `${nginxDir}/error.log`) },
  ];
  const urls = spec.server.responseBytes.map((n) => ({ responseBytes: n, url: `http://${srv.ip}:${port}/${n}` }));

  // Teardown: stop every process in each namespace, then delete it (innermost first). Deleting a
  // host namespace removes its links; veth pairs die with either end.
  const teardown: Step[] = [];
  for (const ns of [...namespaces].reverse()) {
    const host = ns.startsWith(s.netns) ? 'server' : 'client';
    teardown.push({ host, killNetns: ns });
    teardown.push({ host, argv: ['ip', 'netns', 'del', ns] });
  }

  return {
    stack: spec.name,
    datapath: dp,
    runDir: opts.runDir,
    rawDir: opts.rawDir,
    namespaces,
    setup,
    files,
    start,
    teardown,
    client: endpoint.client,
    server: { ...srv, port, urls },
    pathMtu,
    points: buildPoints(spec, endpoint.client, urls, opts),
  };
}

function buildPoints(spec: Spec, client: Endpoint, urls: Plan['server']['urls'], opts: PlanOptions): Point[] {
  const w = spec.workload;
  const points: Point[] = [];
  for (let rep = 1; rep <= spec.repetitions; rep++) {
    for (const { responseBytes, url } of urls) {
      for (const keepalive of w.keepalive) {
        if (w.tool === 'ab') {
          for (const concurrency of w.concurrency) {
            const id = `ab-b${responseBytes}-c${concurrency}-${keepalive ? 'ka' : 'noka'}-r${rep}`;
            const extraRaw = `${id}.csv`;
            const argv = inNs(client.netns, 'ab', '-q', '-r', '-n', String(w.requests), '-c', String(concurrency), '-s', String(w.timeoutSeconds));
            if (keepalive) argv.push('-k');
            argv.push('-e', `${opts.rawDir}/${extraRaw}`, url);
            points.push({
              id,
              tool: 'ab',
              repetition: rep,
              params: { responseBytes, keepalive, concurrency, requests: w.requests },
              argv,
              extraRaw,
              // Generous bound: every request may take the full timeout, spread over the clients.
              timeoutSeconds: Math.min(3600, 30 + Math.ceil((w.requests * w.timeoutSeconds) / concurrency / 100)),
            });
          }
        } else {
          for (const connections of w.connections) {
            const id = `wrk-b${responseBytes}-c${connections}-${keepalive ? 'ka' : 'noka'}-r${rep}`;
            const wrk = (secs: number, script: boolean) => {
              const a = inNs(client.netns, 'wrk', '--threads', String(w.threads), '--connections', String(connections), '--duration', `${secs}s`, '--timeout', `${w.timeoutSeconds}s`);
              if (script) a.push('--latency', '--script', `${opts.runDir}/wrk-report.lua`);
              if (!keepalive) a.push('--header', 'Connection: close');
              a.push(url);
              return a;
            };
            points.push({
              id,
              tool: 'wrk',
              repetition: rep,
              params: { responseBytes, keepalive, connections, threads: w.threads, durationSeconds: w.durationSeconds },
              ...(spec.warmupSeconds > 0 ? { warmup: wrk(spec.warmupSeconds, false) } : {}),
              argv: wrk(w.durationSeconds, true),
              timeoutSeconds: w.durationSeconds + w.timeoutSeconds + 15,
            });
          }
        }
      }
    }
  }
  return points;
}

// ---------------------------------------------------------------------------------------------
// Printing

/** Quote one argument for a POSIX shell, only where needed. */
export function shq(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function stepText(step: Step): string {
  return 'argv' in step ? step.argv.map(shq).join(' ') : `ip netns pids ${shq(step.killNetns)} | xargs -r kill  # then kill -9 what is left after ${KILL_GRACE_MS / 1000} s`;
}

/** The plan as text: per host, the exact commands in order, then files, load and teardown. */
export function renderPlan(plan: Plan): string {
  const out: string[] = [];
  out.push(`# netlab plan for stack ${plan.stack} (datapath ${plan.datapath})`);
  out.push(`# client endpoint ${plan.client.ip} in ${plan.client.netns}; server endpoint ${plan.server.ip}:${plan.server.port} in ${plan.server.netns}; path MTU ${plan.pathMtu}`);
  for (const host of ['client', 'server']) {
    out.push('', `## host ${host}: set-up`);
    if (host === 'server') out.push(`# (runs after the client's first commands: its eth0 is the far end of the wire the client creates)`);
    for (const st of plan.setup.filter((x) => x.host === host)) out.push(stepText(st));
  }
  out.push('', '## files');
  for (const f of plan.files) {
    if (f.fill !== undefined) out.push(`# ${f.path}: ${f.fill} bytes of "x"`);
    else out.push(`# ${f.path}:`, ...f.content!.trimEnd().split('\n').map((l) => `#   ${l}`));
  }
  out.push('', '## host server: start');
  for (const st of plan.start) out.push(stepText(st));
  out.push('', `## host client: load (${plan.points.length} measured points)`);
  for (const p of plan.points) {
    if (p.warmup) out.push(`${p.warmup.map(shq).join(' ')}  # warm-up, not recorded`);
    out.push(`${p.argv.map(shq).join(' ')} > ${shq(`${plan.rawDir}/${p.id}.txt`)}`);
  }
  out.push('', '## teardown (also what `netlab down` does)');
  for (const st of plan.teardown) out.push(stepText(st));
  return out.join('\n') + '\n';
}
