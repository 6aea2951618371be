// The `netlab` command line, run as a child process (issue 19, items 13 and 14): bad flags, paths
// and arguments are refused in one line naming the flag, its value and what is allowed (exit 2,
// before anything changes); verbs that build nothing print what they should. When the tests run
// as root, the commands run as nobody: none of them may build a lab, and as nobody none could.
import test, { type ExecutionContext } from 'ava';
import { chmodSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT } from '../../helpers/paths.ts';
import { netlab } from '../../helpers/cli.ts';
import { netlabProgram } from '../../../lib/cli/index.ts';
import { tempDir } from '../../helpers/tmp.ts';

const ROOT = PROJECT;
const LSCPU = join(ROOT, 'test', 'fixtures', 'tuning', 'c4.8xlarge.lscpu-p.txt');
const REPORTS = join(ROOT, 'test', 'fixtures', 'report');

const scratchDirs: string[] = [];
test.after.always(() => scratchDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A scratch directory the commands (perhaps as nobody) can write into. */
function scratch(): string {
  const dir = tempDir('netlab-cli-');
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
  await refused(
    t,
    ['up', 'local-host', '--results', file],
    `up: --results ${JSON.stringify(file)}: not a directory; expected a directory (created if missing)`,
  );
  await refused(
    t,
    ['up', 'local-host', '--results', join(file, 'sub')],
    `up: --results ${JSON.stringify(join(file, 'sub'))}: ${file} is not a directory; expected a directory (created if missing)`,
  );
});

test('report --baseline <no such stack>: refused with the stacks there are, nothing written', async (t) => {
  const out = scratch();
  await refused(
    t,
    ['report', REPORTS, '--out', out, '--baseline', 'nosuch'],
    /^netlab: report: --baseline "nosuch": no run of that stack among the results; expected one of: [a-z0-9-]+(, [a-z0-9-]+)*\n$/,
  );
  t.deepEqual(readdirSync(out), []);
});

test('report of a path that does not exist is a usage error, not a spec error', async (t) => {
  await refused(
    t,
    ['report', '/nonexistent', '--out', scratch()],
    /^netlab: report: "\/nonexistent": no such file or directory, nor a stack with results under .*; expected run directories, result trees, result\.json files or stack names\n$/,
  );
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
  await refused(
    t,
    ['tuning-plan', '--lscpu', '/nonexistent'],
    'tuning-plan: --lscpu "/nonexistent": no such file; expected the output of lscpu -p=CPU,CORE,SOCKET,NODE, saved to a file',
  );
  const r = await netlab('tuning-plan', '--lscpu', LSCPU, '--kernel', '6.1.0', '--irqs', '265,266');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /echo 00000000,0003fdfe > \/sys\/class\/net\/eth0\/queues\/rx-0\/rps_cpus/);
});

