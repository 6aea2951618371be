// The janitor's pure part: durations, ages, prices, grouping and --older-than, the deletion order,
// and the exact text it prints.
import test from 'ava';
import {
  blockedBy,
  deletionPlan,
  describeStep,
  formatAge,
  groupInventory,
  type Inventory,
  instancePrice,
  parseDuration,
  renderDeletionSummary,
  renderListing,
  renderOutcome,
  renderPlan,
} from '../../../lib/aws/janitor.ts';

test('parseDuration: Go-like durations in seconds; 0; everything else refused (null)', (t) => {
  const ok: [string, number][] = [
    ['0', 0],
    ['90m', 5400],
    ['3h', 10800],
    ['2d', 172800],
    ['1h30m', 5400],
    ['1.5h', 5400],
    ['45s', 45],
    ['0s', 0],
  ];
  for (const [s, n] of ok) t.is(parseDuration(s), n, s);
  for (const s of ['', '3', '3w', '-1h', '1h 30m', 'h', '1.h', '3H', '99999d', 'abc']) t.is(parseDuration(s), null, s);
});

test('formatAge: seconds, minutes, hours and minutes, days and hours; - when unknown', (t) => {
  t.deepEqual([0, 59, 60, 3599, 3600, 3660 + 5, 86399, 86400, 2 * 86400 + 4 * 3600 + 59, null].map(formatAge), [
    '0s',
    '59s',
    '1m',
    '59m',
    '1h 00m',
    '1h 01m',
    '23h 59m',
    '1d 0h',
    '2d 4h',
    '-',
  ]);
});

test('instancePrice: the catalogue price in a tabled region; null for an untabled type or region', (t) => {
  t.is(instancePrice('c4.8xlarge', 'us-east-1'), 1.591);
  t.is(instancePrice('m7i.large', 'us-east-1'), null);
  t.is(instancePrice('c4.8xlarge', 'eu-west-1'), null);
});

const AT = '2026-01-01T12:00:00.000Z';
const INV: Inventory = {
  region: 'us-east-1',
  at: AT,
  warnings: [],
  found: [
    { kind: 'vpc', id: 'vpc-a', stack: 'a', name: 'a-vpc', created: null },
    { kind: 'instance', id: 'i-a2', stack: 'a', name: 'a-client', created: '2026-01-01T09:00:00.000Z', state: 'running', instanceType: 'c4.8xlarge' },
    { kind: 'instance', id: 'i-a1', stack: 'a', name: 'a-server', created: '2026-01-01T08:55:00.000Z', state: 'running', instanceType: 'c4.8xlarge' },
    { kind: 'key-pair', id: 'key-a', stack: 'a', name: 'a-key', created: '2026-01-01T08:50:00.000Z' },
    { kind: 'internet-gateway', id: 'igw-a', stack: 'a', name: 'a-igw', created: null, attachedTo: ['vpc-a'] },
    { kind: 'route-table', id: 'rtb-a', stack: 'a', name: 'a-rt', created: null, associations: ['rtbassoc-a'] },
    { kind: 'subnet', id: 'subnet-a', stack: 'a', name: 'a-subnet', created: null },
    { kind: 'security-group', id: 'sg-a', stack: 'a', name: 'a-sg', created: null, refersTo: [] },
    { kind: 'placement-group', id: 'a-pg', stack: 'a', name: null, created: null, state: 'available' },
    {
      kind: 'capacity-reservation',
      id: 'cr-a',
      stack: 'a',
      name: 'a-capacity',
      created: '2026-01-01T08:52:00.000Z',
      state: 'active',
      instanceType: 'c4.8xlarge',
    },
    { kind: 'instance', id: 'i-b1', stack: 'b', name: 'b-server', created: '2026-01-01T11:30:00.000Z', state: 'running', instanceType: 'm7i.large' },
    { kind: 'instance', id: 'i-b2', stack: 'b', name: 'b-client', created: '2026-01-01T11:29:30.000Z', state: 'stopped', instanceType: 'c4.large' },
    { kind: 'security-group', id: 'sg-b2', stack: 'b', name: 'b-sg2', created: null, refersTo: ['sg-b1'] },
    { kind: 'security-group', id: 'sg-b1', stack: 'b', name: 'b-sg', created: null, refersTo: [] },
    {
      kind: 'iam-role',
      id: 'b-role',
      stack: 'b',
      name: null,
      created: '2026-01-01T11:29:00.000Z',
      managedPolicies: ['arn:p'],
      inlinePolicies: ['inline'],
      profiles: ['b-profile', 'other'],
    },
    { kind: 'instance-profile', id: 'b-profile', stack: 'b', name: null, created: '2026-01-01T11:29:10.000Z', roles: ['b-role'] },
    { kind: 'vpc', id: 'vpc-c', stack: 'c', name: 'c-vpc', created: null },
  ],
};

