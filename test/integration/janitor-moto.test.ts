// `netlab janitor` against moto's server mode (a local emulator of the EC2 and IAM APIs, started
// here on 127.0.0.1; installed by scripts/install-moto.sh, run by npm test's pretest): two fake
// netlab stacks and a third whose VPC cannot go (an untagged subnet in it), plus an untagged VPC
// that must survive; listed, then deleted with --yes. moto implements neither placement groups
// nor capacity reservations: those two listings end as warnings (and exit 1) here.
import test from 'ava';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateInternetGatewayCommand,
  CreateKeyPairCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteSubnetCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
  StopInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  IAMClient,
  ListRolesCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { netlab } from '../helpers/cli.ts';
import { serialIf } from '../helpers/needs.ts';

const MOTO = join(process.env.NETLAB_CACHE ?? join(homedir(), '.cache', 'netlab'), 'moto', 'bin', 'moto_server');
const missing = existsSync(MOTO) ? null : `no ${MOTO}: run bash scripts/install-moto.sh (npm test's pretest does)`;

// The janitor (run as a child, as nobody under root) and the SDK here see only the emulator and
// its fake credentials: never a real account's.
process.env.AWS_ACCESS_KEY_ID = 'testing';
process.env.AWS_SECRET_ACCESS_KEY = 'testing';
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_PROFILE;
process.env.AWS_REGION = 'us-east-1';
process.env.AWS_CONFIG_FILE = '/nonexistent/netlab-janitor-test/config';
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/netlab-janitor-test/credentials';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** The two listings moto lacks (HTML 500 pages), as the janitor words them. */
const MOTO_LACKS = ['capacity reservations', 'placement groups'].map(
  (w) => `${w} not listed: HTTP 500 from the endpoint, not an AWS answer (a call the endpoint does not implement?)`,
);

let moto: ChildProcess | null = null;
let motoLog = '';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
  });

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const c = connect(port, '127.0.0.1')
      .once('connect', () => {
        c.destroy();
        resolve(true);
      })
      .once('error', () => resolve(false));
  });

