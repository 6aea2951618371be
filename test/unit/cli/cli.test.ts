// The `netlab` command line, run as a child process (issue 19, items 13 and 14): bad flags, paths
// and arguments are refused in one line naming the flag, its value and what is allowed (exit 2,
// before anything changes); verbs that build nothing print what they should. When the tests run
// as root, the commands run as nobody: none of them may build a lab, and as nobody none could.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rpsClient, rpsSourceHash } from '../../../lib/workload/rps.ts';
import { PROJECT, BIN } from '../../helpers/paths.ts';

const ROOT = PROJECT;
const LSCPU = join(ROOT, 'test', 'fixtures', 'tuning', 'c4.8xlarge.lscpu-p.txt');
const REPORTS = join(ROOT, 'test', 'fixtures', 'report');
const nobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

function netlab(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...nobody });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const scratchDirs: string[] = [];
test.after.always(() => scratchDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

// The load client lives in root's tools cache, which nobody cannot read: the rps verbs here get a
// copy in a scratch cache (NETLAB_TOOLS_CACHE, the same <cache>/rps-<source hash>/ layout).
test.before(() => {
  const cache = mkdtempSync(join(tmpdir(), 'netlab-tools-'));
  scratchDirs.push(cache);
  const dir = join(cache, `rps-${rpsSourceHash()}`);
  mkdirSync(dir);
  copyFileSync(rpsClient(), join(dir, 'netlab-rps'));
  for (const d of [cache, dir]) chmodSync(d, 0o755);
  chmodSync(join(dir, 'netlab-rps'), 0o755);
  process.env.NETLAB_TOOLS_CACHE = cache;
});

/** A scratch directory the commands (perhaps as nobody) can write into. */
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-cli-'));
  chmodSync(dir, 0o777);
  scratchDirs.push(dir);
  return dir;
}

function aFile(): string {
  const f = join(scratch(), 'a-file');
  writeFileSync(f, 'not a directory\n');
  return f;
}

/** Exit 2, nothing on stdout, exactly one line on stderr: `netlab: <message>`. */
async function refused(t: ExecutionContext, args: string[], message: string | RegExp): Promise<void> {
  const r = await netlab(...args);
  t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^netlab: [^\n]+\n$/, 'one line');
  if (typeof message === 'string') t.is(r.stderr, `netlab: ${message}\n`);
  else t.regex(r.stderr, message);
  t.notRegex(r.stderr, /invalid experiment spec|at .*\.ts:\d+/);
}

test('up --results <a file>: refused before any lab is built', async (t) => {
  const file = aFile();
  await refused(t, ['up', 'local-host', '--results', file], `up: --results ${JSON.stringify(file)}: not a directory; expected a directory (created if missing)`);
  await refused(t, ['up', 'local-host', '--results', join(file, 'sub')], `up: --results ${JSON.stringify(join(file, 'sub'))}: ${file} is not a directory; expected a directory (created if missing)`);
});

test('report --baseline <no such stack>: refused with the stacks there are, nothing written', async (t) => {
  const out = scratch();
  await refused(t, ['report', REPORTS, '--out', out, '--baseline', 'nosuch'], /^netlab: report: --baseline "nosuch": no run of that stack among the results; expected one of: [a-z0-9-]+(, [a-z0-9-]+)*\n$/);
  t.deepEqual(readdirSync(out), []);
});

test('report of a path that does not exist is a usage error, not a spec error', async (t) => {
  await refused(t, ['report', '/nonexistent', '--out', scratch()], /^netlab: report: "\/nonexistent": no such file or directory, nor a stack with results under .*; expected run directories, result trees, result\.json files or stack names\n$/);
  const file = aFile();
  await refused(t, ['report', REPORTS, '--out', file], `report: --out ${JSON.stringify(file)}: not a directory; expected a directory (created if missing)`);
});

test('report of the fixtures still writes its files', async (t) => {
  const out = scratch();
  const r = await netlab('report', REPORTS, '--out', out, '--baseline', 'local-host');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^\d+ run\(s\), \d+ chart\(s\), 3 file\(s\) skipped\n/);
  t.true(readdirSync(out).includes('points.csv'));
});

test('tuning-plan --lscpu <missing file>: names the option', async (t) => {
  await refused(t, ['tuning-plan', '--lscpu', '/nonexistent'], 'tuning-plan: --lscpu "/nonexistent": no such file; expected the output of lscpu -p=CPU,CORE,SOCKET,NODE, saved to a file');
  const r = await netlab('tuning-plan', '--lscpu', LSCPU, '--kernel', '6.1.0', '--irqs', '265,266');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /echo 00000000,0003fdfe > \/sys\/class\/net\/eth0\/queues\/rx-0\/rps_cpus/);
});