test('groupInventory: stacks by name, resources in deletion order, ages, running instances priced, totals', (t) => {
  const l = groupInventory(INV, 0);
  t.deepEqual(
    l.stacks.map((g) => [g.stack, g.ageSeconds, g.newestSeconds, g.usdPerHour, g.unpriced, g.resources.map((r) => r.id)]),
    [
      ['a', 11400, 10800, 3.182, 0, ['i-a1', 'i-a2', 'cr-a', 'key-a', 'a-pg', 'igw-a', 'rtb-a', 'subnet-a', 'sg-a', 'vpc-a']],
      ['b', 1860, 1800, 0, 1, ['i-b1', 'i-b2', 'sg-b1', 'sg-b2', 'b-profile', 'b-role']],
      ['c', null, null, 0, 0, ['vpc-c']],
    ],
  );
  t.deepEqual(
    l.stacks[1]!.resources.slice(0, 2).map((r) => r.usdPerHour),
    [null, undefined],
  );
  t.is(l.usdPerHour, 3.182);
  const spot = groupInventory({ ...INV, found: [{ ...INV.found[1]!, spot: true }] }, 0);
  t.deepEqual([spot.usdPerHour, spot.unpriced], [0, 1]);
  t.is(l.unpriced, 1);
  t.deepEqual(l.leftOut, []);
});

test('groupInventory --older-than: a stack is taken when its newest resource is older; one without any creation time is left out', (t) => {
  const l = groupInventory(INV, 3 * 3600);
  t.deepEqual(l.stacks, []);
  t.deepEqual(l.leftOut, [
    { stack: 'a', newestSeconds: 10800, resources: 10 },
    { stack: 'b', newestSeconds: 1800, resources: 6 },
    { stack: 'c', newestSeconds: null, resources: 1 },
  ]);
  t.deepEqual(
    groupInventory(INV, 2 * 3600).stacks.map((g) => g.stack),
    ['a'],
  );
});

test('deletionPlan: per stack, dependencies first; each preliminary step needed by its resource’s deletion', (t) => {
  const plan = deletionPlan(groupInventory(INV, 0).stacks);
  t.deepEqual(
    plan.map((s, i) => `${i + 1}. ${s.stack}: ${describeStep(s)}${s.needs.length ? ` (after ${s.needs.map((n) => n + 1).join(', ')})` : ''}`),
    [
      '1. a: terminate instance i-a1',
      '2. a: terminate instance i-a2',
      '3. a: wait until instance i-a1 is terminated (after 1)',
      '4. a: wait until instance i-a2 is terminated (after 2)',
      '5. a: cancel capacity reservation cr-a',
      '6. a: delete key pair key-a',
      '7. a: delete placement group a-pg',
      '8. a: detach internet gateway igw-a from vpc-a',
      '9. a: delete internet gateway igw-a (after 8)',
      '10. a: disassociate route table rtb-a from rtbassoc-a',
      '11. a: delete route table rtb-a (after 10)',
      '12. a: delete subnet subnet-a',
      '13. a: delete security group sg-a',
      '14. a: delete VPC vpc-a',
      '15. b: terminate instance i-b1',
      '16. b: terminate instance i-b2',
      '17. b: wait until instance i-b1 is terminated (after 15)',
      '18. b: wait until instance i-b2 is terminated (after 16)',
      '19. b: revoke the rules of security group sg-b2 that name other security groups',
      '20. b: delete security group sg-b1',
      '21. b: delete security group sg-b2',
      '22. b: remove IAM role b-role from instance profile b-profile',
      '23. b: delete instance profile b-profile (after 22)',
      '24. b: remove IAM role b-role from instance profile other',
      '25. b: detach policy arn:p from IAM role b-role',
      '26. b: delete inline policy inline of IAM role b-role',
      '27. b: delete IAM role b-role (after 24, 25, 26)',
      '28. c: delete VPC vpc-c',
    ],
  );
  t.is(plan[5]!.arg, 'a-key');
});

test('blockedBy: a step whose needed step failed or was skipped is not tried, and says which', (t) => {
  const plan = deletionPlan(groupInventory(INV, 0).stacks);
  const outcomes = plan.map(() => ({ status: 'ok' as const }) as const) as ({ status: 'ok' } | { status: 'failed'; error: string })[];
  outcomes[7] = { status: 'failed', error: 'x' };
  t.is(blockedBy(plan, 8, outcomes), 'not tried: step 8 (detach internet gateway igw-a from vpc-a) did not succeed');
  t.is(blockedBy(plan, 10, outcomes), null);
  t.is(blockedBy(plan, 0, []), null);
});