test.before(async () => {
  if (missing) return;
  const port = await freePort();
  moto = spawn(MOTO, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  moto.stdout!.on('data', (d: Buffer) => (motoLog += d.toString()).length > 20000 && (motoLog = motoLog.slice(-10000)));
  moto.stderr!.on('data', (d: Buffer) => (motoLog += d.toString()).length > 20000 && (motoLog = motoLog.slice(-10000)));
  // Bounded: 60 tries, half a second apart.
  for (let i = 0; i < 60 && !(await answers(port)); i++) {
    if (moto.exitCode !== null) throw new Error(`moto_server ended (${moto.exitCode}): ${motoLog}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  if (!(await answers(port))) throw new Error(`moto_server did not answer on 127.0.0.1:${port} within 30 s: ${motoLog}`);
  process.env.NETLAB_AWS_ENDPOINT = `http://127.0.0.1:${port}`;
});

test.after.always(() => {
  moto?.kill('SIGTERM');
});

const ec2 = () => new EC2Client({ region: 'us-east-1', endpoint: process.env.NETLAB_AWS_ENDPOINT! });
const iam = () => new IAMClient({ region: 'us-east-1', endpoint: process.env.NETLAB_AWS_ENDPOINT! });
const tags = (stack: string, name: string) => [
  { Key: 'netlab:stack', Value: stack },
  { Key: 'netlab:datapath', Value: 'vxlan' },
  { Key: 'Name', Value: `${stack}-${name}` },
];

/** One fake netlab stack as components/aws creates it (plus an IAM role and profile); the ids. */
async function fakeStack(e: EC2Client, i: IAMClient, stack: string, o: { instanceType: string; stopped?: boolean; cidr: string }) {
  const tag = async (id: string, name: string) => e.send(new CreateTagsCommand({ Resources: [id], Tags: tags(stack, name) }));
  const vpc = (await e.send(new CreateVpcCommand({ CidrBlock: `${o.cidr}.0.0/16` }))).Vpc!.VpcId!;
  await tag(vpc, 'vpc');
  const subnet = (await e.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: `${o.cidr}.1.0/24`, AvailabilityZone: 'us-east-1a' }))).Subnet!.SubnetId!;
  await tag(subnet, 'subnet');
  const igw = (await e.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
  await tag(igw, 'igw');
  await e.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
  const rt = (await e.send(new CreateRouteTableCommand({ VpcId: vpc }))).RouteTable!.RouteTableId!;
  await tag(rt, 'rt');
  await e.send(new CreateRouteCommand({ RouteTableId: rt, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
  await e.send(new AssociateRouteTableCommand({ RouteTableId: rt, SubnetId: subnet }));
  const sg = (await e.send(new CreateSecurityGroupCommand({ GroupName: `${stack}-sg`, Description: 'netlab', VpcId: vpc }))).GroupId!;
  await tag(sg, 'sg');
  await e.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: sg }] }] }));
  // A second group whose rule names the first: the first can go only after that rule is revoked.
  const sg2 = (await e.send(new CreateSecurityGroupCommand({ GroupName: `${stack}-sg2`, Description: 'netlab', VpcId: vpc }))).GroupId!;
  await tag(sg2, 'sg2');
  await e.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: sg2,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, UserIdGroupPairs: [{ GroupId: sg }] }],
    }),
  );
  const key = await e.send(
    new CreateKeyPairCommand({ KeyName: `${stack}-key`, TagSpecifications: [{ ResourceType: 'key-pair', Tags: tags(stack, 'key').slice(0, 2) }] }),
  );
  const image = (await e.send(new DescribeImagesCommand({}))).Images![0]!.ImageId!;
  const run = await e.send(
    new RunInstancesCommand({
      ImageId: image,
      InstanceType: o.instanceType as _InstanceType,
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnet,
      SecurityGroupIds: [sg],
      KeyName: `${stack}-key`,
      TagSpecifications: [{ ResourceType: 'instance', Tags: tags(stack, 'server') }],
    }),
  );
  const instance = run.Instances![0]!.InstanceId!;
  if (o.stopped) await e.send(new StopInstancesCommand({ InstanceIds: [instance] }));
  const role = `${stack}-role`;
  await i.send(
    new CreateRoleCommand({
      RoleName: role,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
      Tags: tags(stack, 'role').slice(0, 2),
    }),
  );
  const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' }] });
  await i.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: 'inline', PolicyDocument: doc }));
  const policy = (await i.send(new CreatePolicyCommand({ PolicyName: `${stack}-policy`, PolicyDocument: doc }))).Policy!.Arn!;
  await i.send(new AttachRolePolicyCommand({ RoleName: role, PolicyArn: policy }));
  await i.send(new CreateInstanceProfileCommand({ InstanceProfileName: `${stack}-profile`, Tags: tags(stack, 'profile').slice(0, 2) }));
  await i.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: `${stack}-profile`, RoleName: role }));
  return { vpc, subnet, igw, rt, sg, sg2, key: key.KeyPairId!, instance };
}

type Json = {
  stacks: { stack: string; usdPerHour: number; unpriced: number; resources: { kind: string; id: string; state?: string; usdPerHour?: number | null }[] }[];
  leftOut: { stack: string; newestSeconds: number | null }[];
  warnings: string[];
  plan: { stack: string; text: string }[];
  deletion: null | {
    ok: number;
    failed: number;
    skipped: number;
    steps: { status: string; text?: string; error?: string }[];
    left: { stack: string; kind: string }[];
  };
};
const janitorJson = async (...args: string[]) => {
  const r = await netlab('janitor', '--json', ...args);
  let json: Json | null = null;
  try {
    json = JSON.parse(r.stdout) as Json;
  } catch {}
  return { ...r, json };
};
const kindsOf = (j: Json, stack: string) => j.stacks.find((s) => s.stack === stack)?.resources.map((r) => r.kind);

