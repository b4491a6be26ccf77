// Small helpers for the "v1.28.12" / "1.7.13" / "v1.26" style versions used throughout kk's data.

// Numeric parts of a version, ignoring a leading "v" and any pre-release or build suffix.
export function versionParts(version: string): number[] {
  const core = version.replace(/^v/, '').split(/[-+]/)[0] ?? '';
  return core.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : Number.NaN));
}

// Natural order: v1.19.8 < v1.19.15 < v1.20.0. Non-numeric parts sort after numeric ones, then by text.
export function compareVersions(a: string, b: string): number {
  const pa = versionParts(a);
  const pb = versionParts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return Number.isNaN(x) ? 1 : -1;
      continue;
    }
    if (x !== y) return x - y;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

// "v1.28.12" -> "v1.28"
export function minorOf(version: string): string {
  const [maj, min] = versionParts(version);
  return `v${maj ?? 0}.${min ?? 0}`;
}

// True when `version`'s minor lies in [min, max] (both minors like "v1.21"); either bound may be absent.
export function minorInRange(version: string, range: { min?: string | undefined; max?: string | undefined }): boolean {
  const m = minorOf(version);
  if (range.min !== undefined && compareVersions(m, range.min) < 0) return false;
  if (range.max !== undefined && compareVersions(m, minorOf(range.max)) > 0) return false;
  return true;
}

// The `count` known versions nearest to `wanted` (same minor first), for "did you mean" hints.
export function nearestVersions(wanted: string, known: readonly string[], count = 3): string[] {
  const w = versionParts(wanted).map((n) => (Number.isNaN(n) ? 0 : n));
  const score = (v: string): number => {
    const p = versionParts(v).map((n) => (Number.isNaN(n) ? 0 : n));
    return (
      Math.abs((p[0] ?? 0) - (w[0] ?? 0)) * 1e6 +
      Math.abs((p[1] ?? 0) - (w[1] ?? 0)) * 1e3 +
      Math.abs((p[2] ?? 0) - (w[2] ?? 0))
    );
  };
  return [...known]
    .sort((a, b) => score(a) - score(b) || compareVersions(a, b))
    .slice(0, count)
    .sort(compareVersions);
}

export function isVersionLike(value: string): boolean {
  return /^v?\d+(\.\d+){0,3}([-+][\w.-]+)?$/.test(value);
}

// kk's normalizedBuildVersion (cmd/kk/pkg/common/loader.go:300-307): "1.28.12" → "v1.28.12"; anything else unchanged.
export function withVPrefix(version: string): string {
  return /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)([-0-9a-zA-Z_.+]*)?$/.test(version) ? `v${version}` : version;
}
