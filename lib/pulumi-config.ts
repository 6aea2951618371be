// Pulumi config → Spec: the same validation as `netlab` itself, from the engine's config map.
import { specFromStackDoc, type Spec } from './spec.ts';

/**
 * `allConfig` is what pulumi.runtime.allConfig() returns: 'netlab:key' → value, where structured
 * values arrive JSON-encoded and plain strings arrive as they are.
 */
export function specFromPulumiConfig(stack: string, allConfig: Record<string, string>): Spec {
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(allConfig)) {
    let value: unknown = v;
    try {
      value = JSON.parse(v);
    } catch {
      /* a plain string */
    }
    config[k] = value;
  }
  return specFromStackDoc(stack, { config }, `Pulumi stack ${stack}`);
}
