import { describe, expect, it } from 'vitest';
import { formatProblem } from './types.js';

// A problem's path can come from the artifact's own SHA256SUMS: one hostile line stays one short line.
describe('formatProblem', () => {
  it('keeps an ordinary path as it is', () => {
    expect(
      formatProblem({ kind: 'missing', path: 'kube/v1.28.0/amd64/kubeadm', detail: 'listed in kko/SHA256SUMS' }),
    ).toBe('missing: kube/v1.28.0/amd64/kubeadm (listed in kko/SHA256SUMS)');
  });

  it.each([
    ['a 1 MB path', 'p'.repeat(1024 * 1024), /^missing: p{512}… \(1048576 characters\) \(listed in kko\/SHA256SUMS\)$/],
    [
      'control characters',
      'a\u001b]0;x\u0007\r\nok\u009b',
      /^missing: a\\u001b\]0;x\\u0007\\u000d\\u000aok\\u009b \(listed/,
    ],
  ])('cuts and escapes %s', (_what, path, want) => {
    const line = formatProblem({ kind: 'missing', path, detail: 'listed in kko/SHA256SUMS' });
    expect(line).toMatch(want);
    expect(line.length).toBeLessThan(600);
    // eslint-disable-next-line no-control-regex -- the point: no raw control character in the line
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});
