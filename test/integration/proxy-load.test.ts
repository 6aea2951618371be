// The programming-time bench on a small fleet: every mode loads, the kernel holds exactly the
// generated rules, and the scratch namespace is gone afterwards. Needs root.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { buildFleet } from '../../lib/proxy/fleet.ts';
import { iptablesRuleset } from '../../lib/proxy/iptables/ruleset.ts';
import { LOAD_MODES, timeProxyLoad } from '../../lib/local/proxy-load.ts';
import { nftablesRuleset } from '../../lib/proxy/nftables/ruleset.ts';
import { listNamespaces, removeOrphanScratch } from '../../lib/local/state.ts';

const root = process.getuid?.() === 0;
const fleet = buildFleet({ count: 5, backendsPerService: 3, serviceCidr: '10.96.0.0/12', backendCidr: '10.128.0.0/12' });

for (const mode of LOAD_MODES) {
  (root ? test.serial : test.skip)(`${mode}: loads 5 Services × 3 backends exactly, leaves no namespace${root ? '' : ' — skipped: needs root'}`, async (t) => {
    const r = await timeProxyLoad({ mode, services: 5, backendsPerService: 3, timeoutSeconds: 60, batchSize: 2 });
    t.is(r.status, 'ok', r.error);
    const want =
      mode === 'nftables'
        ? nftablesRuleset(fleet, { clusterCidr: '10.244.0.0/16' }).rules
        : iptablesRuleset(fleet, { clusterCidr: '10.244.0.0/16', layout: mode.endsWith('2019') ? '2019' : 'current' }).natRules;
    t.is(r.rulesLoaded, want);
    t.deepEqual(await listNamespaces('netlab._load.'), []);
  });
}

(root ? test.serial : test.skip)('orphaned scratch namespaces (their process is gone) are removed; live ones are kept', async (t) => {
  const dead = 'netlab._load.999999999';
  const live = `netlab._load.${process.pid}`;
  execFileSync('ip', ['netns', 'add', dead]);
  execFileSync('ip', ['netns', 'add', live]);
  try {
    t.deepEqual(await removeOrphanScratch(), [dead]);
    t.deepEqual(await listNamespaces('netlab._load.'), [live]);
  } finally {
    execFileSync('ip', ['netns', 'del', live]);
    if ((await listNamespaces(dead)).length) execFileSync('ip', ['netns', 'del', dead]);
  }
});
