import { describe, expect, it } from 'vitest';
import { parseManifestText } from '../manifest/index.js';
import { precheckIssues } from './precheck-issues.js';
import type { PrecheckReport } from './precheck.js';

const TEXT = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Manifest
metadata:
  name: x
spec:
  arches: [amd64]
  images:
  - docker.io/library/redis:7
  - docker.io/library/nginx:1
`;

describe('precheckIssues (manifest validate --online, as a library step)', () => {
  it('a failed image is an issue at its spec.images line; sizes as info; short disk and failed files as errors', () => {
    const parsed = parseManifestText(TEXT, '/m/x.yaml').parsed;
    if (!parsed) throw new Error('fixture does not parse');
    const report: PrecheckReport = {
      zone: 'default',
      images: [
        { ref: 'docker.io/library/redis:7', arch: 'amd64', ok: true, size: 2000 },
        { ref: 'docker.io/library/nginx:1', arch: 'amd64', ok: false, code: 'MANIFEST_UNKNOWN', message: 'not found' },
      ],
      files: [{ path: 'helm/v3.14.3/amd64/helm', ok: false, code: 'SOMETHING_ELSE', message: 'HTTP 404' }],
      totalBytes: 2000,
      cachedBytes: 500,
      disks: [{ path: '/cache', freeBytes: 10, neededBytes: 1500, ok: false }],
      ok: false,
    };
    expect(precheckIssues(report, [parsed])).toEqual([
      {
        severity: 'error',
        code: 'MANIFEST_UNKNOWN',
        message: 'docker.io/library/nginx:1 (amd64): not found',
        file: '/m/x.yaml',
        path: 'spec.images[1]',
        line: 9,
        col: 5,
      },
      {
        severity: 'error',
        code: 'ONLINE',
        message: 'helm/v3.14.3/amd64/helm: HTTP 404',
        file: '/m/x.yaml',
        path: 'spec.components',
      },
      {
        severity: 'info',
        code: 'SIZE_ESTIMATE',
        message: 'images need 2.0 KB (layers shared across images counted once), 1.5 KB not yet cached',
      },
      { severity: 'error', code: 'DISK_SPACE', message: '/cache: 10 B free, 1.5 KB needed' },
    ]);
  });
});