// Every verb that takes paths or flags: a bad one names the verb, the flag, its value and what is allowed.
const FILE = aFile();
const OUT = scratch();
const BAD: [string[], string][] = [
  [['janitor', '--older-than', '3w'], 'janitor: --older-than "3w": expected a duration such as 90m, 3h, 2d or 1h30m (units s, m, h, d), or 0 for every stack'],
  [['janitor', '--region', 'nowhere'], 'janitor: --region "nowhere": expected a region name such as us-east-1'],
  [
    ['collect', 'aws-e2-vxlan', '--host', '192.0.2.1', '--port', '70000', '--remote', '/var/lib/netlab/runs/20260101T000000Z.tgz'],
    'collect: --port "70000": expected a TCP port from 1 to 65535',
  ],
  [['up', 'local-host', '--results', FILE], `up: --results ${JSON.stringify(FILE)}: not a directory; expected a directory (created if missing)`],
  [['report', REPORTS, '--out', FILE], `report: --out ${JSON.stringify(FILE)}: not a directory; expected a directory (created if missing)`],
  [['report', REPORTS, '--out', OUT, '--baseline', 'nosuch'], 'report: --baseline "nosuch": no run of that stack among the results; expected one of: '],
  [['down', '../local-host'], 'down: stack name "../local-host": '],
  [['down'], 'down: name a stack, or use --all; nothing was changed'],
  [['up', 'local-host', '--bogus'], "unknown option '--bogus' (netlab --help lists the verbs, netlab <verb> --help their flags)"],
  [['nosuchverb'], "unknown command 'nosuchverb' (netlab --help lists the verbs, netlab <verb> --help their flags)"],
  [['sweep', 'local-host', '--parallel', '0'], 'sweep: --parallel "0": expected a whole number from 1 to 32'],
  [['sweep', 'local-host', '--max-hourly-usd', '0'], 'sweep: --max-hourly-usd "0": expected a positive number of USD per hour'],
  [['up', 'aws-e1-iptables', '--results', OUT, '--parallel', '2.5'], 'up: --parallel "2.5": expected a whole number from 1 to 32'],
  [['up', 'aws-e1-iptables', '--results', OUT, '--max-hourly-usd', 'ten'], 'up: --max-hourly-usd "ten": expected a positive number of USD per hour'],
  [['down', 'local-host', '--all'], 'down: name stacks or use --all, not both; nothing was changed'],
  [['report', REPORTS, '--results', FILE], `report: --results ${JSON.stringify(FILE)}: not a directory; expected a directory (created if missing)`],
  [
    ['schema', '--out', join(FILE, 'schema.json')],
    `schema: --out ${JSON.stringify(join(FILE, 'schema.json'))}: ${FILE} is not a directory; expected a file to write (its directory created if missing)`,
  ],
  [
    ['schema', '--out', tmpdir()],
    `schema: --out ${JSON.stringify(tmpdir())}: a directory, not a file; expected a file to write (its directory created if missing)`,
  ],
  [['tuning-plan', '--lscpu', LSCPU, '--tx-queues', '2000'], 'tuning-plan: --tx-queues "2000": expected a whole number from 1 to 1024'],
  [['rps', 'http://127.0.0.1/', '--requests-per-connection', '0'], 'rps: --requests-per-connection "0": expected a whole number from 1 to 1000000'],
  [['rps', 'http://127.0.0.1/', '--max-connections', '20001'], 'rps: --max-connections "20001": expected a whole number from 1 to 20000'],
  [['rps', 'http://127.0.0.1/', '--timeout', '5s'], 'rps: --timeout "5s": expected a whole number from 1 to 60000'],
  [['rps', 'http://127.0.0.1/', '--expect-body', 'some'], 'rps: --expect-body "some": expected a whole number from 0 to 1073741824'],
  [['rps', 'http://127.0.0.1/', '--hosts', '0'], 'rps: --hosts "0": expected a whole number from 1 to 1048576'],
  [['bench-proxy', '--repetitions', '0'], 'bench-proxy: --repetitions "0": expected a whole number from 1 to 100'],
  [['bench-proxy', '--rate', '1e3'], 'bench-proxy: --rate "1e3": expected a whole number from 1 to 100000'],
  [['bench-proxy-load', '--backends', '101'], 'bench-proxy-load: --backends "101": expected a whole number from 1 to 100'],
  [['bench-client', '--seconds', '601'], 'bench-client: --seconds "601": expected a whole number from 1 to 600'],
  [['bench', '--seconds', '-'], 'bench: --seconds "-": expected a whole number from 1 to 600'],
  [['tuning-plan', '--lscpu', '/etc/hostname'], 'tuning-plan: --lscpu "/etc/hostname": lscpu -p line 1: expected CPU,Core,Socket,Node numbers, got '],
  [['tuning-plan', '--lscpu', LSCPU, '--kernel', 'x'], 'tuning-plan: --kernel "x": expected a kernel release such as 5.10.0 or 6.1.0-13-amd64'],
  [['tuning-plan', '--lscpu', LSCPU, '--profile', 'fast'], 'tuning-plan: --profile "fast": expected one of study, none'],
  [['tuning-plan', '--lscpu', LSCPU, '--rx-queues', '0'], 'tuning-plan: --rx-queues "0": expected a whole number from 1 to 1024'],
  [['tuning-plan', '--lscpu', LSCPU, '--irqs', '265'], 'tuning-plan: --irqs "265": expected 2 comma-separated whole numbers from 1 to 1024'],
  [
    ['tuning-plan', '--lscpu', LSCPU, '--nic', '../eth0'],
    'tuning-plan: --nic "../eth0": expected an interface name (1 to 15 characters, no /, : or white space)',
  ],
  [['rps', 'http://127.0.0.1/', '--rate', 'abc'], 'rps: --rate "abc": expected a whole number from 1 to 100000'],
  [['rps', 'http://127.0.0.1/', '--duration', '1.5'], 'rps: --duration "1.5": expected a whole number from 1 to 3600'],
  [['rps', 'http://999.1.1.1/'], 'rps: url "http://999.1.1.1/": expected http://<IPv4 address or host name>[:port]/<path>'],
  [['rps', 'http://127.0.0.1:0/'], 'rps: url "http://127.0.0.1:0/": expected http://<IPv4 address or host name>[:port]/<path>'],
  [['rps', 'http://x.invalid/', '--hosts', '2'], 'rps: --hosts "2": expected 1 with a host name (connections are spread over consecutive IPv4 addresses)'],
  [['bench-proxy', '--seconds', 'abc'], 'bench-proxy: --seconds "abc": expected a whole number from 1 to 3600'],
  [['bench-proxy', '--services', '10000'], 'bench-proxy: --services "10000": expected 2 comma-separated whole numbers from 1 to 30000'],
  [
    ['bench-proxy', '--modes', 'iptables-nft,fast'],
    'bench-proxy: --modes "iptables-nft,fast": expected some of iptables-nft, iptables-legacy, nftables, ebpf, ipvs-nft, ipvs-legacy, none, comma-separated',
  ],
  [['bench-proxy', '--datapath', 'flannel'], 'bench-proxy: --datapath "flannel": expected one of host, hostgw, vxlan, macvlan, ipvlan'],
  [['bench-proxy', '--modes', 'iptables-nft', '--datapath', 'macvlan'], 'bench-proxy: the options give an invalid iptables-nft run: '],
  [
    ['bench-proxy-load', '--modes', 'ipvs'],
    'bench-proxy-load: --modes "ipvs": expected some of iptables-nft, iptables-legacy, iptables-nft-2019, iptables-legacy-2019, nftables, comma-separated',
  ],
  [['bench-kube-proxy', '--modes', 'ebpf'], 'bench-kube-proxy: --modes "ebpf": expected some of iptables-nft, iptables-legacy, nftables, comma-separated'],
  [['bench-kube-proxy', '--services', '1,x'], 'bench-kube-proxy: --services "1,x": expected one or more comma-separated whole numbers from 1 to 30000'],
  [['bench-proxy-load', '--services', '0'], 'bench-proxy-load: --services "0": expected one or more comma-separated whole numbers from 1 to 30000'],
  [['bench-proxy-load', '--timeout', 'never'], 'bench-proxy-load: --timeout "never": expected a whole number from 1 to 3600'],
  [['bench-client', '--ceiling', '20000,fast'], 'bench-client: --ceiling "20000,fast": expected one or more comma-separated whole numbers from 1 to 100000'],
  [['bench-client', '--rate', '0'], 'bench-client: --rate "0": expected a whole number from 1 to 100000'],
  [['bench-client', '--datapath', 'flannel'], 'bench-client: --datapath "flannel": expected one of host, hostgw, vxlan, macvlan, ipvlan'],
  [['bench', '--datapaths', 'host,weave'], 'bench: --datapaths "host,weave": expected some of host, hostgw, vxlan, macvlan, ipvlan, comma-separated'],
  [
    ['collect', 'aws-e2-vxlan', '--tarball', '/nonexistent'],
    'collect: --tarball "/nonexistent": no such file; expected a run tarball (<run-id>.tgz) on this machine',
  ],
  [
    ['collect', 'aws-e2-vxlan', '--host', '10.0.0.1', '--remote', '/etc/shadow'],
    'collect: --remote "/etc/shadow": expected the path the run step printed, /var/lib/netlab/runs/<YYYYMMDDTHHMMSSZ>.tgz',
  ],
  [
    ['collect', 'aws-e2-vxlan', '--host', '10.0.0.1', '--user', '-oProxyCommand=x', '--remote', '/var/lib/netlab/runs/20260101T000000Z.tgz'],
    'collect: --user "-oProxyCommand=x": expected a user name (letters, digits, _ and -; not starting with -)',
  ],
  [
    ['collect', 'aws-e2-vxlan', '--host', 'bad host', '--remote', '/var/lib/netlab/runs/20260101T000000Z.tgz'],
    `collect: --host "bad host": expected the client host's IPv4 address or host name`,
  ],
];
for (const [args, message] of BAD) {
  // collect writes under --results: give it a place the test may write to.
  const argv = args[0] === 'collect' ? [...args, '--results', scratch()] : args;
  test(`refused: netlab ${args.join(' ')}`, (t) => refused(t, argv, new RegExp(`^netlab: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\n]*\n$`)));
}

