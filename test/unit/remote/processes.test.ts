// ssh.cluster processes without hosts: validation (each refusal names the key), the shipped stack's
// plan and every script (golden, bash -n, shellcheck), the pieces the rehearsal cannot tell apart
// (pod ranges, the fleet as EndpointSlices), the preflight's refusal when the programs are not
// built here, and the Pulumi graph under setMocks (the key only in secret inputs, every changing
// step with its undo). The cluster itself runs for real in test/integration/ssh-rehearsal.test.ts.
import test from 'ava';
import * as pulumi from '@pulumi/pulumi';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSshPlan, renderSshScripts, sshPlan, sshScripts } from '../../../lib/remote/plan.ts';
import { sshPreflight } from '../../../lib/remote/preflight.ts';
import { podSubnets, pushScript } from '../../../lib/remote/processes.ts';
import type { SshSpec } from '../../../lib/spec/schema.ts';
import { loadStack, PROJECT_DIR } from '../../../lib/spec/stackfile.ts';
import { assertGolden } from '../../helpers/golden.ts';
import { mockRemoteFlow } from '../../helpers/remote-mocks.ts';
import { problemsOf, specOfConfig } from '../../helpers/spec.ts';
import { tempDir } from '../../helpers/tmp.ts';

const FIX = join(PROJECT_DIR, 'test', 'fixtures', 'remote');
const hosts = { server: { address: '10.0.0.10' }, client: { address: '10.0.0.11' } };
const base = { target: 'ssh', datapath: 'hostgw', ssh: { hosts, cluster: 'processes' }, proxy: { mode: 'iptables', services: [1, 10] } };
const problems = problemsOf;
const specOf = (config: Record<string, unknown>) => specOfConfig<SshSpec>(config);

test('validation: processes runs flannel, one pod and no Deployment; each refusal names the key', (t) => {
  t.deepEqual(problems(base), []);
  t.deepEqual(problems({ ...base, datapath: 'vxlan' }), []);
  t.deepEqual(problems({ ...base, datapath: 'host' }), [
    'netlab:datapath = "host": ssh.cluster processes runs flannel: datapath hostgw (host-gw backend) or vxlan',
  ]);
  t.deepEqual(problems({ ...base, ssh: { ...base.ssh, serverPods: 3 } }), [
    'netlab:ssh.serverPods = 3: ssh.cluster processes runs one nginx pod (no kubelet to run more): use 1',
  ]);
  t.deepEqual(problems({ ...base, proxy: { mode: 'ipvs', services: [10] }, workload: { tool: 'conn-reuse' } }), [
    'netlab:workload.tool = "conn-reuse": conn-reuse restarts the nginx Deployment, which ssh.cluster processes has not (no kubelet): use ssh.cluster kubeadm',
  ]);
  t.deepEqual(problems({ ...base, ssh: { ...base.ssh, hosts: { server: { address: 'node1.lab.example' }, client: hosts.client } } }), [
    "netlab:ssh.hosts.server.privateAddress = (missing): processes needs each host's IPv4 address between the hosts; server's address is the name node1.lab.example: set privateAddress",
  ]);
  t.deepEqual(problems({ ...base, proxy: { mode: 'ebpf', services: [1] } }).length, 1);
  // A host inside the Service or pod range: kube-proxy's nftables mode drops all of an unallocated
  // Service range (the rehearsal's first data network, 10.99.0.0/24, was inside 10.96.0.0/12).
  t.deepEqual(
    problems({
      ...base,
      ssh: { ...base.ssh, hosts: { server: { address: '192.0.2.10', privateAddress: '10.99.0.10' }, client: { address: '10.244.3.7' } } },
    }),
    [
      'netlab:ssh.hosts.server.privateAddress = "10.99.0.10": the server\'s address between the hosts is inside proxy.serviceCidr (10.96.0.0/12), which the cluster routes to pods or Services: pick another proxy.serviceCidr',
      'netlab:ssh.hosts.client.address = "10.244.3.7": the client\'s address between the hosts is inside network.podCidr (10.244.0.0/16), which the cluster routes to pods or Services: pick another network.podCidr',
    ],
  );
  t.deepEqual(
    problems({
      ...base,
      proxy: { mode: 'nftables', services: [1], serviceCidr: '10.112.0.0/12' },
      ssh: { ...base.ssh, hosts: { server: { address: '10.99.0.10' }, client: hosts.client } },
    }),
    [],
  );
});

