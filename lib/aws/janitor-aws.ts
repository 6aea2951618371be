// `netlab janitor`, the AWS calls: list what is tagged `netlab:stack` in a region (EC2) and in the
// account (IAM, global), and run a deletion plan step by step. Every listing is paged with a bound
// on its pages, and the wait for terminated instances is bounded in time. The pure part (grouping,
// the plan, the text) is janitor.ts.
import {
  CancelCapacityReservationCommand,
  DeleteInternetGatewayCommand,
  DeleteKeyPairCommand,
  DeletePlacementGroupCommand,
  DeleteRouteTableCommand,
  DeleteSecurityGroupCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
  DescribeCapacityReservationsCommand,
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeKeyPairsCommand,
  DescribePlacementGroupsCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  DetachInternetGatewayCommand,
  DisassociateRouteTableCommand,
  EC2Client,
  type Filter,
  type IpPermission,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  type Tag,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListInstanceProfilesCommand,
  ListInstanceProfilesForRoleCommand,
  ListInstanceProfileTagsCommand,
  ListRolePoliciesCommand,
  ListRolesCommand,
  ListRoleTagsCommand,
  RemoveRoleFromInstanceProfileCommand,
} from '@aws-sdk/client-iam';
import { blockedBy, type Found, type Inventory, type Outcome, STACK_TAG, type Step } from './janitor.ts';

export interface Clients {
  ec2: EC2Client;
  iam: IAMClient;
  region: string;
}

/** EC2 and IAM clients for a region; credentials from the SDK's standard chain; `endpoint` (NETLAB_AWS_ENDPOINT) for an emulator. */
export function awsClients(region: string, endpoint?: string): Clients {
  // The SDK's notice that its releases after January 2027 need Node 22 says nothing about this run
  // (its version is locked); it would be the first line of every janitor run on Node 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const common = { region, maxAttempts: 3, ...(endpoint ? { endpoint } : {}) };
  return { ec2: new EC2Client(common), iam: new IAMClient(common), region };
}

/** How many listings listTagged makes (each may fail on its own, as a warning). */
export const LISTINGS = 11;

/** The most pages any one listing reads (1,000 items each at most: far beyond one account's netlab stacks). */
const MAX_PAGES = 50;
const TAGGED: Filter[] = [{ Name: 'tag-key', Values: [STACK_TAG] }];

const tag = (tags: Tag[] | { Key?: string; Value?: string }[] | undefined, key: string) => tags?.find((t) => t.Key === key)?.Value ?? null;
const iso = (d: Date | undefined) => (d ? d.toISOString() : null);
const message = (e: unknown) => {
  const err = e as { name?: string; message?: string; $response?: { statusCode?: number } };
  // An answer that is no AWS error (an emulator's HTML page for a call it lacks, a proxy's page).
  if (err.message?.includes('Deserialization error') && err.$response?.statusCode)
    return `HTTP ${err.$response.statusCode} from the endpoint, not an AWS answer (a call the endpoint does not implement?)`;
  return `${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message ?? String(e)}`.replace(/\s+/g, ' ').trim();
};

/** All pages of a token-paged call, at most MAX_PAGES. */
async function pages<T>(call: (token: string | undefined) => Promise<{ items: T[]; next: string | undefined }>): Promise<T[]> {
  const all: T[] = [];
  let token: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const r = await call(token);
    all.push(...r.items);
    token = r.next;
    if (!token) return all;
  }
  throw new Error(`more than ${MAX_PAGES} pages; stopped listing`);
}

/** `fn` over `xs`, at most `width` at a time (IAM tag look-ups, one call per role). */
async function limited<T, R>(xs: T[], width: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let next = 0;
  const worker = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await fn(xs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, xs.length) }, worker));
  return out;
}

