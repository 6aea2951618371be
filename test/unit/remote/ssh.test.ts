// The ssh target without hosts: validation (each refusal names the key), the plan and its scripts
// (golden, bash -n, shellcheck, the undo scripts run for real against scratch files), the
// first-connection verdicts (judgeHost, sshPreflight with a stand-in ssh), and the Pulumi graph of
// an ssh stack under setMocks (check as the login user, every changing step with its undo).
import test from 'ava';
import * as pulumi from '@pulumi/pulumi';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSshPlan, renderSshScripts, sshPlan, sshScripts } from '../../../lib/remote/plan.ts';
import { judgeHost, sshPreflight, type SshOutcome } from '../../../lib/remote/preflight.ts';
import { checkScript, parseCheck } from '../../../lib/remote/scripts.ts';
import type { SshSpec } from '../../../lib/spec/schema.ts';
import { loadStack, PROJECT_DIR } from '../../../lib/spec/stackfile.ts';
import { assertGolden } from '../../helpers/golden.ts';
import { problemsOf, specOfConfig } from '../../helpers/spec.ts';
import { mockRemoteFlow } from '../../helpers/remote-mocks.ts';
import { checkSweep } from '../../../lib/aws/sweep.ts';
import { tempDir } from '../../helpers/tmp.ts';

const FIX = join(PROJECT_DIR, 'test', 'fixtures', 'remote');
const hosts = { server: { address: '10.0.0.10' }, client: { address: '10.0.0.11' } };
const base = { target: 'ssh', datapath: 'hostgw', ssh: { hosts } };
const problems = problemsOf;
const specOf = (config: Record<string, unknown>) => specOfConfig<SshSpec>(config);