// Every verb that takes paths or flags: a bad one names the verb, the flag, its value and what is allowed.
const BAD: [string[], string][] = [
  [['tuning-plan', '--lscpu', '/etc/hostname'], 'tuning-plan: --lscpu "/etc/hostname": lscpu -p line 1: expected CPU,Core,Socket,Node numbers, got '],
  [['tuning-plan', '--lscpu', LSCPU, '--kernel', 'x'], 'tuning-plan: --kernel "x": expected a kernel release such as 5.10.0 or 6.1.0-13-amd64'],
  [['tuning-plan', '--lscpu', LSCPU, '--profile', 'fast'], 'tuning-plan: --profile "fast": expected one of study, none'],
  [['tuning-plan', '--lscpu', LSCPU, '--rx-queues', '0'], 'tuning-plan: --rx-queues "0": expected a whole number from 1 to 1024'],
  [['tuning-plan', '--lscpu', LSCPU, '--irqs', '265'], 'tuning-plan: --irqs "265": expected 2 comma-separated whole numbers from 1 to 1024'],
  [['tuning-plan', '--lscpu', LSCPU, '--nic', '../eth0'], 'tuning-plan: --nic "../eth0": expected an interface name (1 to 15 characters, no /, : or white space)'],
  [['rps', 'http://127.0.0.1/', '--rate', 'abc'], 'rps: --rate "abc": expected a whole number from 1 to 100000'],
  [['rps', 'http://127.0.0.1/', '--duration', '1.5'], 'rps: --duration "1.5": expected a whole number from 1 to 3600'],
  [['rps', 'http://999.1.1.1/'], 'rps: url "http://999.1.1.1/": expected http://<IPv4 address or host name>[:port]/<path>'],
  [['rps', 'http://127.0.0.1:0/'], 'rps: url "http://127.0.0.1:0/": expected http://<IPv4 address or host name>[:port]/<path>'],
  [['rps', 'http://x.invalid/', '--hosts', '2'], 'rps: --hosts "2": expected 1 with a host name (connections are spread over consecutive IPv4 addresses)'],
  [['bench-proxy', '--seconds', 'abc'], 'bench-proxy: --seconds "abc": expected a whole number from 1 to 3600'],
  [['bench-proxy', '--services', '10000'], 'bench-proxy: --services "10000": expected 2 comma-separated whole numbers from 1 to 30000'],
  [['bench-proxy', '--modes', 'iptables-nft,fast'], 'bench-proxy: --modes "iptables-nft,fast": expected some of iptables-nft, iptables-legacy, nftables, ebpf, ipvs-nft, ipvs-legacy, none, comma-separated'],
  [['bench-proxy', '--datapath', 'flannel'], 'bench-proxy: --datapath "flannel": expected one of host, hostgw, vxlan, macvlan, ipvlan'],
  [['bench-proxy', '--modes', 'iptables-nft', '--datapath', 'macvlan'], 'bench-proxy: the options give an invalid iptables-nft run: '],
  [['bench-proxy-load', '--modes', 'ipvs'], 'bench-proxy-load: --modes "ipvs": expected some of iptables-nft, iptables-legacy, iptables-nft-2019, iptables-legacy-2019, nftables, comma-separated'],
  [['bench-proxy-load', '--services', '0'], 'bench-proxy-load: --services "0": expected one or more comma-separated whole numbers from 1 to 30000'],
  [['bench-proxy-load', '--timeout', 'never'], 'bench-proxy-load: --timeout "never": expected a whole number from 1 to 3600'],
  [['bench-client', '--ceiling', '20000,fast'], 'bench-client: --ceiling "20000,fast": expected one or more comma-separated whole numbers from 1 to 100000'],
  [['bench-client', '--rate', '0'], 'bench-client: --rate "0": expected a whole number from 1 to 100000'],
  [['bench-client', '--datapath', 'flannel'], 'bench-client: --datapath "flannel": expected one of host, hostgw, vxlan, macvlan, ipvlan'],
  [['bench', '--datapaths', 'host,weave'], 'bench: --datapaths "host,weave": expected some of host, hostgw, vxlan, macvlan, ipvlan, comma-separated'],
  [['collect', 'aws-e2-vxlan', '--tarball', '/nonexistent'], 'collect: --tarball "/nonexistent": no such file; expected a run tarball (<run-id>.tgz) on this machine'],
  [['collect', 'aws-e2-vxlan', '--host', '10.0.0.1', '--remote', '/etc/shadow'], 'collect: --remote "/etc/shadow": expected the path the run step printed, /var/lib/netlab/runs/<YYYYMMDDTHHMMSSZ>.tgz'],
  [['collect', 'aws-e2-vxlan', '--host', '10.0.0.1', '--user', '-oProxyCommand=x', '--remote', '/var/lib/netlab/runs/20260101T000000Z.tgz'], 'collect: --user "-oProxyCommand=x": expected a user name (letters, digits, _ and -; not starting with -)'],
  [['collect', 'aws-e2-vxlan', '--host', 'bad host', '--remote', '/var/lib/netlab/runs/20260101T000000Z.tgz'], `collect: --host "bad host": expected the client host's IPv4 address or host name`],
];
for (const [args, message] of BAD) {
  // collect writes under --results: give it a place the test may write to.
  const argv = args[0] === 'collect' ? [...args, '--results', scratch()] : args;
  test(`refused: netlab ${args.join(' ')}`, (t) => refused(t, argv, new RegExp(`^netlab: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\n]*\n$`)));
}

