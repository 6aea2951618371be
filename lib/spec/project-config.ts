// Pulumi.yaml's typed project config (`config:`), as far as netlab's stack reader needs it: which
// top-level keys the project declares as integers. Pulumi stores a plain config value as a string
// (`pulumi stack init` and `pulumi config set` write `netlab:repetitions: "3"`), so for these keys a
// string holding a whole number is read as that number, as the engine's config map is read
// (lib/spec/pulumi-config.ts: JSON.parse of each value).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PROJECT_DIR } from '../core/project.ts';

export const PROJECT_FILE = join(PROJECT_DIR, 'Pulumi.yaml');

const cache = new Map<string, readonly string[]>();

/** The keys (without the `netlab:` namespace) that `file`'s `config:` block types as integer. */
export function integerConfigKeys(file = PROJECT_FILE): readonly string[] {
  let keys = cache.get(file);
  if (!keys) {
    const config = (parse(readFileSync(file, 'utf8')) as { config?: Record<string, { type?: string } | null> } | null)?.config ?? {};
    keys = Object.freeze(
      Object.entries(config)
        .filter(([, d]) => d?.type === 'integer')
        .map(([k]) => k.replace(/^netlab:/, '')),
    );
    cache.set(file, keys);
  }
  return keys;
}

/** A string that JSON would read as a whole number ("3", "-1"; not "03", "3.5", " 3"). */
export const WHOLE_NUMBER_STRING = /^-?(0|[1-9][0-9]*)$/;

/**
 * A parsed stack document with Pulumi's string form of the integer-typed keys read as numbers:
 * `netlab:repetitions: "3"` → 3. Anything else is left as it is, for the spec to judge.
 */
export function withProjectTypes(doc: unknown, keys: readonly string[] = integerConfigKeys()): unknown {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return doc;
  const config = (doc as Record<string, unknown>).config;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return doc;
  const c = config as Record<string, unknown>;
  let out: Record<string, unknown> | null = null;
  for (const k of keys) {
    const v = c[`netlab:${k}`];
    if (typeof v === 'string' && WHOLE_NUMBER_STRING.test(v)) (out ??= { ...c })[`netlab:${k}`] = Number(v);
  }
  return out ? { ...(doc as Record<string, unknown>), config: out } : doc;
}