test('validation: an ssh stack needs its hosts; every bad value is refused naming the key, the value and what is allowed', (t) => {
  t.deepEqual(problems(base), []);
  t.deepEqual(problems({ target: 'ssh' }), [
    'netlab:ssh = (missing): target ssh needs netlab:ssh with hosts.server.address and hosts.client.address (and the key as the config secret netlab:sshPrivateKey)',
  ]);
  t.deepEqual(problems({ ...base, ssh: { hosts: { server: { address: 'bad host!' }, client: hosts.client } } }), [
    'netlab:ssh.hosts.server.address = "bad host!": expected an IPv4 address such as 192.0.2.10 or a DNS name such as node1.lab.example',
  ]);
  t.deepEqual(problems({ ...base, ssh: { hosts, port: 0 } }), ['netlab:ssh.port = 0: expected a whole number from 1 to 65535']);
  t.deepEqual(problems({ ...base, ssh: { hosts, user: '-oProxyCommand=x' } }), [
    'netlab:ssh.user = "-oProxyCommand=x": expected a login name: a letter or _, then letters, digits, _, . or - (at most 32)',
  ]);
  t.deepEqual(problems({ ...base, ssh: { hosts, os: 'ubuntu' } }), ['netlab:ssh.os = "ubuntu": expected one of: amazon-linux, debian']);
  t.deepEqual(problems({ ...base, ssh: { hosts: { server: hosts.server, client: hosts.server } } }), [
    'netlab:ssh.hosts.client.address = "10.0.0.10": the client must be another host than the server (both are 10.0.0.10:22)',
    'netlab:ssh.hosts.client.privateAddress = (missing): the hosts need two addresses between them (both are 10.0.0.10)',
  ]);
  t.deepEqual(problems({ ...base, ssh: { hosts: { server: { address: 'node1.lab.example' }, client: hosts.client } } }), [
    "netlab:ssh.hosts.server.privateAddress = (missing): kubeadm needs each host's IPv4 address between the hosts; server's address is the name node1.lab.example: set privateAddress",
  ]);
  t.deepEqual(problems({ ...base, datapath: 'aws-vpc' }), [
    'netlab:datapath = "aws-vpc": aws-vpc routes pod ranges in a VPC route table, which only target aws has',
  ]);
  t.deepEqual(problems({ ...base, ssh: { hosts, cluster: 'none' }, proxy: { mode: 'iptables', services: [1] } }), [
    'netlab:datapath = "hostgw": without a cluster (ssh.cluster: none) there is no pod network: use datapath host, or ssh.cluster: kubeadm',
    'netlab:proxy = "iptables": without a cluster (ssh.cluster: none) there are no Services: remove netlab:proxy, or use ssh.cluster: kubeadm',
  ]);
  t.deepEqual(problems({ ...base, ssh: { hosts, kernel: '5.10' }, proxy: { mode: 'nftables', services: [1] } }), [
    'netlab:ssh.kernel = "5.10": kube-proxy nftables mode needs Linux 5.13 or newer: use kernel 6.1 or 6.12',
  ]);
  t.regex(
    problems({ ...base, aws: { sshCidr: '198.18.0.0/24' } }).join('\n'),
    /^netlab:aws = \{.*: only with target aws \(target ssh runs on the hosts given in netlab:ssh\)$/,
  );
  t.regex(
    problems({ target: 'aws', datapath: 'vxlan', aws: { sshCidr: '198.18.0.0/24' }, ssh: { hosts } }).join('\n'),
    /^netlab:ssh = \{.*: only with target ssh \(this stack's target is aws\)$/m,
  );
  t.deepEqual(
    problems({ ...base, workload: { tool: 'rps' } })[0],
    'netlab:workload.tool = "rps": rps is netlab\'s own compiled client (tools/rps), which the hosts do not install; on ssh use tcpkali (constant rate, E2) or ab/wrk',
  );
});

test('the shipped ssh stack: its plan and every script, exactly (golden); all pass bash -n and shellcheck', (t) => {
  const spec = loadStack('ssh-e2-hostgw') as SshSpec;
  assertGolden(t, join(FIX, 'ssh-e2-hostgw.plan.txt'), renderSshPlan(sshPlan(spec)) + renderSshScripts(spec));
  const dir = tempDir('netlab-ssh-scripts-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files: string[] = [];
  const none = specOf({ ...base, datapath: 'host', ssh: { hosts, cluster: 'none', user: 'admin' }, workload: { tool: 'ab' } });
  for (const [tag, s] of [
    ['kubeadm', spec],
    ['none', none],
  ] as const)
    for (const [name, text] of Object.entries(sshScripts(s))) {
      const f = join(dir, `${tag}.${name}.sh`);
      writeFileSync(f, text);
      files.push(f);
      const syn = spawnSync(name === 'check' ? 'sh' : 'bash', ['-n', f], { encoding: 'utf8' });
      t.is(syn.status, 0, `${tag} ${name}: ${syn.stderr}`);
    }
  const sc = spawnSync('shellcheck', ['--severity=warning', ...files], { encoding: 'utf8' });
  t.is(sc.status, 0, sc.stdout);
  // Without a cluster, the load goes to the server's address itself and nginx runs on the host.
  const s = sshScripts(none);
  t.regex(s.run!, /^pod_ip\(\) \{ echo 10\.0\.0\.10; \}$/m);
  t.regex(s.workload!, /^nginx -c \/etc\/netlab\/nginx\.conf$/m);
  t.false('kube-packages' in s);
  // …and its package comes with the server's packages (only when missing), not the client's.
  t.regex(s['packages-server']!, /^for p in .* nginx-light; do/m);
  t.notRegex(s['packages-client']!, /nginx/);
});

test("the check script, run for real here: root passes with this machine's distribution, a wrong one and a wrong kernel are named", (t) => {
  const run = (script: string) => spawnSync('sh', ['-s'], { input: script, encoding: 'utf8' });
  const release = (readFileSync('/etc/os-release', 'utf8').match(/^VERSION_ID="?([^"\n]*)/m) ?? [])[1] ?? '';
  const ok = run(checkScript({ os: 'debian', unamePrefix: '' }));
  t.is(ok.status, 0, ok.stdout);
  t.deepEqual(parseCheck(ok.stdout), { ok: true, id: 'debian', version: release, kernel: spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim() });
  const amzn = run(checkScript({ os: 'amazon-linux', unamePrefix: '' }));
  t.is(amzn.status, 1);
  t.deepEqual(parseCheck(amzn.stdout), {
    ok: false,
    what: 'distribution',
    detail: `Debian GNU/Linux ${release} (${release === '12' ? 'bookworm' : ''})`.replace(' ()', ''),
  });
  const kernel = run(checkScript({ os: 'debian', unamePrefix: '4.14.' }));
  t.is(kernel.status, 1);
  t.is(parseCheck(kernel.stdout)?.ok, false);
  t.regex(kernel.stdout, /^netlab-check: kernel \S+$/m);
});

test('first connection: every failure names the key to fix', (t) => {
  const spec = specOf({ ...base, ssh: { hosts: { ...hosts, client: { address: '10.0.0.11', user: 'ops', port: 2222 } }, user: 'admin', kernel: '6.1' } });
  const o = (code: number | null, stdout: string, stderr = ''): SshOutcome => ({ code, stdout, stderr });
  t.is(judgeHost(spec, 'server', o(0, 'netlab-check: ok debian 12 6.1.0-28-cloud-amd64\n')), null);
  t.is(
    judgeHost(spec, 'server', o(255, '', 'admin@10.0.0.10: Permission denied (publickey).\n')),
    "netlab:sshPrivateKey: the server host admin@10.0.0.10:22 refused the key (admin@10.0.0.10: Permission denied (publickey).); set the private half of a key in that user's authorized_keys (pulumi config set --secret netlab:sshPrivateKey < key), or fix netlab:ssh.user",
  );
  t.is(
    judgeHost(spec, 'client', o(255, '', 'ssh: connect to host 10.0.0.11 port 2222: Connection refused\n')),
    'netlab:ssh.hosts.client.address = 10.0.0.11: unreachable over SSH on port 2222 (ssh: connect to host 10.0.0.11 port 2222: Connection refused); check the address, netlab:ssh.hosts.client.port and that sshd runs there',
  );
  t.is(
    judgeHost(spec, 'client', o(1, 'netlab-check: no-root user ops is not root and has no passwordless sudo\n')),
    'netlab:ssh.hosts.client.user = ops: on the client host ops@10.0.0.11:2222, user ops is not root and has no passwordless sudo; use root or a user with passwordless sudo (NOPASSWD)',
  );
  t.is(
    judgeHost(spec, 'server', o(1, 'netlab-check: distribution Ubuntu 24.04.1 LTS\n')),
    'netlab:ssh.os = debian: the server host admin@10.0.0.10:22 runs Ubuntu 24.04.1 LTS; debian means Debian 11, 12 or 13 (the packages netlab installs are named for it)',
  );
  t.is(
    judgeHost(spec, 'server', o(1, 'netlab-check: kernel 5.10.0-33-cloud-amd64\n')),
    'netlab:ssh.kernel = 6.1: the server host admin@10.0.0.10:22 runs kernel 5.10.0-33-cloud-amd64, not 6.1.x',
  );
  t.regex(
    judgeHost(spec, 'server', o(0, 'Welcome!\n')) ?? '',
    /^the server host admin@10\.0\.0\.10:22 answered but did not run the check \(exit 0\): Welcome!$/,
  );
});

test('preflight: both hosts are checked before anything; every problem at once; nothing passes without the key', async (t) => {
  const spec = specOf({ ...base, proxy: { mode: 'nftables', services: [1] } });
  const seen: string[] = [];
  const fake = (answers: Record<string, SshOutcome>) => async (e: { address: string }, key: string) => {
    seen.push(`${e.address} ${key}`);
    return answers[e.address]!;
  };
  await t.throwsAsync(sshPreflight(spec, undefined, fake({})), { message: /^netlab:sshPrivateKey is not set/ });
  t.deepEqual(seen, []);
  const err = await t.throwsAsync(
    sshPreflight(
      spec,
      'KEY',
      fake({
        '10.0.0.10': { code: 255, stdout: '', stderr: 'ssh: connect to host 10.0.0.10 port 22: No route to host' },
        '10.0.0.11': { code: 255, stdout: '', stderr: 'root@10.0.0.11: Permission denied (publickey).' },
      }),
    ),
  );
  t.deepEqual(seen, ['10.0.0.10 KEY', '10.0.0.11 KEY']);
  t.regex(
    err!.message,
    /^netlab preflight of ssh stack t \(nothing was changed on either host\):\n {2}netlab:ssh\.hosts\.server\.address = 10\.0\.0\.10: unreachable/,
  );
  t.regex(err!.message, /\n {2}netlab:sshPrivateKey: the client host root@10\.0\.0\.11:22 refused the key/);
  // What validation could not know: the hosts' kernel against the proxy mode.
  const old = { code: 0, stdout: 'netlab-check: ok debian 11 5.10.0-33-cloud-amd64\n', stderr: '' };
  await t.throwsAsync(sshPreflight(spec, 'KEY', fake({ '10.0.0.10': old, '10.0.0.11': old })), {
    message: /netlab:proxy\.mode = nftables: the server host runs kernel 5\.10\.0-33-cloud-amd64; kube-proxy's nftables mode needs Linux 5\.13 or newer/,
  });
  const now = { code: 0, stdout: 'netlab-check: ok debian 12 6.1.0-28-cloud-amd64\n', stderr: '' };
  t.deepEqual(await sshPreflight(spec, 'KEY', fake({ '10.0.0.10': now, '10.0.0.11': now })), {
    server: { id: 'debian', version: '12', kernel: '6.1.0-28-cloud-amd64' },
    client: { id: 'debian', version: '12', kernel: '6.1.0-28-cloud-amd64' },
  });
});

test('sweep refuses an ssh stack whose host is still a documentation address, naming the key', (t) => {
  t.throws(() => checkSweep([loadStack('ssh-e2-hostgw')]), {
    message:
      /^netlab:ssh\.hosts\.<role>\.address is still a documentation placeholder in ssh-e2-hostgw \(server 192\.0\.2\.10\), ssh-e2-hostgw \(client 192\.0\.2\.11\)/,
  });
});

test('the Pulumi graph of an ssh stack (setMocks): check as the login user first, every changing step undoes itself on destroy', async (t) => {
  const registered = await mockRemoteFlow('ssh-mocked');
  const { SshExperiment } = await import('../../../components/remote/ssh-experiment.ts');
  const spec = specOf({ ...base, ssh: { hosts: { server: hosts.server, client: { address: '10.0.0.11', port: 2222 } }, user: 'admin' } });
  const e = new SshExperiment('t', { spec, projectDir: '/srv/netlab', sshPrivateKey: pulumi.secret('KEY') });
  await new Promise((r) => e.resultDir.apply(r));
  const unwrap = (v: unknown) => (v && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v);
  const cmds = registered.filter((r) => r.type === 'command:remote:Command');
  const names = cmds.map((r) => r.name.slice(2));
  t.deepEqual(names.sort(), [
    'check-client',
    'check-server',
    'cluster-cni',
    'cluster-join',
    'cluster-join-command',
    'cluster-kubeadm-init',
    'cluster-kubeconfig',
    'prep-client-facts',
    'prep-client-kube-packages',
    'prep-client-packages',
    'prep-client-tuning',
    'prep-client-verify',
    'prep-server-facts',
    'prep-server-kube-packages',
    'prep-server-packages',
    'prep-server-tuning',
    'prep-server-verify',
    'workload-run',
    'workload-workload',
  ]);
  const undone = cmds.filter((r) => r.inputs.delete !== undefined).map((r) => r.name.slice(2));
  t.deepEqual(undone.sort(), [
    'check-client',
    'check-server',
    'cluster-join',
    'cluster-kubeadm-init',
    'prep-client-kube-packages',
    'prep-client-packages',
    'prep-client-tuning',
    'prep-server-kube-packages',
    'prep-server-packages',
    'prep-server-tuning',
  ]);
  for (const r of cmds) {
    const conn = unwrap(r.inputs.connection) as { host: string; port: number; user: string };
    t.is(r.inputs.create, r.name.includes('-check-') ? 'sh -s' : 'sudo -n bash -s', r.name);
    t.deepEqual(
      [conn.host, conn.port, conn.user],
      r.name.includes('client') || r.name.endsWith('join') || r.name.endsWith('run') ? ['10.0.0.11', 2222, 'admin'] : ['10.0.0.10', 22, 'admin'],
    );
    // The undo travels on the command line: base64 of a script holding no secret.
    if (r.inputs.delete !== undefined) {
      const m = /^printf %s (\S+) \| base64 -d \| sudo -n bash -s$/.exec(String(r.inputs.delete));
      t.truthy(m, r.name);
      t.notRegex(Buffer.from(m![1]!, 'base64').toString(), /KEY|BEGIN/);
    }
  }
  const collect = registered.find((r) => r.type === 'command:local:Command')!;
  t.regex(String(collect.inputs.create), /collect t --host 10\.0\.0\.11 --user admin --port 2222 --remote/);
});
