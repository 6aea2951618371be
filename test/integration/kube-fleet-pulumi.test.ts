// The Service fleet written through Pulumi (issue 16, `proxy.writer`): a lab run with the real
// kube-proxy at a small count (auto: a `pulumi up` of @pulumi/kubernetes resources), a count above
// the threshold (one server-side apply of the List plus a prune), then the small count again (the
// Pulumi stack prunes what the apply left and refreshes its state). Each programming is checked in
// the kernel, the writer is recorded with its own duration, nothing is left, and the API token is
// nowhere in the results, nor in plain text in the Pulumi state while it existed.
// Needs root, the built components (bash scripts/install-k8s.sh k8s etcd) and the Pulumi CLI with
// the kubernetes plugin (bash scripts/install-tools.sh); `npm test` installs both.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import test from 'ava';
import { runDirOf } from '../../lib/core/names.ts';
import { PULUMI_FLEET_MAX_SERVICES } from '../../lib/k8s/fleet-writer.ts';
import { k8sMissing } from '../../lib/k8s/tools.ts';
import { upLocal } from '../../lib/local/run.ts';
import { KUBE_PROXY_PROGRAMS } from '../../lib/proxy/kube-proxy/index.ts';
import { engineMissing, projectPulumiHome, toolPins } from '../../lib/pulumi/tools.ts';
import { RunResult } from '../../lib/results/result.ts';
import { specFromStackDoc } from '../../lib/spec/document.ts';
import { assertNothingLeft } from '../helpers/nothing-left.ts';
import { rootState, sh } from '../helpers/root-namespace.ts';

const root = process.getuid?.() === 0;
const gone = k8sMissing(KUBE_PROXY_PROGRAMS);
const plugin = join(projectPulumiHome(), 'plugins', `resource-kubernetes-v${toolPins().KUBERNETES_PROVIDER_VERSION}`, 'pulumi-resource-kubernetes');
const engine = engineMissing();
const why = !root
  ? 'needs root'
  : gone.length
    ? `not installed: ${gone.join(', ')} (bash scripts/install-k8s.sh k8s etcd)`
    : engine
      ? engine
      : !existsSync(plugin)
        ? `no kubernetes provider plugin at ${plugin} (bash scripts/install-tools.sh)`
        : '';
const tmp = mkdtempSync(join(tmpdir(), 'netlab-kfp-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every file under `dir`, gzipped ones unpacked, as text. */
function texts(dir: string): [string, string][] {
  const out: [string, string][] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...texts(p));
    else {
      const b = readFileSync(p);
      out.push([p, (p.endsWith('.gz') ? gunzipSync(b) : b).toString('latin1')]);
    }
  }
  return out;
}

const small = 3;
const large = PULUMI_FLEET_MAX_SERVICES + 1;
const title = `fleet writer auto: ${small} Services through Pulumi, ${large} by server-side apply, ${small} through Pulumi again; programmed, recorded, nothing left, the token nowhere`;
(why ? test.skip : test.serial)(why ? `${title} — skipped: ${why}` : title, async (t) => {
  t.timeout(10 * 60_000);
  const before = rootState();
  const stack = 'it-kfp';
  const run = runDirOf(stack);
  // Two repetitions in the alternating order: small, large | large, small.
  const s = specFromStackDoc(stack, {
    config: {
      'netlab:datapath': 'hostgw',
      'netlab:proxy': { mode: 'iptables', iptablesBackend: 'nft', implementation: 'kube-proxy', backendsPerService: 2, services: [small, large] },
      'netlab:workload': { tool: 'rps', rate: 100, durationSeconds: 1, floorSeconds: 1, keepalive: [false] },
      'netlab:warmupSeconds': 0,
      'netlab:repetitions': 2,
    },
  });
  t.is(s.proxy!.writer, 'auto');
  // While the run lasts: the API tokens (made at run time in the run folder) and the Pulumi state
  // as it is after each up, which may hold the token only encrypted.
  const tokens = new Set<string>();
  const states: string[] = [];
  let watching = true;
  const watch = (async () => {
    while (watching) {
      for (const u of ['admin', 'kube-proxy']) {
        const f = join(run, 'k8s', `${u}.token`);
        if (existsSync(f)) {
          const v = readFileSync(f, 'utf8').trim();
          if (v) tokens.add(v);
        }
      }
      const st = join(run, 'pulumi-fleet', 'backend', '.pulumi', 'stacks', 'netlab-fleet', 'fleet.json');
      if (existsSync(st)) {
        try {
          states.push(readFileSync(st, 'utf8'));
        } catch {
          /* removed with the run meanwhile */
        }
      }
      await sleep(250);
    }
  })();
  const t0 = Date.now();
  const { result, dir } = await upLocal(s, { resultsRoot: tmp });
  watching = false;
  await watch;
  t.log(`run: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  t.is(result.status, 'ok', result.error);
  t.true(RunResult.safeParse(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'))).success);
  const programs = result.proxy!.programs;
  for (const p of programs)
    t.log(
      `${p.services} Services: writer ${p.writer}, write ${p.writeSeconds} s, programming ${p.seconds} s${p.pulumi ? `, pulumi ${JSON.stringify(p.pulumi)}` : ''}`,
    );
  t.deepEqual(
    programs.map((p) => [p.services, p.writer, p.check.ok]),
    [
      [small, 'pulumi', true],
      [large, 'server-side-apply', true],
      [small, 'pulumi', true],
    ],
  );
  for (const p of programs) {
    t.true(p.writeSeconds! > 0 && p.writeSeconds! <= p.seconds, `write ${p.writeSeconds} s within programming ${p.seconds} s`);
    t.is(p.pulumi !== undefined, p.writer === 'pulumi');
  }
  // The first up creates the stack, the provider, the namespace and a Service and slice each.
  t.like(programs[0]!.pulumi, { refreshed: false, changes: { create: 3 + 2 * small } });
  // After the server-side apply: refreshed, and nothing for Pulumi to create or delete (the prune
  // removed the apply's extra Services; the state still names the first fleet).
  t.is(programs[2]!.pulumi!.refreshed, true);
  t.falsy(programs[2]!.pulumi!.changes.create);
  // The same fleet, the same rules: nothing of the large fleet is left in the kernel.
  t.is(programs[2]!.rules, programs[0]!.rules);
  t.true(programs[1]!.rules > programs[0]!.rules);
  for (const p of result.points) t.is(p.status, 'ok', `${p.id}: ${p.reason}`);

  t.true(tokens.size >= 1, 'the run made its API tokens');
  // (A state read before the first up holds no resource yet; once the provider is in it, its
  // kubeconfig is there as ciphertext.)
  const withProvider = states.filter((st) => st.includes('pulumi:providers:kubernetes'));
  t.true(withProvider.length > 0, 'the Pulumi state with the provider was seen during the run');
  for (const st of states) for (const tok of tokens) t.false(st.includes(tok), 'a token in plain text in the Pulumi state');
  for (const st of withProvider) t.true(st.includes('ciphertext'), 'the kubeconfig is a secret in the state');
  for (const [f, text] of texts(dir)) for (const tok of tokens) t.false(text.includes(tok), `the API token in ${f}`);
  await assertNothingLeft(t, stack);
  t.false(existsSync(join(run, 'pulumi-fleet')), 'the Pulumi backend left behind');
  t.is(sh("pgrep -af '[t]ools/k8s/|[p]ulumi-resource-kubernetes|[p]ulumi-fleet' || true").trim(), '', 'a process left running');
  t.deepEqual(rootState(), before, 'root namespace changed');
});
