import { describe, expect, it } from 'vitest';
import { KkoError } from '../errors.js';
import { formatReference, kkImageNameProblem, parseReference } from './reference.js';

describe('parseReference', () => {
  it.each([
    ['redis:5', { registry: 'docker.io', repository: 'library/redis', tag: '5' }],
    ['calico/node:v3.27.3', { registry: 'docker.io', repository: 'calico/node', tag: 'v3.27.3' }],
    ['docker.io/kubesphere/pause:3.9', { registry: 'docker.io', repository: 'kubesphere/pause', tag: '3.9' }],
    ['index.docker.io/library/alpine', { registry: 'docker.io', repository: 'library/alpine' }],
    ['127.0.0.1:5000/hub/calico/cni:v1', { registry: '127.0.0.1:5000', repository: 'hub/calico/cni', tag: 'v1' }],
    ['localhost/a/b:1', { registry: 'localhost', repository: 'a/b', tag: '1' }],
    ['quay.io/argoproj/argocd@sha256:' + 'a'.repeat(64), { registry: 'quay.io', repository: 'argoproj/argocd', digest: 'sha256:' + 'a'.repeat(64) }],
    ['minio/minio:RELEASE.2019-08-07T01-59-21Z', { registry: 'docker.io', repository: 'minio/minio', tag: 'RELEASE.2019-08-07T01-59-21Z' }],
  ])('%s', (input, want) => {
    const ref = parseReference(input);
    expect(ref).toEqual(want);
    expect(parseReference(formatReference(ref))).toEqual(ref);
  });

  it.each(['', 'UPPER/case:1', 'a//b:1', 'docker.io/x:bad tag', 'x@sha256:zz', 'bad_host:99999999/a/b:1'])('rejects %j', (input) => {
    expect(() => parseReference(input)).toThrow(KkoError);
    try {
      parseReference(input);
    } catch (err) {
      expect((err as KkoError).code).toBe('INVALID_REFERENCE');
    }
  });
});

describe('kkImageNameProblem (kk validateImageName)', () => {
  it.each([
    ['docker.io/library/redis:5', false],
    ['registry.cn-beijing.aliyuncs.com/kubesphereio/pause:3.9', false],
    ['redis:5', true],
    ['library/redis:5', true],
    ['docker.io/library/redis', true],
    ['docker.io/library/redis@sha256:' + 'a'.repeat(64), true],
    ['127.0.0.1:5000/library/redis:5', false],
  ])('%s → problem=%s', (raw, bad) => {
    expect(kkImageNameProblem(raw) !== undefined).toBe(bad);
  });
});
