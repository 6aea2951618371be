// `netlab janitor`, the pure part: what was found tagged `netlab:stack` in a region, grouped by
// stack with ages and the running instances' cost; the `--older-than` durations; the deletion of a
// stack as an ordered plan of steps (dependencies first); and the text the command prints. The AWS
// calls are in janitor-aws.ts, the command in lib/cli/janitor.ts.
import { PRICED_REGIONS, TYPES } from './catalogue.ts';

/** The tag every resource of a netlab aws stack carries (lib/aws/plan.ts). */
export const STACK_TAG = 'netlab:stack';

/** The kinds the janitor finds, in the order a stack's resources are deleted. */
export const KINDS = [
  'instance',
  'capacity-reservation',
  'key-pair',
  'placement-group',
  'internet-gateway',
  'route-table',
  'subnet',
  'security-group',
  'vpc',
  'instance-profile',
  'iam-role',
] as const;
export type Kind = (typeof KINDS)[number];

/** One tagged resource, as listed. */
export interface Found {
  kind: Kind;
  /** The id the API deletes it by (an IAM role's or instance profile's name). */
  id: string;
  stack: string;
  /** Its `Name` tag, a key pair's or placement group's name; null when it has none. */
  name: string | null;
  /** ISO time of launch or creation, where the API gives one. */
  created: string | null;
  /** Instances and capacity reservations: their state. */
  state?: string;
  /** Instances: the type (priced from the catalogue when running). */
  instanceType?: string;
  /** Instances: a spot instance (its price varies: not priced). */
  spot?: boolean;
  /** Internet gateways: the VPCs it is attached to. */
  attachedTo?: string[];
  /** Route tables: their (non-main) subnet associations. */
  associations?: string[];
  /** Security groups: other groups its rules name (they must go before those groups can). */
  refersTo?: string[];
  /** Instance profiles: the roles in it; roles: the instance profiles it is in. */
  roles?: string[];
  profiles?: string[];
  /** Roles: attached managed policies (ARNs) and inline policy names. */
  managedPolicies?: string[];
  inlinePolicies?: string[];
}

export interface Inventory {
  region: string;
  /** ISO time of the listing; ages are counted to it. */
  at: string;
  found: Found[];
  /** What could not be listed (the listing is then incomplete). */
  warnings: string[];
}

export interface ListedResource extends Found {
  ageSeconds: number | null;
  /** Running instances: USD per hour, null = no price in the catalogue; absent otherwise. */
  usdPerHour?: number | null;
}

export interface StackGroup {
  stack: string;
  resources: ListedResource[];
  /** Its oldest resource's age; null when none has a creation time. */
  ageSeconds: number | null;
  /** Its newest resource's age (what --older-than compares); null when none has a creation time. */
  newestSeconds: number | null;
  usdPerHour: number;
  /** Running instances without a price. */
  unpriced: number;
}

export interface Listing {
  region: string;
  at: string;
  olderThanSeconds: number;
  stacks: StackGroup[];
  /** Stacks kept out by --older-than: newer, or no resource with a creation time. */
  leftOut: { stack: string; newestSeconds: number | null; resources: number }[];
  usdPerHour: number;
  unpriced: number;
  warnings: string[];
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
/** The longest --older-than: ten years. */
const MAX_SECONDS = 3650 * 86400;

/**
 * A Go-like duration in seconds: one or more number-and-unit parts (s, m, h, d; decimals allowed),
 * such as 90m, 3h, 2d, 1h30m, 1.5h; or 0. Null for anything else (no unit, a negative or unknown
 * unit, empty, over ten years).
 */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === '0') return 0;
  if (!/^(\d+(\.\d+)?[smhd])+$/.test(s)) return null;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)([smhd])/g)) total += Number(m[1]) * UNITS[m[2]!]!;
  return total <= MAX_SECONDS ? Math.round(total) : null;
}

export const DURATION_EXPECTED = 'a duration such as 90m, 3h, 2d or 1h30m (units s, m, h, d), or 0 for every stack';

