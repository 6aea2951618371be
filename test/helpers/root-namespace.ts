// What the lab must never change: the root namespace's links, routes and firewall. Integration
// tests snapshot it before a run and compare after.
import { execFileSync } from 'node:child_process';

export const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], { encoding: 'utf8' });

export const rootState = () => ({
  links: sh(`ip -o link show | awk -F': ' '{print $2}' | sort`),
  routes: sh('ip route show table all'),
  // Absolute paths: under npm, node_modules/.bin/nft (a JS file tracer) comes first on PATH.
  nft: sh('/usr/sbin/nft list ruleset'),
  iptablesLegacy: sh('/usr/sbin/iptables-legacy-save 2>/dev/null | grep -v "^#" || true'),
});