test('janitor --older-than 3w and --region nowhere: refused before any AWS call (exit 2, one line)', async (t) => {
  const saved = process.env.NETLAB_AWS_ENDPOINT;
  process.env.NETLAB_AWS_ENDPOINT = 'http://127.0.0.1:9'; // the discard port: nothing would answer
  try {
    for (const [args, message] of [
      [['--older-than', '3w'], 'janitor: --older-than "3w": expected a duration such as 90m, 3h, 2d or 1h30m (units s, m, h, d), or 0 for every stack'],
      [['--older-than', '-1h'], 'janitor: --older-than "-1h": expected a duration such as 90m, 3h, 2d or 1h30m (units s, m, h, d), or 0 for every stack'],
      [['--region', 'nowhere'], 'janitor: --region "nowhere": expected a region name such as us-east-1'],
    ] as const) {
      const r = await netlab('janitor', ...args);
      t.is(r.code, 2, r.stderr);
      t.is(r.stdout, '');
      t.is(r.stderr, `netlab: ${message}\n`);
    }
  } finally {
    if (saved === undefined) delete process.env.NETLAB_AWS_ENDPOINT;
    else process.env.NETLAB_AWS_ENDPOINT = saved;
  }
});

serialIf(missing, 'janitor against moto: lists the tagged stacks only, then --yes deletes them and leaves the untagged VPC', async (t) => {
  const e = ec2();
  const i = iam();
  t.teardown(() => {
    e.destroy();
    i.destroy();
  });
  const untagged = (await e.send(new CreateVpcCommand({ CidrBlock: '10.99.0.0/16' }))).Vpc!.VpcId!;
  await e.send(new CreateTagsCommand({ Resources: [untagged], Tags: [{ Key: 'Name', Value: 'not-netlab' }] }));
  const a = await fakeStack(e, i, 'a', { instanceType: 'c4.8xlarge', cidr: '10.1' });
  const b = await fakeStack(e, i, 'b', { instanceType: 'm7i.large', cidr: '10.2' });
  // Stack c: a tagged VPC holding a subnet netlab did not make (untagged): its VPC cannot go.
  const cVpc = (await e.send(new CreateVpcCommand({ CidrBlock: '10.3.0.0/16' }))).Vpc!.VpcId!;
  await e.send(new CreateTagsCommand({ Resources: [cVpc], Tags: tags('c', 'vpc') }));
  const cSubnet = (await e.send(new CreateSubnetCommand({ VpcId: cVpc, CidrBlock: '10.3.1.0/24' }))).Subnet!.SubnetId!;

  // The listing: three stacks, each resource of a and b, nothing untagged; nothing changed.
  const list = await janitorJson();
  t.is(list.code, 1, list.stderr); // moto lacks two listings
  const j = list.json!;
  t.deepEqual(j.warnings, MOTO_LACKS);
  t.deepEqual(
    j.stacks.map((s) => s.stack),
    ['a', 'b', 'c'],
  );
  const kinds = [
    'instance',
    'key-pair',
    'internet-gateway',
    'route-table',
    'subnet',
    'security-group',
    'security-group',
    'vpc',
    'instance-profile',
    'iam-role',
  ];
  t.deepEqual(kindsOf(j, 'a'), kinds);
  t.deepEqual(kindsOf(j, 'b'), kinds);
  t.deepEqual(kindsOf(j, 'c'), ['vpc']);
  t.false(list.stdout.includes(untagged));
  t.false(list.stdout.includes(cSubnet));
  const ids = j.stacks.find((s) => s.stack === 'a')!.resources.map((r) => r.id);
  for (const id of [a.vpc, a.subnet, a.igw, a.rt, a.sg, a.sg2, a.key, a.instance]) t.true(ids.includes(id), id);
  // Cost: a's running c4.8xlarge at the catalogue's price; b's m7i.large is not in the table.
  t.is(j.stacks.find((s) => s.stack === 'a')!.usdPerHour, 1.591);
  t.like(
    j.stacks.find((s) => s.stack === 'b'),
    { usdPerHour: 0, unpriced: 1 },
  );
  t.is(j.deletion, null);
  t.true(j.plan.length > 20);
  t.deepEqual(
    j.plan.filter((s) => s.stack === 'a').map((s) => s.text.split(' ')[0]),
    [
      ...['terminate', 'wait', 'delete'], // instance, its wait, key pair
      ...['detach', 'delete'], // internet gateway
      ...['disassociate', 'delete'], // route table
      ...['delete', 'revoke', 'delete', 'delete', 'delete'], // subnet, sg2's reference to sg, both groups, VPC
      ...['remove', 'delete', 'detach', 'delete', 'delete'], // profile; the role's policies, the role
    ],
  );
  const human = await netlab('janitor');
  t.regex(human.stdout, /^stack a: 10 resources, age \d+s \(newest \d+s\), 1\.5910 USD\/h$/m);
  t.regex(human.stdout, /^stack b: 10 resources, .*, 0\.0000 USD\/h \+ 1 running instance with no price$/m);
  t.regex(human.stdout, /^ {2}instance +i-\w+ +b-server +\d+s +running +no price$/m);
  t.regex(human.stdout, /^nothing was changed; `netlab janitor --region us-east-1 --yes` would run these \d+ steps:$/m);

  // --older-than 1h: everything here is seconds old, so no stack is taken.
  const newer = await janitorJson('--older-than', '1h');
  t.deepEqual(newer.json!.stacks, []);
  t.deepEqual(
    newer.json!.leftOut.map((x) => [x.stack, typeof x.newestSeconds]),
    [
      ['a', 'number'],
      ['b', 'number'],
      ['c', 'object'],
    ],
  );
  t.deepEqual(newer.json!.plan, []);

  // --yes: a and b go entirely; c's VPC fails (its untagged subnet), is reported, and is left.
  const del = await janitorJson('--yes');
  t.is(del.code, 1, del.stderr);
  const d = del.json!.deletion!;
  const failed = d.steps.filter((s) => s.status !== 'ok');
  t.is(failed.length, 1, JSON.stringify(failed));
  t.is(failed[0]!.text, `delete VPC ${cVpc}`);
  t.regex(failed[0]!.error!, /DependencyViolation/);
  t.deepEqual(
    d.left.map((l) => [l.stack, l.kind]),
    [['c', 'vpc']],
  );
  const instances = await e.send(new DescribeInstancesCommand({ InstanceIds: [a.instance, b.instance] }));
  t.deepEqual(
    instances.Reservations!.flatMap((r) => r.Instances!.map((x) => x.State!.Name)),
    ['terminated', 'terminated'],
  );
  const vpcs = (await e.send(new DescribeVpcsCommand({}))).Vpcs!.map((v) => v.VpcId);
  t.true(vpcs.includes(untagged));
  t.false(vpcs.includes(a.vpc) || vpcs.includes(b.vpc));
  t.deepEqual(
    (await i.send(new ListRolesCommand({}))).Roles!.filter((r) => /^[ab]-role$/.test(r.RoleName!)),
    [],
  );

  // Once the foreign subnet is gone, a second --yes (human output) takes c; only moto's gaps are left as warnings.
  await e.send(new DeleteSubnetCommand({ SubnetId: cSubnet }));
  const again = await netlab('janitor', '--yes');
  t.is(again.code, 1, again.stderr);
  t.regex(again.stdout, new RegExp(`^1/1 ok {6}c: delete VPC ${cVpc}$`, 'm'));
  t.regex(again.stdout, /^deleted: 1 of 1 step ok, 0 failed, 0 skipped\nleft: nothing of these stacks\n$/m);
  const after = await janitorJson();
  t.deepEqual(after.json!.stacks, []);
  t.true((await e.send(new DescribeVpcsCommand({ VpcIds: [untagged] }))).Vpcs!.length === 1);
});
