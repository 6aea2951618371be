// The guard's rules as plain objects, so the tests can call them without the policy engine.
// They look at resource properties only (no AWS calls): what `pulumi preview` is about to create.
import type {
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from '@pulumi/policy';
import { isPlaceholderCidr } from '../lib/aws/sweep.ts';
import { GP3_USD_PER_GB_MONTH, HOURS_PER_MONTH, PUBLIC_IPV4_USD_PER_HOUR, TYPES } from '../lib/aws/catalogue.ts';

const INSTANCE = 'aws:ec2/instance:Instance';
const WORLD = new Set(['0.0.0.0/0', '::/0']);

export const DEFAULT_MAX_HOURLY_USD = 10;

/** An instance that can outlive a forgotten stack: no terminate-on-shutdown, or no TTL armed at boot. */
export const ttlRequired: ResourceValidationPolicy = {
  name: 'netlab-ttl-required',
  description: "EC2 instances must terminate on shutdown and arm netlab's time-to-live at boot",
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (args.type === 'aws:ec2/capacityReservation:CapacityReservation') {
      const r = args.props as { endDateType?: string; endDate?: string };
      if (r.endDateType !== 'limited' || !r.endDate)
        report("capacity reservation without an end date: it would bill on after the hosts' time-to-live has ended them");
      return;
    }
    if (args.type !== INSTANCE) return;
    const p = args.props as { instanceInitiatedShutdownBehavior?: string; userData?: string; tags?: Record<string, string> };
    if (p.instanceInitiatedShutdownBehavior !== 'terminate')
      report(
        `instanceInitiatedShutdownBehavior is ${JSON.stringify(p.instanceInitiatedShutdownBehavior ?? 'stop')}, not "terminate": the time-to-live would only stop the host, which keeps its volume (and a stopped host can be restarted)`,
      );
    if (!p.userData?.includes('/usr/local/sbin/netlab-ttl'))
      report('user data does not arm netlab-ttl: nothing ends this host if the stack is never destroyed');
    if (!p.tags?.['netlab:ttl-minutes']) report('tag netlab:ttl-minutes missing: the time-to-live should be visible in the console');
  },
};

function coversSsh(rule: { fromPort?: number; toPort?: number; protocol?: string }): boolean {
  const all = rule.protocol === '-1' || rule.protocol === 'all';
  return all || ((rule.protocol === 'tcp' || rule.protocol === '6') && (rule.fromPort ?? 0) <= 22 && (rule.toPort ?? 65535) >= 22);
}

/** SSH (or all traffic) open to 0.0.0.0/0 or ::/0, in a security group or a separate rule. */
export const noWorldSsh: ResourceValidationPolicy = {
  name: 'netlab-no-world-ssh',
  description: 'No security group may open SSH (or everything) to the whole internet',
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    type Rule = {
      fromPort?: number;
      toPort?: number;
      protocol?: string;
      cidrBlocks?: string[];
      ipv6CidrBlocks?: string[];
      cidrIpv4?: string;
      cidrIpv6?: string;
      ipProtocol?: string;
      type?: string;
    };
    let rules: Rule[] = [];
    if (args.type === 'aws:ec2/securityGroup:SecurityGroup') rules = (args.props as { ingress?: Rule[] }).ingress ?? [];
    else if (args.type === 'aws:ec2/securityGroupRule:SecurityGroupRule' && (args.props as Rule).type === 'ingress') rules = [args.props as Rule];
    else if (args.type === 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule') {
      const r = args.props as Rule;
      rules = [{ ...r, protocol: r.ipProtocol, cidrBlocks: [r.cidrIpv4 ?? '', r.cidrIpv6 ?? ''] }];
    }
    for (const r of rules) {
      const open = [...(r.cidrBlocks ?? []), ...(r.ipv6CidrBlocks ?? [])].filter((c) => WORLD.has(c));
      if (open.length && coversSsh(r))
        report(`ingress ${r.protocol} ${r.fromPort}-${r.toPort} from ${open.join(', ')} opens SSH to the whole internet; use the stack's aws.sshCidr`);
    }
  },
};

/** SSH allowed only from a documentation range (RFC 5737): the stack's placeholder was never replaced. */
export const noPlaceholderSsh: ResourceValidationPolicy = {
  name: 'netlab-no-placeholder-ssh',
  description: 'No security group may take SSH from the documentation placeholder ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24)',
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (args.type !== 'aws:ec2/securityGroup:SecurityGroup') return;
    for (const r of (args.props as { ingress?: { fromPort?: number; toPort?: number; protocol?: string; cidrBlocks?: string[] }[] }).ingress ?? []) {
      const doc = (r.cidrBlocks ?? []).filter((c) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c) && isPlaceholderCidr(c));
      if (doc.length && coversSsh(r))
        report(
          `ingress ${r.protocol} ${r.fromPort}-${r.toPort} from ${doc.join(', ')}: still the documentation placeholder, nobody can reach the hosts; set netlab:aws.sshCidr to your own range`,
        );
    }
  },
};

/** Hourly cost of what the stack creates: instances, gp3 root volumes, public addresses. */
export function stackHourlyCost(resources: Pick<PolicyResource, 'type' | 'props'>[], priceOverride?: number): { usd: number; unknown: string[] } {
  let usd = 0;
  const unknown: string[] = [];
  for (const r of resources) {
    if (r.type !== INSTANCE) continue;
    const p = r.props as { instanceType?: string; rootBlockDevice?: { volumeSize?: number }; associatePublicIpAddress?: boolean };
    const price = priceOverride ?? TYPES[p.instanceType ?? '']?.usdPerHour;
    if (price === undefined) unknown.push(p.instanceType ?? '(no type)');
    else usd += price;
    usd += ((p.rootBlockDevice?.volumeSize ?? 8) * GP3_USD_PER_GB_MONTH) / HOURS_PER_MONTH;
    if (p.associatePublicIpAddress) usd += PUBLIC_IPV4_USD_PER_HOUR;
  }
  return { usd, unknown };
}

export const maxHourlyCost: StackValidationPolicy = {
  name: 'netlab-max-hourly-cost',
  description: "The stack's estimated cost per hour must stay under maxHourlyUsd",
  enforcementLevel: 'mandatory',
  configSchema: {
    properties: {
      maxHourlyUsd: { type: 'number', default: DEFAULT_MAX_HOURLY_USD },
      hourlyPriceUsd: { type: 'number', description: "price of one instance for types or regions netlab's table lacks" },
    },
  },
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const c = args.getConfig<{ maxHourlyUsd?: number; hourlyPriceUsd?: number }>();
    const max = c.maxHourlyUsd ?? DEFAULT_MAX_HOURLY_USD;
    const { usd, unknown } = stackHourlyCost(args.resources, c.hourlyPriceUsd);
    if (unknown.length) report(`no price for ${unknown.join(', ')} in netlab's table: set the pack's hourlyPriceUsd so the cost can be checked`);
    else if (usd > max) report(`estimated ${usd.toFixed(2)} USD per hour is above the limit of ${max.toFixed(2)} (pack config maxHourlyUsd)`);
  },
};

export const POLICIES = [ttlRequired, noWorldSsh, noPlaceholderSsh, maxHourlyCost];
