// The Service fleet: Services named like real ones, each with a ClusterIP and its endpoints, and
// the hash-based chain names kube-proxy derives from them. Pure.
import { createHash } from 'node:crypto';
import { intToIp, parseCidr } from '../core/cidr.ts';

export interface Endpoint {
  ip: string;
  port: number;
}

export interface ServicePort {
  namespace: string;
  name: string;
  portName: string;
  protocol: 'tcp';
  clusterIP: string;
  port: number;
  endpoints: Endpoint[];
}

/** `ns/name:port`, kube-proxy's ServicePortName.String(). */
export const servicePortName = (s: ServicePort) => `${s.namespace}/${s.name}:${s.portName}`;

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (Go's base32.StdEncoding, without padding: only prefixes are used). */
export function base32(buf: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

const sha256b32 = (s: string) => base32(createHash('sha256').update(s).digest());

/** iptables mode: KUBE-SVC- + first 16 of base32(sha256(servicePortName + protocol)). */
export const svcChain = (s: ServicePort) => `KUBE-SVC-${sha256b32(servicePortName(s) + s.protocol).slice(0, 16)}`;

/** iptables mode: KUBE-SEP- + first 16 of base32(sha256(servicePortName + protocol + "ip:port")). */
export const sepChain = (s: ServicePort, e: Endpoint) => `KUBE-SEP-${sha256b32(servicePortName(s) + s.protocol + `${e.ip}:${e.port}`).slice(0, 16)}`;

/** nftables mode: HASH8-name, HASH8 = first 8 of base32(sha256(name)). */
const hashPrefixed = (name: string) => `${sha256b32(name).slice(0, 8)}-${name}`;
export const nftServiceChain = (s: ServicePort) => `service-${hashPrefixed(`${s.namespace}/${s.name}/${s.protocol}/${s.portName}`)}`;
export const nftEndpointChain = (s: ServicePort, e: Endpoint) =>
  `endpoint-${hashPrefixed(`${s.namespace}/${s.name}/${s.protocol}/${s.portName}__${e.ip}/${e.port}`)}`;

export interface FleetOptions {
  count: number;
  backendsPerService: number;
  serviceCidr: string;
  /** Backend addresses are taken in order from this CIDR, skipping its network address. */
  backendCidr: string;
  namespace?: string;
  port?: number;
  targetPort?: number;
}

/**
 * `count` Services `netlab/svc-<i>` (port `http` 80), ClusterIPs from the start of the Service
 * CIDR (skipping .0 and .1, which clusters give the API server), each with `backendsPerService`
 * distinct backend addresses.
 */
export function buildFleet(o: FleetOptions): ServicePort[] {
  const svc = parseCidr(o.serviceCidr);
  const be = parseCidr(o.backendCidr);
  const svcRoom = 2 ** (32 - svc.prefix) - 3;
  const beRoom = 2 ** (32 - be.prefix) - 2;
  if (o.count > svcRoom) throw new Error(`${o.count} Services do not fit in ${o.serviceCidr} (${svcRoom} addresses)`);
  if (o.count * o.backendsPerService > beRoom)
    throw new Error(`${o.count * o.backendsPerService} backends do not fit in ${o.backendCidr} (${beRoom} addresses)`);
  const out: ServicePort[] = [];
  for (let i = 0; i < o.count; i++) {
    const endpoints: Endpoint[] = [];
    for (let j = 0; j < o.backendsPerService; j++) endpoints.push({ ip: intToIp(be.base + 1 + i * o.backendsPerService + j), port: o.targetPort ?? 80 });
    out.push({
      namespace: o.namespace ?? 'netlab',
      name: `svc-${i + 1}`,
      portName: 'http',
      protocol: 'tcp',
      clusterIP: intToIp(svc.base + 2 + i),
      port: o.port ?? 80,
      endpoints,
    });
  }
  return out;
}