/** What is tagged `netlab:stack`: EC2 in the clients' region, IAM in the account. A listing that fails becomes a warning; the others go on. */
export async function listTagged(c: Clients, now: () => Date = () => new Date()): Promise<Inventory> {
  const found: Found[] = [];
  const warnings: string[] = [];
  const at = now().toISOString();
  const part = async (what: string, fn: () => Promise<Found[]>) => {
    try {
      found.push(...(await fn()));
    } catch (e) {
      warnings.push(`${what} not listed: ${message(e)}`);
    }
  };
  const { ec2 } = c;
  await part('instances', async () => {
    const rs = await pages(async (NextToken) => {
      const r = await ec2.send(
        new DescribeInstancesCommand({
          Filters: [...TAGGED, { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] }],
          NextToken,
        }),
      );
      return { items: r.Reservations ?? [], next: r.NextToken };
    });
    return rs
      .flatMap((r) => r.Instances ?? [])
      .filter((i) => i.State?.Name !== 'terminated')
      .map((i) => ({
        kind: 'instance' as const,
        id: i.InstanceId!,
        stack: tag(i.Tags, STACK_TAG)!,
        name: tag(i.Tags, 'Name'),
        created: iso(i.LaunchTime),
        state: i.State?.Name ?? 'unknown',
        instanceType: i.InstanceType ?? 'unknown',
        ...(i.InstanceLifecycle === 'spot' ? { spot: true } : {}),
      }));
  });
  await part('capacity reservations', async () => {
    const rs = await pages(async (NextToken) => {
      const r = await ec2.send(new DescribeCapacityReservationsCommand({ Filters: TAGGED, NextToken }));
      return { items: r.CapacityReservations ?? [], next: r.NextToken };
    });
    return rs
      .filter((r) => !['cancelled', 'expired', 'failed'].includes(r.State ?? ''))
      .map((r) => ({
        kind: 'capacity-reservation' as const,
        id: r.CapacityReservationId!,
        stack: tag(r.Tags, STACK_TAG)!,
        name: tag(r.Tags, 'Name'),
        created: iso(r.CreateDate),
        state: r.State ?? 'unknown',
        instanceType: r.InstanceType ?? 'unknown',
      }));
  });
  await part('key pairs', async () => {
    const r = await ec2.send(new DescribeKeyPairsCommand({ Filters: TAGGED }));
    return (r.KeyPairs ?? []).map((k) => ({
      kind: 'key-pair' as const,
      id: k.KeyPairId!,
      stack: tag(k.Tags, STACK_TAG)!,
      name: k.KeyName ?? null,
      created: iso(k.CreateTime),
    }));
  });
  await part('placement groups', async () => {
    const r = await ec2.send(new DescribePlacementGroupsCommand({ Filters: TAGGED }));
    return (r.PlacementGroups ?? []).map((g) => ({
      kind: 'placement-group' as const,
      id: g.GroupName!,
      stack: tag(g.Tags, STACK_TAG)!,
      name: null,
      created: null,
      state: g.State ?? 'unknown',
    }));
  });
  await part('internet gateways', async () => {
    const gs = await pages(async (NextToken) => {
      const r = await ec2.send(new DescribeInternetGatewaysCommand({ Filters: TAGGED, NextToken }));
      return { items: r.InternetGateways ?? [], next: r.NextToken };
    });
    return gs.map((g) => ({
      kind: 'internet-gateway' as const,
      id: g.InternetGatewayId!,
      stack: tag(g.Tags, STACK_TAG)!,
      name: tag(g.Tags, 'Name'),
      created: null,
      attachedTo: (g.Attachments ?? []).map((a) => a.VpcId!).filter(Boolean),
    }));
  });
  await part('route tables', async () => {
    const ts = await pages(async (NextToken) => {
      const r = await ec2.send(new DescribeRouteTablesCommand({ Filters: TAGGED, NextToken }));
      return { items: r.RouteTables ?? [], next: r.NextToken };
    });
    // The main table goes with its VPC (and cannot be deleted on its own).
    return ts
      .filter((t) => !(t.Associations ?? []).some((a) => a.Main))
      .map((t) => ({
        kind: 'route-table' as const,
        id: t.RouteTableId!,
        stack: tag(t.Tags, STACK_TAG)!,
        name: tag(t.Tags, 'Name'),
        created: null,
        associations: (t.Associations ?? []).map((a) => a.RouteTableAssociationId!).filter(Boolean),
      }));
  });
  await part('subnets', async () => {
    const ss = await pages(async (NextToken) => {
      const r = await ec2.send(new DescribeSubnetsCommand({ Filters: TAGGED, NextToken }));
      return { items: r.Subnets ?? [], next: r.NextToken };
    });
    return ss.map((s) => ({ kind: 'subnet' as const, id: s.SubnetId!, stack: tag(s.Tags, STACK_TAG)!, name: tag(s.Tags, 'Name'), created: null }));
  });
  await part('security groups', async () => {
    const gs = await pages(async (NextToken) => {
      const r = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: TAGGED, NextToken }));
      return { items: r.SecurityGroups ?? [], next: r.NextToken };
    });
    // The default group goes with its VPC.
    return gs
      .filter((g) => g.GroupName !== 'default')
      .map((g) => ({
        kind: 'security-group' as const,
        id: g.GroupId!,
        stack: tag(g.Tags, STACK_TAG)!,
        name: tag(g.Tags, 'Name') ?? g.GroupName ?? null,
        created: null,
        refersTo: [...new Set([...(g.IpPermissions ?? []), ...(g.IpPermissionsEgress ?? [])].flatMap((p) => otherGroups(p, g.GroupId!)))].sort(),
      }));
  });
  await part('VPCs', async () => {
    const vs = await pages(async (NextToken) => {
      const r = await ec2.send(new DescribeVpcsCommand({ Filters: TAGGED, NextToken }));
      return { items: r.Vpcs ?? [], next: r.NextToken };
    });
    return vs.map((v) => ({ kind: 'vpc' as const, id: v.VpcId!, stack: tag(v.Tags, STACK_TAG)!, name: tag(v.Tags, 'Name'), created: null }));
  });
  await part('IAM instance profiles', () => listProfiles(c.iam));
  await part('IAM roles', () => listRoles(c.iam));
  return { region: c.region, at, found: found.filter((f) => f.stack), warnings };
}