test('the shipped processes stack: its plan and every script, exactly (golden); all pass bash -n and shellcheck', (t) => {
  const spec = loadStack('ssh-e1-processes') as SshSpec;
  assertGolden(t, join(FIX, 'ssh-e1-processes.plan.txt'), renderSshPlan(sshPlan(spec)) + renderSshScripts(spec));
  const dir = tempDir('netlab-processes-scripts-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files: string[] = [];
  const vxlanNoProxy = specOf({ ...base, datapath: 'vxlan', proxy: undefined, workload: { tool: 'ab' } });
  for (const [tag, s] of [
    ['iptables', spec],
    ['vxlan', vxlanNoProxy],
  ] as const)
    for (const [name, text] of Object.entries(sshScripts(s))) {
      const f = join(dir, `${tag}.${name}.sh`);
      writeFileSync(f, text);
      files.push(f);
      const syn = spawnSync(name === 'check' || name.startsWith('binaries') ? 'sh' : 'bash', ['-n', f], { encoding: 'utf8' });
      t.is(syn.status, 0, `${tag} ${name}: ${syn.stderr}`);
    }
  const sc = spawnSync('shellcheck', ['--severity=warning', ...files], { encoding: 'utf8' });
  t.is(sc.status, 0, sc.stdout);
  // Without a proxy there is no kube-proxy step, and flannel runs its vxlan backend.
  const v = sshScripts(vxlanNoProxy);
  t.false('kube-proxy' in v);
  t.regex(v['flannel-server']!, /"Type": "vxlan"/);
  t.regex(v['flannel-client.undo']!, /^ip route del 10\.244\.0\.0\/24 /m);
});

test('pod ranges: the server the first /24 of network.podCidr, the client the second', (t) => {
  t.deepEqual(podSubnets('10.244.0.0/16'), { server: '10.244.0.0/24', client: '10.244.1.0/24' });
  t.deepEqual(podSubnets('172.20.8.0/23'), { server: '172.20.8.0/24', client: '172.20.9.0/24' });
});

test('the run on a processes cluster: kubectl from netlab’s folder, each Service of the fleet selectorless with an EndpointSlice naming the pod', (t) => {
  const run = sshScripts(loadStack('ssh-e1-processes') as SshSpec).run!;
  t.regex(run.split('\n')[3]!, /^export PATH="\/var\/lib\/netlab\/bin:\$PATH" KUBECONFIG=\/var\/lib\/netlab\/cluster\/admin\.kubeconfig /);
  t.notRegex(run, /selector:/);
  t.regex(run, /kind: EndpointSlice\\n.*kubernetes\.io\/service-name: svc-%05d\\n.*addresses: \["%s"\].*' "\$i" "\$i" "\$\(pod_ip\)"/);
  // The kubeadm cluster's run is unchanged: Services select the Deployment's pods.
  const kubeadm = sshScripts(loadStack('ssh-e2-hostgw') as SshSpec).run!;
  t.regex(kubeadm, /selector:\\n {4}app: nginx/);
  t.notRegex(kubeadm, /EndpointSlice/);
});

test('binaries: one tar stream over SSH, the key only in a 0700 temporary folder, sudo for a login user that is not root', (t) => {
  const s = pushScript({ binDir: '/c/k8s/bin', programs: ['etcd', 'kubectl'], host: '10.0.0.10', user: 'admin', port: 2222 });
  t.regex(s, /^\( umask 077; printf '%s\\n' "\$NETLAB_SSH_KEY" > "\$t\/key" \)$/m);
  t.regex(
    s,
    /^tar -C \/c\/k8s\/bin -chf - etcd kubectl \| ssh -i "\$t\/key" -p 2222 .* admin@10\.0\.0\.10 'sudo -n install -d -m 755 \/var\/lib\/netlab\/bin && sudo -n tar -xf - -C \/var\/lib\/netlab\/bin --no-same-owner'$/m,
  );
  t.notRegex(pushScript({ binDir: '/c', programs: ['etcd'], host: 'h', user: 'root', port: 22 }), /sudo/);
});

test('preflight: programs not built here are named before any host is contacted', async (t) => {
  const saved = process.env.NETLAB_TOOLS_CACHE;
  const empty = tempDir('netlab-no-tools-');
  process.env.NETLAB_TOOLS_CACHE = empty;
  t.teardown(() => {
    if (saved === undefined) delete process.env.NETLAB_TOOLS_CACHE;
    else process.env.NETLAB_TOOLS_CACHE = saved;
    rmSync(empty, { recursive: true, force: true });
  });
  let contacted = 0;
  await t.throwsAsync(
    sshPreflight(specOf(base), 'KEY', async () => {
      contacted++;
      return { code: 0, stdout: '', stderr: '' };
    }),
    {
      message:
        /^netlab:ssh\.cluster = processes: the real Kubernetes components are not installed \(etcd, kube-apiserver, .* missing from .*netlab-no-tools-.*\/k8s\/bin\): run bash scripts\/install-k8s\.sh/,
    },
  );
  t.is(contacted, 0);
});

test('the Pulumi graph of a processes stack (setMocks): every changing step undoes itself; the key and tokens only in secret inputs', async (t) => {
  const registered = await mockRemoteFlow('processes-mocked', { '-workload': 'netlab-pod-ip: 10.244.0.2\n', '-credentials': 'NETLAB_ca_crt=Q0E=\n' });
  const { SshExperiment } = await import('../../../components/remote/ssh-experiment.ts');
  const e = new SshExperiment('t', {
    spec: specOf({ ...base, ssh: { ...base.ssh, user: 'admin' } }),
    projectDir: '/srv/netlab',
    sshPrivateKey: pulumi.secret('PRIVATE-KEY-XYZ'),
  });
  await new Promise((r) => e.resultDir.apply(r));
  const cmds = registered.filter((r) => r.type === 'command:remote:Command');
  const undone = cmds.filter((r) => r.inputs.delete !== undefined).map((r) => r.name.slice(2));
  t.deepEqual(undone.filter((n) => n.startsWith('cluster-') || n.startsWith('workload-')).sort(), [
    'cluster-cluster-client',
    'cluster-control-plane',
    'cluster-flannel-client',
    'cluster-flannel-server',
    'cluster-kube-proxy',
    'workload-workload',
  ]);
  const secretIn = (v: unknown) =>
    !!v && typeof v === 'object' && (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
  for (const r of cmds) {
    const stdin = r.inputs.stdin;
    if (r.name.endsWith('-cluster-client')) {
      t.true(secretIn(stdin), 'the client gets the tokens as a secret');
      t.regex(String((stdin as { value: unknown }).value), /^NETLAB_ca_crt=Q0E=\n/);
    } else if (r.name.endsWith('-credentials')) t.true(secretIn(stdin), 'the step that prints the tokens is secret');
    else t.false(secretIn(stdin), r.name);
    if (r.inputs.delete !== undefined)
      t.notRegex(Buffer.from(/printf %s (\S+)/.exec(String(r.inputs.delete))![1]!, 'base64').toString(), /PRIVATE-KEY-XYZ|BEGIN|NETLAB_ca/);
  }
  const run = cmds.find((r) => r.name.endsWith('-run'))!;
  t.regex(String(run.inputs.stdin), /^pod_ip\(\) \{ echo 10\.244\.0\.2; \}$/m);
  const pushes = registered.filter((r) => r.type === 'command:local:Command' && r.name.includes('-binaries-'));
  t.deepEqual(pushes.map((r) => r.name.slice(2)).sort(), ['cluster-binaries-client', 'cluster-binaries-server']);
  for (const p of pushes) {
    t.true(secretIn(p.inputs.environment), 'the key reaches the copy as a secret environment');
    t.notRegex(String(p.inputs.create), /PRIVATE-KEY-XYZ/);
  }
});