/** An age for people: 45s, 12m, 3h 05m, 2d 4h. */
export function formatAge(seconds: number | null): string {
  if (seconds === null) return '-';
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** An instance type's on-demand USD per hour in a region from the catalogue; null when not tabled. */
export function instancePrice(instanceType: string, region: string): number | null {
  const facts = TYPES[instanceType];
  if (!facts || !(PRICED_REGIONS as readonly string[]).includes(region)) return null;
  return facts.usdPerHour;
}

const round4 = (x: number) => Math.round(x * 10000) / 10000;

/** The inventory grouped by stack (sorted by name; resources in deletion order), aged, priced and filtered by --older-than. */
export function groupInventory(inv: Inventory, olderThanSeconds: number): Listing {
  const at = Date.parse(inv.at);
  const byStack = new Map<string, ListedResource[]>();
  for (const f of inv.found) {
    const ageSeconds = f.created === null ? null : Math.max(0, Math.floor((at - Date.parse(f.created)) / 1000));
    const r: ListedResource = { ...f, ageSeconds };
    if (f.kind === 'instance' && f.state === 'running') r.usdPerHour = f.spot ? null : instancePrice(f.instanceType ?? '', inv.region);
    const list = byStack.get(f.stack) ?? [];
    list.push(r);
    byStack.set(f.stack, list);
  }
  const stacks: StackGroup[] = [];
  const leftOut: Listing['leftOut'] = [];
  for (const stack of [...byStack.keys()].sort()) {
    const resources = byStack.get(stack)!.sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || a.id.localeCompare(b.id));
    const ages = resources.map((r) => r.ageSeconds).filter((a): a is number => a !== null);
    const ageSeconds = ages.length ? Math.max(...ages) : null;
    const newestSeconds = ages.length ? Math.min(...ages) : null;
    if (olderThanSeconds > 0 && (newestSeconds === null || newestSeconds <= olderThanSeconds)) {
      leftOut.push({ stack, newestSeconds, resources: resources.length });
      continue;
    }
    const priced = resources.filter((r) => typeof r.usdPerHour === 'number');
    stacks.push({
      stack,
      resources,
      ageSeconds,
      newestSeconds,
      usdPerHour: round4(priced.reduce((s, r) => s + (r.usdPerHour as number), 0)),
      unpriced: resources.filter((r) => r.usdPerHour === null).length,
    });
  }
  return {
    region: inv.region,
    at: inv.at,
    olderThanSeconds,
    stacks,
    leftOut,
    usdPerHour: round4(stacks.reduce((s, g) => s + g.usdPerHour, 0)),
    unpriced: stacks.reduce((s, g) => s + g.unpriced, 0),
    warnings: inv.warnings,
  };
}

export type Action =
  | 'terminate'
  | 'wait-terminated'
  | 'cancel'
  | 'delete'
  | 'detach'
  | 'disassociate'
  | 'revoke-references'
  | 'remove-role'
  | 'detach-policy'
  | 'delete-inline-policy';

/** One call (or bounded wait) of the deletion. */
export interface Step {
  stack: string;
  action: Action;
  kind: Kind;
  id: string;
  /** delete key-pair: its name; detach: the VPC; disassociate: the association; remove-role: the profile; *-policy: the policy. */
  arg?: string;
  /** Steps (indices into the plan) that must have succeeded first; else this one is skipped. */
  needs: number[];
}

/**
 * The deletion of these stacks, each in dependency order: instances terminated and waited for,
 * capacity reservations cancelled, key pairs, placement groups, internet gateways (detached
 * first), non-main route tables (disassociated first), subnets, security groups (rules naming
 * other groups revoked first), VPCs; then instance profiles (roles removed first) and IAM roles
 * (removed from other profiles, policies detached or deleted first).
 */
