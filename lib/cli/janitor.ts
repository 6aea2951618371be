// The janitor verb: everything tagged netlab:stack in a region (and IAM), grouped by stack with
// age and running cost; with --yes, deleted stack by stack in dependency order.
import type { Command } from 'commander';
// The AWS SDK (half a second to load) only when the janitor runs: every other verb starts without it.
import type { Clients } from '../aws/janitor-aws.ts';
import {
  type DeletionReport,
  DURATION_EXPECTED,
  deletionPlan,
  groupInventory,
  listingJson,
  parseDuration,
  renderDeletionSummary,
  renderListing,
  renderOutcome,
  renderPlan,
} from '../aws/janitor.ts';
import { flags, httpTarget } from './usage.ts';

interface JanitorOptions {
  region?: string;
  olderThan: string;
  yes?: boolean;
  json?: boolean;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

export function janitorCommand(program: Command): void {
  program
    .command('janitor')
    .description(
      'aws: list everything tagged netlab:stack in a region (and IAM roles and instance profiles) by stack, with age and running cost; --yes deletes it in dependency order',
    )
    .option('--region <region>', 'the region (default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1)')
    .option('--older-than <duration>', 'only stacks whose newest resource is older than this: 90m, 3h, 2d, 1h30m; 0 = every stack', '0')
    .option('--yes', 'delete what is listed (without it nothing is changed)')
    .option('--json', 'print JSON')
    .action(janitor);
}

/** The checked options: refusals (exit 2) before any AWS call. */
function options(o: JanitorOptions): { region: string; olderThan: number; endpoint: string | undefined } {
  const f = flags('janitor');
  const olderThan = parseDuration(o.olderThan);
  if (olderThan === null) throw f.refuse('--older-than', o.olderThan, DURATION_EXPECTED);
  const region = o.region ?? (process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1');
  if (!REGION.test(region)) throw f.refuse(o.region ? '--region' : 'region (from AWS_REGION/AWS_DEFAULT_REGION)', region, 'a region name such as us-east-1');
  const endpoint = process.env.NETLAB_AWS_ENDPOINT || undefined;
  if (endpoint) {
    let ok = false;
    try {
      const u = new URL(endpoint);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password && (u.protocol === 'https:' || !!httpTarget(endpoint));
    } catch {}
    if (!ok) throw f.refuse('NETLAB_AWS_ENDPOINT', endpoint, 'an http:// or https:// URL of an AWS API endpoint (an emulator), without credentials');
  }
  return { region, olderThan, endpoint };
}

async function janitor(o: JanitorOptions): Promise<void> {
  const { region, olderThan, endpoint } = options(o);
  const aws = await import('../aws/janitor-aws.ts');
  const clients = aws.awsClients(region, endpoint);
  try {
    process.exitCode = await listAndDelete(aws, clients, o, olderThan);
  } finally {
    clients.ec2.destroy();
    clients.iam.destroy();
  }
}

/** The listing, and with --yes the deletion; the exit code: 0 all done, 1 something failed, was left or not listed, 2 nothing could be listed. */
async function listAndDelete(
  { LISTINGS, listTagged, runPlan }: typeof import('../aws/janitor-aws.ts'),
  clients: Clients,
  o: JanitorOptions,
  olderThan: number,
): Promise<number> {
  const out = (s: string) => process.stdout.write(s);
  const inventory = await listTagged(clients);
  if (inventory.warnings.length === LISTINGS) {
    // No credentials, no network: one line.
    process.stderr.write(`netlab: janitor: nothing could be listed in ${clients.region}; ${inventory.warnings[0]}\n`);
    return 2;
  }
  const listing = groupInventory(inventory, olderThan);
  const plan = deletionPlan(listing.stacks);
  if (!o.yes) {
    const command = `netlab janitor --region ${clients.region}${olderThan ? ` --older-than ${o.olderThan}` : ''}`;
    out(o.json ? JSON.stringify(listingJson(listing, plan, null), null, 2) + '\n' : renderListing(listing) + '\n' + renderPlan(plan, command));
    return listing.warnings.length ? 1 : 0;
  }
  if (!o.json) out(renderListing(listing) + '\n' + (plan.length ? `deleting: ${plan.length} steps\n` : 'nothing to delete\n'));
  const outcomes = await runPlan(clients, plan, { onOutcome: (i, oc) => !o.json && out(renderOutcome(plan, i, oc) + '\n') });
  const stacks = new Set(listing.stacks.map((g) => g.stack));
  const after = plan.length ? await listTagged(clients) : { found: [], warnings: [] };
  const steps = plan.map((s, i) => ({ ...s, ...outcomes[i]! }));
  const report: DeletionReport = {
    steps,
    ok: steps.filter((s) => s.status === 'ok').length,
    failed: steps.filter((s) => s.status === 'failed').length,
    skipped: steps.filter((s) => s.status === 'skipped').length,
    left: after.found.filter((f) => stacks.has(f.stack)),
  };
  const late = after.warnings.filter((w) => !listing.warnings.includes(w)).map((w) => `after deleting: ${w}`);
  listing.warnings.push(...late);
  if (o.json) out(JSON.stringify(listingJson(listing, plan, report), null, 2) + '\n');
  else out('\n' + renderDeletionSummary(report) + late.map((w) => `warning: ${w}\n`).join(''));
  return report.failed || report.skipped || report.left.length || listing.warnings.length ? 1 : 0;
}
