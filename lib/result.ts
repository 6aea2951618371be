// result.json: the one machine-readable output of a run. The zod schema below is the source of
// truth; docs/result.schema.json is generated from it (`netlab schema`) and checked by a test.
import { z } from 'zod';

export const RESULT_SCHEMA_ID = 'netlab.result/v1';

const LatencyMs = z.object({
  mean: z.number().describe('mean latency per request, ms'),
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  p999: z.number().nullable().describe('null where the tool cannot resolve it (ab: whole percents only)'),
  max: z.number(),
});

export const PointResult = z.object({
  id: z.string(),
  tool: z.enum(['ab', 'wrk']),
  repetition: z.number().int(),
  params: z.object({
    responseBytes: z.number().int(),
    keepalive: z.boolean(),
    concurrency: z.number().int().optional(),
    requests: z.number().int().optional(),
    connections: z.number().int().optional(),
    threads: z.number().int().optional(),
    durationSeconds: z.number().optional(),
  }),
  status: z.enum(['ok', 'invalid', 'failed']).describe('ok; invalid = measured but errors above 1 % or nothing completed; failed = the tool failed or its output could not be read'),
  reason: z.string().optional().describe('why a point is invalid or failed'),
  requests: z.number().int().nullable(),
  errors: z.number().int().nullable().describe('socket-level errors (connect, read, write, timeout)'),
  non2xx: z.number().int().nullable(),
  reqPerSec: z.number().nullable().describe('achieved requests per second'),
  bytesPerResponse: z.number().nullable(),
  latencyMs: LatencyMs.nullable(),
  toolSeconds: z.number().nullable().describe("the tool's own measured duration"),
  wallSeconds: z.number().describe('wall-clock time of the tool run'),
  detail: z.record(z.string(), z.number()).optional(),
  raw: z.array(z.string()).describe('raw output files, relative to the run directory'),
  command: z.array(z.string()),
});
export type PointResult = z.infer<typeof PointResult>;

export const Environment = z.object({
  hostname: z.string(),
  kernel: z.string(),
  os: z.string(),
  arch: z.string(),
  cpuModel: z.string(),
  cpus: z.number().int(),
  memoryBytes: z.number(),
  node: z.string(),
  tools: z.record(z.string(), z.string().nullable()).describe('tool → version line, null if absent'),
});
export type Environment = z.infer<typeof Environment>;

export const Check = z.object({ name: z.string(), ok: z.boolean(), detail: z.string() });
export type Check = z.infer<typeof Check>;

export const RunResult = z.object({
  schema: z.literal(RESULT_SCHEMA_ID),
  runId: z.string(),
  stack: z.string(),
  target: z.string(),
  status: z.enum(['ok', 'failed', 'interrupted']),
  error: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
  spec: z.record(z.string(), z.unknown()).describe('the resolved spec, defaults filled in'),
  environment: Environment,
  setup: z
    .object({
      seconds: z.number().describe('hosts, datapath and server start'),
      pathMtu: z.number().int(),
      client: z.object({ netns: z.string(), ip: z.string() }),
      server: z.object({ netns: z.string(), ip: z.string(), port: z.number().int() }),
      checks: z.array(Check),
    })
    .nullable(),
  teardown: z.object({ seconds: z.number() }).nullable().describe('null when --keep left the lab up'),
  points: z.array(PointResult),
});
export type RunResult = z.infer<typeof RunResult>;

export function resultJsonSchema(): unknown {
  return z.toJSONSchema(RunResult, { target: 'draft-2020-12' });
}