export function deletionPlan(stacks: StackGroup[]): Step[] {
  const plan: Step[] = [];
  const add = (s: Omit<Step, 'needs'>, needs: number[] = []) => plan.push({ ...s, needs }) - 1;
  for (const g of stacks) {
    const stack = g.stack;
    const of = (kind: Kind) => g.resources.filter((r) => r.kind === kind);
    const terminated = of('instance').map((r) => ({ id: r.id, step: add({ stack, action: 'terminate', kind: 'instance', id: r.id }) }));
    for (const t of terminated) add({ stack, action: 'wait-terminated', kind: 'instance', id: t.id }, [t.step]);
    for (const r of of('capacity-reservation')) add({ stack, action: 'cancel', kind: r.kind, id: r.id });
    // A key pair goes by its name (arg), which every API version takes.
    for (const r of of('key-pair')) add({ stack, action: 'delete', kind: r.kind, id: r.id, ...(r.name ? { arg: r.name } : {}) });
    for (const r of of('placement-group')) add({ stack, action: 'delete', kind: r.kind, id: r.id });
    for (const r of of('internet-gateway')) {
      const detached = (r.attachedTo ?? []).map((vpc) => add({ stack, action: 'detach', kind: r.kind, id: r.id, arg: vpc }));
      add({ stack, action: 'delete', kind: r.kind, id: r.id }, detached);
    }
    for (const r of of('route-table')) {
      const gone = (r.associations ?? []).map((a) => add({ stack, action: 'disassociate', kind: r.kind, id: r.id, arg: a }));
      add({ stack, action: 'delete', kind: r.kind, id: r.id }, gone);
    }
    for (const r of of('subnet')) add({ stack, action: 'delete', kind: r.kind, id: r.id });
    for (const r of of('security-group')) if (r.refersTo?.length) add({ stack, action: 'revoke-references', kind: r.kind, id: r.id });
    for (const r of of('security-group')) add({ stack, action: 'delete', kind: r.kind, id: r.id });
    for (const r of of('vpc')) add({ stack, action: 'delete', kind: r.kind, id: r.id });
    const profiles = of('instance-profile');
    for (const r of profiles) {
      const removed = (r.roles ?? []).map((role) => add({ stack, action: 'remove-role', kind: 'iam-role', id: role, arg: r.id }));
      add({ stack, action: 'delete', kind: r.kind, id: r.id }, removed);
    }
    const handled = new Set(profiles.map((p) => p.id));
    for (const r of of('iam-role')) {
      const first = [
        ...(r.profiles ?? []).filter((p) => !handled.has(p)).map((p) => add({ stack, action: 'remove-role', kind: r.kind, id: r.id, arg: p })),
        ...(r.managedPolicies ?? []).map((p) => add({ stack, action: 'detach-policy', kind: r.kind, id: r.id, arg: p })),
        ...(r.inlinePolicies ?? []).map((p) => add({ stack, action: 'delete-inline-policy', kind: r.kind, id: r.id, arg: p })),
      ];
      add({ stack, action: 'delete', kind: r.kind, id: r.id }, first);
    }
  }
  return plan;
}

const NOUN: Record<Kind, string> = {
  instance: 'instance',
  'capacity-reservation': 'capacity reservation',
  'key-pair': 'key pair',
  'placement-group': 'placement group',
  'internet-gateway': 'internet gateway',
  'route-table': 'route table',
  subnet: 'subnet',
  'security-group': 'security group',
  vpc: 'VPC',
  'instance-profile': 'instance profile',
  'iam-role': 'IAM role',
};

/** A step in words: "detach internet gateway igw-1 from vpc-1". */
export function describeStep(s: Step): string {
  const what = `${NOUN[s.kind]} ${s.id}`;
  switch (s.action) {
    case 'terminate':
      return `terminate ${what}`;
    case 'wait-terminated':
      return `wait until ${what} is terminated`;
    case 'cancel':
      return `cancel ${what}`;
    case 'delete':
      return `delete ${what}`;
    case 'detach':
      return `detach ${what} from ${s.arg}`;
    case 'disassociate':
      return `disassociate ${what} from ${s.arg}`;
    case 'revoke-references':
      return `revoke the rules of ${what} that name other security groups`;
    case 'remove-role':
      return `remove ${what} from instance profile ${s.arg}`;
    case 'detach-policy':
      return `detach policy ${s.arg} from ${what}`;
    case 'delete-inline-policy':
      return `delete inline policy ${s.arg} of ${what}`;
  }
}

export type Outcome = { status: 'ok' } | { status: 'failed'; error: string } | { status: 'skipped'; error: string };

/** Whether a step runs, given the outcomes so far: skipped (with why) when a step it needs did not succeed. */
export function blockedBy(plan: Step[], index: number, outcomes: (Outcome | undefined)[]): string | null {
  const bad = plan[index]!.needs.filter((n) => outcomes[n]?.status !== 'ok');
  if (!bad.length) return null;
  return `not tried: ${bad.map((n) => `step ${n + 1} (${describeStep(plan[n]!)})`).join(', ')} did not succeed`;
}

/** Columns padded to their widest cell, two spaces apart, trailing blanks trimmed. */
export function columns(rows: string[][], indent = ''): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => (indent + r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).trimEnd());
}

const usd = (x: number) => x.toFixed(4);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function costCell(r: ListedResource): string {
  if (r.usdPerHour === undefined) return '-';
  return r.usdPerHour === null ? 'no price' : usd(r.usdPerHour);
}

function stackCost(g: { usdPerHour: number; unpriced: number }): string {
  return `${usd(g.usdPerHour)} USD/h${g.unpriced ? ` + ${plural(g.unpriced, 'running instance')} with no price` : ''}`;
}