test('renderListing: exact text', (t) => {
  const l = groupInventory({ ...INV, warnings: ['placement groups not listed: AccessDenied'] }, 0);
  t.is(
    renderListing(l),
    `netlab janitor: region us-east-1 (IAM is global), every stack, at ${AT}

stack a: 10 resources, age 3h 10m (newest 3h 00m), 3.1820 USD/h
  kind                  id        name        age     state      USD/h
  instance              i-a1      a-server    3h 05m  running    1.5910
  instance              i-a2      a-client    3h 00m  running    1.5910
  capacity-reservation  cr-a      a-capacity  3h 08m  active     -
  key-pair              key-a     a-key       3h 10m  -          -
  placement-group       a-pg      -           -       available  -
  internet-gateway      igw-a     a-igw       -       -          -
  route-table           rtb-a     a-rt        -       -          -
  subnet                subnet-a  a-subnet    -       -          -
  security-group        sg-a      a-sg        -       -          -
  vpc                   vpc-a     a-vpc       -       -          -

stack b: 6 resources, age 31m (newest 30m), 0.0000 USD/h + 1 running instance with no price
  kind              id         name      age  state    USD/h
  instance          i-b1       b-server  30m  running  no price
  instance          i-b2       b-client  30m  stopped  -
  security-group    sg-b1      b-sg      -    -        -
  security-group    sg-b2      b-sg2     -    -        -
  instance-profile  b-profile  -         30m  -        -
  iam-role          b-role     -         31m  -        -

stack c: 1 resource, age - (newest -), 0.0000 USD/h
  kind  id     name   age  state  USD/h
  vpc   vpc-c  c-vpc  -    -      -

total: 3 stacks, 17 resources, 3.1820 USD/h + 1 running instance with no price (running instances at the on-demand prices of lib/aws/catalogue.ts)
warning: placement groups not listed: AccessDenied
`,
  );
});

test('renderListing with --older-than: what was left out, and why', (t) => {
  t.is(
    renderListing(groupInventory(INV, 2 * 3600))
      .split('\n\n')
      .at(-1),
    `total: 1 stack, 10 resources, 3.1820 USD/h (running instances at the on-demand prices of lib/aws/catalogue.ts)
left out: stack b (6 resources): newest 30m, not older than 2h 00m
left out: stack c (1 resource): no creation time known, not older than 2h 00m
`,
  );
  t.is(
    renderListing({ ...groupInventory({ ...INV, found: [] }, 0) }),
    `netlab janitor: region us-east-1 (IAM is global), every stack, at ${AT}\n\ntotal: no netlab stack (no resource tagged netlab:stack)\n`,
  );
});

test('renderPlan, renderOutcome, renderDeletionSummary: exact text', (t) => {
  const plan = deletionPlan(groupInventory({ ...INV, found: INV.found.filter((f) => f.stack === 'c' || f.id === 'igw-a') }, 0).stacks);
  t.is(
    renderPlan(plan, 'netlab janitor --region us-east-1'),
    `nothing was changed; \`netlab janitor --region us-east-1 --yes\` would run these 3 steps:
  1.  a  detach internet gateway igw-a from vpc-a
  2.  a  delete internet gateway igw-a
  3.  c  delete VPC vpc-c
`,
  );
  t.is(renderPlan([], 'netlab janitor'), 'nothing to delete\n');
  t.deepEqual(
    [
      renderOutcome(plan, 0, { status: 'failed', error: 'Gateway.NotAttached: gone' }),
      renderOutcome(plan, 1, { status: 'skipped', error: blockedBy(plan, 1, [{ status: 'failed', error: 'x' }])! }),
      renderOutcome(plan, 2, { status: 'ok' }),
    ],
    [
      '1/3 FAILED  a: detach internet gateway igw-a from vpc-a: Gateway.NotAttached: gone',
      '2/3 skipped a: delete internet gateway igw-a: not tried: step 1 (detach internet gateway igw-a from vpc-a) did not succeed',
      '3/3 ok      c: delete VPC vpc-c',
    ],
  );
  t.is(
    renderDeletionSummary({ steps: [], ok: 1, failed: 1, skipped: 1, left: [INV.found[4]!] }),
    'deleted: 1 of 0 steps ok, 1 failed, 1 skipped\nleft: 1 resource\n  a  internet-gateway  igw-a  a-igw\n',
  );
  t.is(
    renderDeletionSummary({ steps: [], ok: 0, failed: 0, skipped: 0, left: [] }),
    'deleted: 0 of 0 steps ok, 0 failed, 0 skipped\nleft: nothing of these stacks\n',
  );
});