/** The groups (other than its own) a rule names. */
function otherGroups(p: IpPermission, own: string): string[] {
  return (p.UserIdGroupPairs ?? []).map((u) => u.GroupId ?? '').filter((id) => id && id !== own);
}

async function listProfiles(iam: IAMClient): Promise<Found[]> {
  const ps = await pages(async (Marker) => {
    const r = await iam.send(new ListInstanceProfilesCommand({ Marker }));
    return { items: r.InstanceProfiles ?? [], next: r.IsTruncated ? r.Marker : undefined };
  });
  const tagged = await limited(ps, 8, async (p) => {
    const tags = p.Tags?.length ? p.Tags : (await iam.send(new ListInstanceProfileTagsCommand({ InstanceProfileName: p.InstanceProfileName! }))).Tags;
    return tag(tags, STACK_TAG);
  });
  return ps.flatMap((p, i) =>
    tagged[i]
      ? [
          {
            kind: 'instance-profile' as const,
            id: p.InstanceProfileName!,
            stack: tagged[i]!,
            name: null,
            created: iso(p.CreateDate),
            roles: (p.Roles ?? []).map((r) => r.RoleName!),
          },
        ]
      : [],
  );
}

async function listRoles(iam: IAMClient): Promise<Found[]> {
  const rs = await pages(async (Marker) => {
    const r = await iam.send(new ListRolesCommand({ Marker }));
    return { items: r.Roles ?? [], next: r.IsTruncated ? r.Marker : undefined };
  });
  // AWS's own roles (service-linked, under /aws-service-role/ and the like) are never netlab's.
  const candidates = rs.filter((r) => !r.Path?.startsWith('/aws-'));
  const found = await limited(candidates, 8, async (r): Promise<Found | null> => {
    const RoleName = r.RoleName!;
    const tags = r.Tags?.length ? r.Tags : (await iam.send(new ListRoleTagsCommand({ RoleName }))).Tags;
    const stack = tag(tags, STACK_TAG);
    if (!stack) return null;
    const [managed, inline, profiles] = await Promise.all([
      iam.send(new ListAttachedRolePoliciesCommand({ RoleName })),
      iam.send(new ListRolePoliciesCommand({ RoleName })),
      iam.send(new ListInstanceProfilesForRoleCommand({ RoleName })),
    ]);
    return {
      kind: 'iam-role',
      id: RoleName,
      stack,
      name: null,
      created: iso(r.CreateDate),
      managedPolicies: (managed.AttachedPolicies ?? []).map((p) => p.PolicyArn!),
      inlinePolicies: inline.PolicyNames ?? [],
      profiles: (profiles.InstanceProfiles ?? []).map((p) => p.InstanceProfileName!),
    };
  });
  return found.filter((f): f is Found => f !== null);
}

export interface RunOptions {
  /** How long all waits for terminated instances may take together (default 10 minutes). */
  waitSeconds?: number;
  /** Between two looks at an instance's state (default 5 s). */
  pollSeconds?: number;
  onOutcome?: (index: number, outcome: Outcome) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the plan in order; a failure is recorded and the rest goes on (a step that needs a failed one is skipped). */
export async function runPlan(c: Clients, plan: Step[], o: RunOptions = {}): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const waitMs = (o.waitSeconds ?? 600) * 1000;
  let deadline: number | null = null;
  for (let i = 0; i < plan.length; i++) {
    const blocked = blockedBy(plan, i, outcomes);
    let outcome: Outcome;
    if (blocked) outcome = { status: 'skipped', error: blocked };
    else {
      const step = plan[i]!;
      if (step.action === 'wait-terminated') deadline ??= Date.now() + waitMs;
      try {
        await runStep(c, step, deadline ?? 0, (o.pollSeconds ?? 5) * 1000);
        outcome = { status: 'ok' };
      } catch (e) {
        outcome = { status: 'failed', error: message(e) };
      }
    }
    outcomes.push(outcome);
    o.onOutcome?.(i, outcome);
  }
  return outcomes;
}