/** The listing for people: per stack a header line and a table of its resources, then the total and what was left out. */
export function renderListing(l: Listing): string {
  const out: string[] = [];
  const n = l.stacks.reduce((s, g) => s + g.resources.length, 0);
  const filter = l.olderThanSeconds > 0 ? `stacks whose newest resource is older than ${formatAge(l.olderThanSeconds)}` : 'every stack';
  out.push(`netlab janitor: region ${l.region} (IAM is global), ${filter}, at ${l.at}`);
  for (const g of l.stacks) {
    out.push('');
    out.push(
      `stack ${g.stack}: ${plural(g.resources.length, 'resource')}, age ${formatAge(g.ageSeconds)} (newest ${formatAge(g.newestSeconds)}), ${stackCost(g)}`,
    );
    const rows = [['kind', 'id', 'name', 'age', 'state', 'USD/h']];
    for (const r of g.resources) rows.push([r.kind, r.id, r.name ?? '-', formatAge(r.ageSeconds), r.state ?? '-', costCell(r)]);
    out.push(...columns(rows, '  '));
  }
  out.push('');
  out.push(
    l.stacks.length
      ? `total: ${plural(l.stacks.length, 'stack')}, ${plural(n, 'resource')}, ${stackCost(l)} (running instances at the on-demand prices of lib/aws/catalogue.ts)`
      : `total: no netlab stack${l.olderThanSeconds > 0 ? ' old enough' : ''} (no resource tagged ${STACK_TAG}${l.olderThanSeconds > 0 ? ' in a stack that old' : ''})`,
  );
  for (const x of l.leftOut)
    out.push(
      `left out: stack ${x.stack} (${plural(x.resources, 'resource')}): ${x.newestSeconds === null ? 'no creation time known' : `newest ${formatAge(x.newestSeconds)}`}, not older than ${formatAge(l.olderThanSeconds)}`,
    );
  for (const w of l.warnings) out.push(`warning: ${w}`);
  return out.join('\n') + '\n';
}

/** What --yes would do, step by step (printed without --yes). */
export function renderPlan(plan: Step[], command: string): string {
  if (!plan.length) return 'nothing to delete\n';
  const head = `nothing was changed; \`${command} --yes\` would run these ${plural(plan.length, 'step')}:`;
  return (
    [
      head,
      ...columns(
        plan.map((s, i) => [`${i + 1}.`, s.stack, describeStep(s)]),
        '  ',
      ),
    ].join('\n') + '\n'
  );
}

/** One step's outcome line, printed as it ends. */
export function renderOutcome(plan: Step[], index: number, o: Outcome): string {
  const s = plan[index]!;
  const head = `${String(index + 1).padStart(String(plan.length).length)}/${plan.length} ${o.status === 'ok' ? 'ok     ' : o.status === 'failed' ? 'FAILED ' : 'skipped'} ${s.stack}: ${describeStep(s)}`;
  return o.status === 'ok' ? head : `${head}: ${o.error}`;
}

export interface DeletionReport {
  steps: (Step & Outcome)[];
  ok: number;
  failed: number;
  skipped: number;
  /** What a second listing still found of the deleted stacks. */
  left: Found[];
}

/** The end of a deletion: the counts, and each resource still there. */
export function renderDeletionSummary(r: DeletionReport): string {
  const out = [`deleted: ${r.ok} of ${plural(r.steps.length, 'step')} ok, ${r.failed} failed, ${r.skipped} skipped`];
  if (!r.left.length) out.push('left: nothing of these stacks');
  else {
    out.push(`left: ${plural(r.left.length, 'resource')}`);
    out.push(
      ...columns(
        r.left.map((f) => [f.stack, f.kind, f.id, f.name ?? '-']),
        '  ',
      ),
    );
  }
  return out.join('\n') + '\n';
}

/** The listing as JSON (and the deletion, when there was one). */
export function listingJson(l: Listing, plan: Step[], deletion: DeletionReport | null): unknown {
  return {
    region: l.region,
    at: l.at,
    olderThanSeconds: l.olderThanSeconds,
    stacks: l.stacks,
    leftOut: l.leftOut,
    usdPerHour: l.usdPerHour,
    unpricedRunningInstances: l.unpriced,
    warnings: l.warnings,
    plan: plan.map((s) => ({ ...s, text: describeStep(s) })),
    deletion: deletion && { ...deletion, steps: deletion.steps.map((s) => ({ ...s, text: describeStep(s) })) },
  };
}
