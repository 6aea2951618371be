// The registry of proxy modes: the spec's `proxy.mode` values are its keys. To add a mode, write a
// folder with an index.ts implementing ProxyProvider (provider.ts) and a README.md on its theory,
// and add it here.
import { ebpf } from './ebpf/index.ts';
import { iptables } from './iptables/index.ts';
import { ipvs } from './ipvs/index.ts';
import { nftables } from './nftables/index.ts';
import { none } from './none/index.ts';
import type { ProxyProvider } from './provider.ts';

export const PROXY_PROVIDERS = { none, iptables, nftables, ipvs, ebpf } as const satisfies Record<string, ProxyProvider>;

export type ProxyModeName = keyof typeof PROXY_PROVIDERS;

export const PROXY_MODE_NAMES = Object.keys(PROXY_PROVIDERS) as [ProxyModeName, ...ProxyModeName[]];

export function proxyProvider(name: string): ProxyProvider {
  const p = (PROXY_PROVIDERS as Record<string, ProxyProvider>)[name];
  if (!p) throw new Error(`no proxy mode ${JSON.stringify(name)}; there are: ${PROXY_MODE_NAMES.join(', ')}`);
  return p;
}
