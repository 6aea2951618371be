// Which address a client calls for a Service count, and the fleet of a stack at one count. Pure.
import { buildFleet, type ServicePort } from './fleet.ts';
import type { ProxyOptions, ProxyProvider } from './provider.ts';

/** The stack's fleet at one Service count. */
export function fleetOf(o: ProxyOptions, services: number): ServicePort[] {
  return buildFleet({ count: services, backendsPerService: o.backendsPerService, serviceCidr: o.serviceCidr, backendCidr: o.backendCidr });
}

export type TargetKind = 'fixed' | 'last' | 'random';

/** The address a client calls for a Service count: a VIP (or, when the mode calls backends, a
 * backend address) and how many consecutive addresses from it the rps client may spread its
 * connections over. */
export function serviceTarget(mode: ProxyProvider, target: TargetKind, fleet: ServicePort[]): { ip: string; hosts: number; port: number } {
  const idx = target === 'fixed' ? 0 : fleet.length - 1;
  if (mode.callsBackends) {
    // Backends are consecutive addresses, Service after Service.
    if (target === 'random')
      return { ip: fleet[0]!.endpoints[0]!.ip, hosts: fleet.reduce((n, s) => n + s.endpoints.length, 0), port: fleet[0]!.endpoints[0]!.port };
    return { ip: fleet[idx]!.endpoints[0]!.ip, hosts: fleet[idx]!.endpoints.length, port: fleet[idx]!.endpoints[0]!.port };
  }
  if (target === 'random') return { ip: fleet[0]!.clusterIP, hosts: fleet.length, port: fleet[0]!.port };
  return { ip: fleet[idx]!.clusterIP, hosts: 1, port: fleet[idx]!.port };
}