async function runStep(c: Clients, s: Step, deadline: number, pollMs: number): Promise<void> {
  const { ec2, iam } = c;
  const arg = s.arg ?? '';
  switch (`${s.action} ${s.kind}`) {
    case 'terminate instance':
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [s.id] }));
      return;
    case 'wait-terminated instance':
      return waitTerminated(ec2, s.id, deadline, pollMs);
    case 'cancel capacity-reservation':
      await ec2.send(new CancelCapacityReservationCommand({ CapacityReservationId: s.id }));
      return;
    case 'delete key-pair':
      await ec2.send(new DeleteKeyPairCommand(s.arg ? { KeyName: s.arg } : { KeyPairId: s.id }));
      return;
    case 'delete placement-group':
      await ec2.send(new DeletePlacementGroupCommand({ GroupName: s.id }));
      return;
    case 'detach internet-gateway':
      await ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: s.id, VpcId: arg }));
      return;
    case 'delete internet-gateway':
      await ec2.send(new DeleteInternetGatewayCommand({ InternetGatewayId: s.id }));
      return;
    case 'disassociate route-table':
      await ec2.send(new DisassociateRouteTableCommand({ AssociationId: arg }));
      return;
    case 'delete route-table':
      await ec2.send(new DeleteRouteTableCommand({ RouteTableId: s.id }));
      return;
    case 'delete subnet':
      await ec2.send(new DeleteSubnetCommand({ SubnetId: s.id }));
      return;
    case 'revoke-references security-group':
      return revokeReferences(ec2, s.id);
    case 'delete security-group':
      await ec2.send(new DeleteSecurityGroupCommand({ GroupId: s.id }));
      return;
    case 'delete vpc':
      await ec2.send(new DeleteVpcCommand({ VpcId: s.id }));
      return;
    case 'remove-role iam-role':
      await iam.send(new RemoveRoleFromInstanceProfileCommand({ RoleName: s.id, InstanceProfileName: arg }));
      return;
    case 'delete instance-profile':
      await iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: s.id }));
      return;
    case 'detach-policy iam-role':
      await iam.send(new DetachRolePolicyCommand({ RoleName: s.id, PolicyArn: arg }));
      return;
    case 'delete-inline-policy iam-role':
      await iam.send(new DeleteRolePolicyCommand({ RoleName: s.id, PolicyName: arg }));
      return;
    case 'delete iam-role':
      await iam.send(new DeleteRoleCommand({ RoleName: s.id }));
      return;
    default:
      throw new Error(`netlab does not know how to ${s.action} a ${s.kind}`);
  }
}

/** Polls until the instance is terminated (or gone), up to the deadline. */
async function waitTerminated(ec2: EC2Client, id: string, deadline: number, pollMs: number): Promise<void> {
  let state = 'unknown';
  for (let i = 0; i < 10_000; i++) {
    try {
      const r = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      state = r.Reservations?.[0]?.Instances?.[0]?.State?.Name ?? 'terminated';
    } catch (e) {
      if ((e as { name?: string }).name === 'InvalidInstanceID.NotFound') return;
      throw e;
    }
    if (state === 'terminated') return;
    if (Date.now() + pollMs > deadline) break;
    await sleep(pollMs);
  }
  throw new Error(`still ${state} when the wait ended`);
}

/** Revokes the rules of a group that name other groups (those groups cannot be deleted while named). */
async function revokeReferences(ec2: EC2Client, groupId: string): Promise<void> {
  const g = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }))).SecurityGroups?.[0];
  if (!g) return;
  const naming = (ps: IpPermission[] | undefined) =>
    (ps ?? [])
      .map((p) => ({
        IpProtocol: p.IpProtocol,
        FromPort: p.FromPort,
        ToPort: p.ToPort,
        UserIdGroupPairs: (p.UserIdGroupPairs ?? []).filter((u) => u.GroupId && u.GroupId !== groupId).map((u) => ({ GroupId: u.GroupId })),
      }))
      .filter((p) => p.UserIdGroupPairs.length);
  const ingress = naming(g.IpPermissions);
  const egress = naming(g.IpPermissionsEgress);
  if (ingress.length) await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: ingress }));
  if (egress.length) await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: egress }));
}
