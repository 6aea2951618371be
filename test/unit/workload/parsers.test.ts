import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAb, parseWrk, ParseError } from '../../../lib/workload/parsers.ts';
import { FIXTURES } from '../../helpers/paths.ts';

// Fixtures are real output of Debian 12's ab 2.3 and wrk 4.1.0 captured on this machine
// against the lab's nginx (hostgw datapath).
const fx = (f: string) => readFileSync(join(FIXTURES, f), 'utf8');

test('ab without keep-alive', (t) => {
  const m = parseAb(fx('ab-c1-noka.txt'), fx('ab-c1-noka.csv'));
  t.is(m.requests, 2000);
  t.is(m.errors, 0);
  t.is(m.non2xx, 0);
  t.is(m.reqPerSec, 11260.56);
  t.is(m.latencyMs.mean, 0.089);
  t.is(m.toolSeconds, 0.178);
  // A `Connection: close` reply is 5 bytes shorter than the 350-byte keep-alive one.
  t.is(m.bytesPerResponse, 345);
  t.is(m.latencyMs.p999, null);
  t.deepEqual(m.detail, { keepAliveRequests: 0 });
  const csv = Object.fromEntries(
    fx('ab-c1-noka.csv')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',').map(Number)),
  );
  t.deepEqual([m.latencyMs.p50, m.latencyMs.p90, m.latencyMs.p99, m.latencyMs.max], [csv[50], csv[90], csv[99], csv[100]]);
});

test('ab with keep-alive and 4 KB responses', (t) => {
  const m = parseAb(fx('ab-c4-ka.txt'), fx('ab-c4-ka.csv'));
  t.is(m.requests, 5000);
  t.is(m.detail.keepAliveRequests, 4952);
  t.is(m.latencyMs.mean, 0.226); // per concurrent client, not the "across all" figure
  t.is(m.latencyMs.max, 0.7);
  t.true(m.bytesPerResponse! > 4090 && m.bytesPerResponse! <= 4096);
});

test('ab counts non-2xx responses', (t) => {
  const m = parseAb(fx('ab-404.txt'), fx('ab-404.csv'));
  t.is(m.non2xx, 200);
  t.is(m.errors, 0);
});

test('ab output without its summary is an error, not zeros', (t) => {
  t.throws(() => parseAb('apr_socket_connect(): Connection refused (111)\n', ''), {
    instanceOf: ParseError,
    message: 'ab "Complete requests" not found in the tool\'s output',
  });
  const text = fx('ab-c1-noka.txt');
  t.throws(() => parseAb(text, 'Percentage served,Time in ms\n0,0.031\n'), { instanceOf: ParseError, message: 'ab CSV has no 50% row' });
});

test('wrk keep-alive summary line', (t) => {
  const m = parseWrk(fx('wrk-c8-ka.txt'));
  t.is(m.requests, 167991);
  t.is(m.errors, 0);
  t.is(m.toolSeconds, 2.1003);
  t.is(m.reqPerSec, 167991 / 2.1003);
  t.is(Math.round(m.latencyMs.mean * 1e6), 107055);
  t.deepEqual({ ...m.latencyMs, mean: 0 }, { mean: 0, p50: 0.087, p90: 0.127, p99: 0.23, p999: 4.468, max: 6.599 });
  t.is(m.bytesPerResponse, 58788465 / 167991);
  // wrk's own human report agrees with the JSON line.
  t.regex(fx('wrk-c8-ka.txt'), /167991 requests in 2\.10s/);
});

test('wrk with Connection: close', (t) => {
  const m = parseWrk(fx('wrk-c1-noka.txt'));
  t.is(m.requests, 21588);
  t.is(m.bytesPerResponse, 345);
});

test('wrk that could not connect names the reason', (t) => {
  t.throws(() => parseWrk(fx('wrk-unreachable.txt')), {
    instanceOf: ParseError,
    message: 'wrk printed no NETLAB_JSON summary line (unable to connect to 10.244.1.9:80 No route to host)',
  });
});