// Flags whose refusal is tested apart from BAD (above or below).
const ALSO: [string, string][] = [['collect', '--results']];

test('every flag that takes a value, of every verb, has a refusal in BAD (or apart)', (t) => {
  const tried = new Set([
    ...BAD.flatMap(([args]) => args.filter((a) => a.startsWith('--')).map((a) => `${args[0]} ${a}`)),
    ...ALSO.map(([verb, flag]) => `${verb} ${flag}`),
  ]);
  const untried = netlabProgram()
    .commands.flatMap((c) => c.options.filter((o) => o.required || o.optional).map((o) => `${c.name()} ${o.long}`))
    .filter((x) => !tried.has(x));
  t.deepEqual(untried, []);
});

test('a bad stack file stays a spec error (exit 2, every problem named), from every verb that reads one', async (t) => {
  const file = join(scratch(), 'Pulumi.bad.yaml');
  writeFileSync(file, 'config:\n  netlab:target: local\n  netlab:datapath: flannel\n');
  for (const args of [
    ['validate', file],
    ['plan', file],
    ['up', file, '--results', scratch()],
    ['sweep', file],
    ['bench-pulumi', file],
  ]) {
    const r = await netlab(...args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.is(r.stdout, '');
    t.true(r.stderr.startsWith(`netlab: ${file}: invalid experiment spec\n  - `), `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /flannel/);
  }
});

test('collect --results <a file>: refused', async (t) => {
  const file = aFile();
  await refused(
    t,
    ['collect', 'aws-e2-vxlan', '--results', file, '--tarball', LSCPU],
    `collect: --results ${JSON.stringify(file)}: not a directory; expected a directory (created if missing)`,
  );
});

test('plan local-proxy-iptables --full prints (10,000 Services, every rule)', async (t) => {
  const r = await netlab('plan', 'local-proxy-iptables', '--full');
  t.is(r.code, 0, r.stderr.slice(0, 2000));
  t.false(r.stdout.includes('more lines (netlab plan --full prints them all)'));
  t.true(r.stdout.includes('-A KUBE-SERVICES'));
  t.true(r.stdout.endsWith('ip netns del netlab.local-proxy-iptables.client\n'));
});

test('bench-pulumi <aws stack>: refused, a local stack is needed', async (t) => {
  await refused(t, ['bench-pulumi', 'aws-e2-vxlan'], 'bench-pulumi: aws-e2-vxlan is an aws stack; give a local one');
});

test('sweep <local stack> without root: the local target through the engine is refused before any Pulumi call', async (t) => {
  const r = await netlab('sweep', 'local-host');
  t.is(r.code, 2, r.stderr);
  t.is(r.stdout, '');
  t.regex(
    r.stderr,
    /^netlab: the local target through the Pulumi engine cannot run here:\n {2}- root: the local target creates network namespaces: run as root\n/,
  );
});
