// Holding the model to the real thing (issue 16): the nat table the model writes against the one
// the real kube-proxy programs for the same Services, both as the kernel gives them back
// (`iptables-save`, which prints every rule in one canonical form whoever wrote it). Pure: the
// caller loads the model into a scratch namespace and saves it, and reads kube-proxy's save.
import { diffArrays } from 'diff';

/**
 * One table of an iptables-save text, without what differs between any two saves of the same
 * rules: the header and footer comments and the packet/byte counters (of chains and of rules).
 * One order is also left out, because kube-proxy does not fix it: the per-Service rules of
 * KUBE-SERVICES come in the order of a Go map walk, different at every sync, so they are
 * compared sorted, in the positions they hold.
 */
export function normalizeSave(text: string, table = 'nat'): string[] {
  const out = saveLines(text, table);
  const perService = /^-A KUBE-SERVICES .* -j KUBE-SVC-/;
  const at = out.flatMap((l, i) => (perService.test(l) ? [i] : []));
  const sorted = at.map((i) => out[i]!).sort();
  at.forEach((i, k) => {
    out[i] = sorted[k]!;
  });
  return out;
}

function saveLines(text: string, table: string): string[] {
  const out: string[] = [];
  let inTable = false;
  for (const raw of text.split('\n')) {
    const l = raw.trimEnd();
    if (l.startsWith('*')) inTable = l === `*${table}`;
    else if (!inTable || !l || l.startsWith('#') || l === 'COMMIT') continue;
    else if (l.startsWith(':')) out.push(l.replace(/ \[\d+:\d+\]$/, ''));
    else out.push(l.replace(/^\[\d+:\d+\] /, ''));
  }
  return out;
}

export interface RulesetDiff {
  /** Lines the model has and kube-proxy does not, in order. */
  onlyModel: string[];
  /** Lines kube-proxy has and the model does not. */
  onlyReal: string[];
  /** Lines both have. */
  same: number;
}

/** A line diff (Myers, from the `diff` package) of two normalized saves. */
export function diffRulesets(model: string[], real: string[]): RulesetDiff {
  const out: RulesetDiff = { onlyModel: [], onlyReal: [], same: 0 };
  for (const part of diffArrays(model, real)) {
    if (part.added) out.onlyReal.push(...part.value);
    else if (part.removed) out.onlyModel.push(...part.value);
    else out.same += part.value.length;
  }
  return out;
}

/** The first `n` differing lines of each side, for a message. */
export function diffText(d: RulesetDiff, n = 20): string {
  const show = (sign: string, xs: string[]) =>
    xs
      .slice(0, n)
      .map((x) => `${sign} ${x}`)
      .concat(xs.length > n ? [`${sign} … ${xs.length - n} more`] : []);
  return [
    `${d.same} lines the same; ${d.onlyModel.length} only in the model (-), ${d.onlyReal.length} only in kube-proxy's (+)`,
    ...show('-', d.onlyModel),
    ...show('+', d.onlyReal),
  ].join('\n');
}

/**
 * `nft list table` text without what differs between two listings of the same table: the order
 * of a set's or map's elements (nft prints hash sets in its own order) and their line wrapping.
 */
export function normalizeNft(text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (!l) continue;
    const m = /^elements = \{(.*)$/.exec(l);
    if (!m) {
      out.push(l);
      continue;
    }
    let body = m[1]!;
    while (!body.trimEnd().endsWith('}') && i + 1 < lines.length) body += ` ${lines[++i]!.trim()}`;
    const items = body
      .replace(/\}\s*$/, '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
      .sort();
    out.push(`elements = { ${items.join(', ')} }`);
  }
  return out;
}