test('collect --results <a file>: refused', async (t) => {
  const file = aFile();
  await refused(t, ['collect', 'aws-e2-vxlan', '--results', file, '--tarball', LSCPU], `collect: --results ${JSON.stringify(file)}: not a directory; expected a directory (created if missing)`);
});

test('plan local-proxy-iptables --full prints (10,000 Services, every rule)', async (t) => {
  const r = await netlab('plan', 'local-proxy-iptables', '--full');
  t.is(r.code, 0, r.stderr.slice(0, 2000));
  t.false(r.stdout.includes('more lines (netlab plan --full prints them all)'));
  t.true(r.stdout.includes('-A KUBE-SERVICES'));
  t.true(r.stdout.endsWith('ip netns del netlab.local-proxy-iptables.client\n'));
});

type Report = { ok: number; sent: number; errors: Record<string, number>; connectErrors: Record<string, number>; firstError: string };
const reportOf = (stdout: string) => JSON.parse(stdout) as Report;

test('rps to a name that does not resolve (.invalid): DNS failures, exit 1', async (t) => {
  const r = await netlab('rps', 'http://nosuch.invalid/', '--rate', '5', '--duration', '1', '--timeout', '4000');
  t.is(r.code, 1, r.stderr);
  const rep = reportOf(r.stdout);
  t.is(rep.ok, 0);
  t.deepEqual(rep.errors, { connect: rep.sent, timeout: 0, reset: 0, http: 0, size: 0 });
  t.deepEqual(rep.connectErrors, { dns: rep.sent, refused: 0, unreachable: 0, other: 0 });
  t.regex(rep.firstError, /^nosuch\.invalid:80: the name does not resolve \((ENOTFOUND|EAI_AGAIN)\)$/);
  t.regex(r.stderr, /^rps: no request succeeded: all 5 failed/);
});

test('rps to a closed port on 127.0.0.1: refused connects, exit 1', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createTcpServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
  const r = await netlab('rps', `http://127.0.0.1:${port}/`, '--rate', '5', '--duration', '1');
  t.is(r.code, 1, r.stderr);
  const rep = reportOf(r.stdout);
  t.deepEqual(rep.connectErrors, { dns: 0, refused: rep.sent, unreachable: 0, other: 0 });
  t.is(rep.errors.reset, 0);
});

test('rps to a server on 127.0.0.1: every request answered, exit 0', async (t) => {
  const server = createServer((_req, res) => res.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const r = await netlab('rps', `http://127.0.0.1:${port}/`, '--rate', '20', '--duration', '1', '--expect-body', '5');
  t.is(r.code, 0, r.stderr);
  const rep = reportOf(r.stdout);
  t.is(rep.ok, 20);
  t.is(rep.sent, 20);
});

test('bench-pulumi <aws stack>: refused, a local stack is needed', async (t) => {
  await refused(t, ['bench-pulumi', 'aws-e2-vxlan'], 'bench-pulumi: aws-e2-vxlan is an aws stack; give a local one');
});

test('sweep <local stack> without root: the local target through the engine is refused before any Pulumi call', async (t) => {
  const r = await netlab('sweep', 'local-host');
  t.is(r.code, 2, r.stderr);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^netlab: the local target through the Pulumi engine cannot run here:\n {2}- root: the local target creates network namespaces: run as root\n/);
});
