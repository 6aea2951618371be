// Showing untrusted text: stack files, descriptions and values quoted in errors.

/** Control, format (e.g. bidi overrides) and line/paragraph-separator characters: never shown raw. */
export const NOT_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;

/** `s` with every character NOT_PRINTABLE matches escaped as \uXXXX, so printing it cannot drive a terminal. */
export function printable(s: string): string {
  return s.replace(new RegExp(NOT_PRINTABLE.source, 'gu'), (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

/**
 * A value as JSON, cut to 80 characters (and never rendering more than that). A number YAML reads
 * but JSON cannot hold is shown as YAML writes it: `.nan`, `.inf`, or the text of a Symbol that
 * stackfile.ts puts in its place (such as `1e400`).
 */
export function show(v: unknown): string {
  const s = render(v, 81);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function render(v: unknown, room: number): string {
  if (typeof v === 'symbol') return v.description ?? '?';
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? '.nan' : v > 0 ? '.inf' : '-.inf';
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? String(v);
  const entries = Array.isArray(v) ? v.map((x) => ['', x] as const) : Object.entries(v);
  let out = '';
  for (const [k, x] of entries) {
    if (out.length > room) break;
    out += `${out ? ',' : ''}${Array.isArray(v) ? '' : `${JSON.stringify(k)}:`}${render(x, room - out.length)}`;
  }
  return Array.isArray(v) ? `[${out}]` : `{${out}}`;
}
