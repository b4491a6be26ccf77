// Byte (code unit) order of strings, never locale order: the one sort of deterministic outputs (STYLE rule 9).
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
