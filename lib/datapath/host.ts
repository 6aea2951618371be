// host: no pod network. The client and nginx run in the hosts' own namespaces, as hostNetwork pods
// do; the only path is the wire. The baseline every other datapath is compared with.
import { ipn } from '../core/netns.ts';
import type { DatapathBackend, LabHost } from './types.ts';

export const host: DatapathBackend = {
  name: 'host',
  summary: 'host network: client and server in the hosts themselves, over the wire only',
  features: ['netns', 'veth'],
  podsOnUnderlay: false,
  bypassesHostNetfilter: false,
  udpPorts: [],
  teardown: 'nothing beyond the hosts: the wire goes with their namespaces',
  build(b) {
    const [c, s] = b.hosts;
    return {
      endpoints: { client: { host: 'client', netns: c.netns, ip: c.underlayIp }, server: { host: 'server', netns: s.netns, ip: s.underlayIp } },
      pathMtu: b.mtu,
    };
  },
  serviceRoutes(b, r) {
    const [c, s]: readonly [LabHost, LabHost] = b.hosts;
    b.add('client', ipn(c.netns, 'route', 'add', r.backendCidr, 'via', s.underlayIp, 'dev', 'eth0'));
    if (r.vipNeedsRoute) b.add('client', ipn(c.netns, 'route', 'add', r.serviceCidr, 'via', s.underlayIp, 'dev', 'eth0'));
  },
};
