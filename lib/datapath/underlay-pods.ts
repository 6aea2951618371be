// What macvlan and ipvlan share: the pod's interface is a child of the host's wire NIC, created
// straight into the pod namespace (then named eth0 there), and pods take addresses on the underlay (client .10, server .20).
import { intToIp } from '../core/cidr.ts';
import { ipn } from '../core/netns.ts';
import type { DatapathBuild, Endpoint, Role, ServiceRouting } from './types.ts';

export function childPods(b: DatapathBuild, type: string[]): Record<Role, Endpoint> {
  const endpoints = {} as Record<Role, Endpoint>;
  for (const [i, h] of b.hosts.entries()) {
    const pod = `${h.netns}.pod0`;
    const podIp = intToIp(b.underlay.base + 10 * (i + 1));
    b.namespace(pod);
    b.add(h.role, ['ip', 'netns', 'add', pod]);
    b.add(h.role, ipn(pod, 'link', 'set', 'lo', 'up'));
    // Created as pod0 straight into the pod namespace, then renamed there: ipvlan checks the new
    // name against the parent's namespace too, where eth0 is the parent itself (EEXIST; found when
    // the lab first ran on a kernel with ipvlan, inside a netlab:vm guest). macvlan does not, but
    // takes the same two steps.
    b.add(h.role, ipn(h.netns, 'link', 'add', 'link', 'eth0', 'name', 'pod0', 'netns', pod, ...type));
    b.add(h.role, ipn(pod, 'link', 'set', 'pod0', 'name', 'eth0'));
    b.add(h.role, ipn(pod, 'addr', 'add', `${podIp}/${b.underlay.prefix}`, 'dev', 'eth0'));
    b.add(h.role, ipn(pod, 'link', 'set', 'eth0', 'up'));
    endpoints[h.role] = { host: h.role, netns: pod, ip: podIp };
  }
  return endpoints;
}

/** The client pod reaches backends through the server pod, its neighbour on the underlay. */
export function podToPodRoute(b: DatapathBuild, r: ServiceRouting): void {
  b.add('client', ipn(r.endpoints.client.netns, 'route', 'add', r.backendCidr, 'via', r.endpoints.server.ip, 'dev', 'eth0'));
}
