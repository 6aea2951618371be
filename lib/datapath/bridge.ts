// What flannel's host-gw and vxlan backends share on each host: the cni0 bridge holding the host's
// pod /24 gateway, and one pod namespace plugged into it by a veth pair (the bridge CNI plugin's
// layout). The backends differ only in how a host reaches the other host's pod /24.
import { intToIp } from '../core/cidr.ts';
import { inNs, ipn } from '../core/netns.ts';
import type { DatapathBuild, Endpoint, Role, ServiceRouting } from './types.ts';

/** Per host: forwarding on, cni0 with the /24's first address, a pod at the second. */
export function bridgePods(b: DatapathBuild, podMtu: number): Record<Role, Endpoint> {
  const endpoints = {} as Record<Role, Endpoint>;
  for (const h of b.hosts) {
    const gw = intToIp(h.podSubnetBase + 1);
    b.add(h.role, inNs(h.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'));
    b.add(h.role, ipn(h.netns, 'link', 'add', 'cni0', 'mtu', String(podMtu), 'type', 'bridge'));
    b.add(h.role, ipn(h.netns, 'addr', 'add', `${gw}/24`, 'dev', 'cni0'));
    b.add(h.role, ipn(h.netns, 'link', 'set', 'cni0', 'up'));
    const pod = `${h.netns}.pod0`;
    const podIp = intToIp(h.podSubnetBase + 2);
    b.namespace(pod);
    b.add(h.role, ['ip', 'netns', 'add', pod]);
    b.add(h.role, ipn(pod, 'link', 'set', 'lo', 'up'));
    b.add(h.role, ipn(h.netns, 'link', 'add', 'veth0', 'mtu', String(podMtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(podMtu), 'netns', pod));
    b.add(h.role, ipn(h.netns, 'link', 'set', 'veth0', 'master', 'cni0'));
    b.add(h.role, ipn(h.netns, 'link', 'set', 'veth0', 'up'));
    b.add(h.role, ipn(pod, 'addr', 'add', `${podIp}/24`, 'dev', 'eth0'));
    b.add(h.role, ipn(pod, 'link', 'set', 'eth0', 'up'));
    b.add(h.role, ipn(pod, 'route', 'add', 'default', 'via', gw));
    endpoints[h.role] = { host: h.role, netns: pod, ip: podIp };
  }
  return endpoints;
}

/** The server's host hands backend traffic to its pod over cni0. */
export function serverPodRoute(b: DatapathBuild, r: ServiceRouting): void {
  b.add('server', ipn(b.hosts[1].netns, 'route', 'add', r.backendCidr, 'via', r.endpoints.server.ip, 'dev', 'cni0'));
}

/** The other host of `h`. */
export const peerOf = (b: DatapathBuild, role: Role) => (role === 'client' ? b.hosts[1] : b.hosts[0]);

/** The other host's pod /24, as a CIDR. */
export const peerSubnet = (b: DatapathBuild, role: Role) => `${intToIp(peerOf(b, role).podSubnetBase)}/24`;
