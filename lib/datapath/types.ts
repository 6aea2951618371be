// The datapath interface: how a pod network joins the lab's two hosts. One file per datapath
// implements it (host.ts, hostgw.ts, …) and index.ts registers it; see lib/datapath/README.md for
// the theory of each, and README.md "Add a datapath" for how to add one.
import type { Cidr } from '../core/cidr.ts';
import type { Feature } from '../core/features.ts';

export type Role = 'client' | 'server';

/** Where one side of the measurement runs: a namespace and its address. */
export interface Endpoint {
  host: string;
  netns: string;
  ip: string;
}

/** One of the lab's two hosts (a network namespace), already joined to the other by the wire. */
export interface LabHost {
  role: Role;
  /** The host's namespace, `netlab.<stack>.<role>`. */
  netns: string;
  /** The host's address on the wire (`eth0`), from network.underlayCidr: .1 client, .2 server. */
  underlayIp: string;
  /** Network address of this host's pod /24 in network.podCidr (client first, server next). */
  podSubnetBase: number;
  /** A fixed, locally administered MAC for an overlay device of this host. */
  vtepMac: string;
  /** A fixed, locally administered MAC for this host's pod bridge (the bridge plugin sets the
   * bridge's MAC to a fixed one of its own, so it does not follow its ports). */
  bridgeMac: string;
}

/** What a datapath builds with: the hosts, the wire, and where its commands and namespaces go. */
export interface DatapathBuild {
  /** Client then server. */
  hosts: readonly [LabHost, LabHost];
  /** network.underlayCidr. */
  underlay: Cidr;
  /** network.podCidr: the cluster's pod network (each host holds a /24 of it). */
  pods: Cidr;
  /** MTU of the wire (network.underlayMtu). */
  mtu: number;
  /** Append one command to a host's set-up; commands run in the order added. */
  add(host: Role, argv: string[]): void;
  /** Record a namespace the datapath creates (a pod): the teardown removes it with the hosts. */
  namespace(name: string): void;
}

/** What a built datapath gives the rest of the plan. */
export interface DatapathResult {
  /** Where the load client runs and where nginx listens. */
  endpoints: Record<Role, Endpoint>;
  /** MTU of the path between the two endpoints (checked with ping at and one byte above it). */
  pathMtu: number;
}

/** How the Service fleet's backend addresses reach the server endpoint over this datapath. */
export interface ServiceRouting {
  endpoints: Record<Role, Endpoint>;
  /** proxy.backendCidr: every backend address, all local to the server endpoint. */
  backendCidr: string;
  /** proxy.serviceCidr: the Services' virtual IPs. */
  serviceCidr: string;
  /** The proxy mode rewrites the VIP in netfilter after the socket's route lookup, so a socket on
   * the client's host needs a route for the Service CIDR (nodes have a default route for it). */
  vipNeedsRoute: boolean;
}

export interface DatapathBackend {
  /** The spec's `datapath:` value. */
  readonly name: string;
  /** One line for listings and docs. */
  readonly summary: string;
  /** Kernel features the datapath's devices need (probed before anything is built). */
  readonly features: readonly Feature[];
  /** Pods take addresses on the underlay itself (the spec then needs a /27 or wider underlay). */
  readonly podsOnUnderlay: boolean;
  /** Pods send straight onto the wire, past the host namespace's netfilter, so host-side
   * kube-proxy rules never see their packets. */
  readonly bypassesHostNetfilter: boolean;
  /** UDP ports the datapath itself sends on the wire (an overlay's encapsulation). */
  readonly udpPorts: readonly number[];
  /** What the teardown removes and why nothing else is left (every device lives in a lab namespace). */
  readonly teardown: string;
  /** Add the per-host set-up: devices, addresses, pod namespaces and routes between the pods. */
  build(b: DatapathBuild): DatapathResult;
  /** Add the routes that carry Service backend traffic from the client to the server endpoint. */
  serviceRoutes(b: DatapathBuild, r: ServiceRouting): void;
}
