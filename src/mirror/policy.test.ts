import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReference } from '../reference/index.js';
import { loadMirrorPolicy, mergeRules, pickConfigFile, pickZone } from './policy.js';
import { resolveImageSources } from './resolve.js';
import type { Zone } from './schema.js';
import { CONTROL_TEXT, expectSafeText, MB_TEXT, messageOf } from '../../test/support/hostile-text.js';

let dir: string;
const HEAD = 'apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\n';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kko-mirror-policy-'));
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'cn.yaml'), `${HEAD}zone: cn\n`);
  await writeFile(join(dir, 'default.yaml'), `${HEAD}zone: default\n`);
  await writeFile(join(dir, 'nozone.yaml'), HEAD);
  await writeFile(
    join(dir, 'sub', 'rules.yaml'),
    `${HEAD}registries:\n- prefix: docker.io\n  mirrors: [{location: 127.0.0.1:5000/hub, plainHTTP: true}]\n  upstream: false\n- prefix: quay.io/calico\n  mirrors: [{location: q.local}]\ndownloads:\n- prefix: https://dl.k8s.io/release/\n  mirrors: [{location: http://127.0.0.1:8080/k8s/}]\n`,
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('pickZone (flag > KKZONE > file > default)', () => {
  it.each<[string | undefined, string | undefined, Zone | undefined, Zone, string]>([
    ['cn', undefined, undefined, 'cn', 'flag'],
    ['default', 'cn', 'cn', 'default', 'flag'],
    [undefined, 'cn', 'default', 'cn', 'env'],
    [undefined, '', 'cn', 'cn', 'file'],
    [undefined, '  ', undefined, 'default', 'default'],
    [undefined, undefined, 'cn', 'cn', 'file'],
    [undefined, undefined, undefined, 'default', 'default'],
    [undefined, 'default', 'cn', 'default', 'env'],
  ])('flag=%s KKZONE=%s file=%s → %s (%s)', (flag, env, file, zone, source) => {
    expect(pickZone(flag, env, file)).toEqual({ zone, source });
  });

  it.each([
    ['KKZONE=bogus', undefined, 'bogus', 'KKZONE'],
    ['KKZONE=CN', undefined, 'CN', 'KKZONE'],
    ['--zone us', 'us', 'cn', '--zone'],
  ])('%s → INVALID_INPUT naming the setting', (_name, flag, env, names) => {
    let err: unknown;
    try {
      pickZone(flag, env, undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'INVALID_INPUT', isInputError: true });
    expect((err as Error).message).toContain(names);
  });
});

describe('pickConfigFile (flag > KKO_MIRROR_CONFIG)', () => {
  it.each([
    [
      { configFile: 'a.yaml', env: { KKO_MIRROR_CONFIG: 'b.yaml' } },
      { file: 'a.yaml', source: 'flag' },
    ],
    [{ env: { KKO_MIRROR_CONFIG: 'b.yaml' } }, { file: 'b.yaml', source: 'env' }],
    [
      { configFile: '', env: { KKO_MIRROR_CONFIG: 'b.yaml' } },
      { file: 'b.yaml', source: 'env' },
    ],
    [{ env: { KKO_MIRROR_CONFIG: '' } }, { source: 'default' }],
    [{ env: {} }, { source: 'default' }],
    [
      { configFile: 'x/a.yaml', env: {}, cwd: '/work' },
      { file: '/work/x/a.yaml', source: 'flag' },
    ],
    [
      { configFile: '/abs.yaml', env: {}, cwd: '/work' },
      { file: '/abs.yaml', source: 'flag' },
    ],
  ])('%j → %j', (opts, expected) => {
    expect(pickConfigFile(opts)).toEqual(expected);
  });
});

describe('loadMirrorPolicy', () => {
  it.each<[string, { zone?: string; configFile?: string; env: NodeJS.ProcessEnv }, Zone, string, string]>([
    ['nothing set', { env: {} }, 'default', 'default', 'default'],
    ['KKZONE=cn', { env: { KKZONE: 'cn' } }, 'cn', 'env', 'default'],
    ['file zone via env path', { env: { KKO_MIRROR_CONFIG: 'cn.yaml' } }, 'cn', 'file', 'env'],
    ['KKZONE beats file zone', { env: { KKZONE: 'cn', KKO_MIRROR_CONFIG: 'default.yaml' } }, 'cn', 'env', 'env'],
    ['flag beats KKZONE', { zone: 'default', env: { KKZONE: 'cn' } }, 'default', 'flag', 'default'],
    [
      'config flag beats config env',
      { configFile: 'cn.yaml', env: { KKO_MIRROR_CONFIG: 'default.yaml' } },
      'cn',
      'file',
      'flag',
    ],
    ['file without zone', { configFile: 'nozone.yaml', env: {} }, 'default', 'default', 'flag'],
  ])('%s', async (_name, opts, zone, zoneSource, configSource) => {
    const p = await loadMirrorPolicy({ ...opts, cwd: dir });
    expect(p.zone).toBe(zone);
    expect(p.sources).toEqual({ zone: zoneSource, configFile: configSource });
    expect(p.zoneFile).toMatch(new RegExp(`zones/${zone}\\.yaml$`));
  });

  it('KKZONE=bogus fails before anything is read', async () => {
    await expect(
      loadMirrorPolicy({ env: { KKZONE: 'bogus', KKO_MIRROR_CONFIG: 'missing.yaml' }, cwd: dir }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(loadMirrorPolicy({ zone: 'eu', configFile: 'missing.yaml', env: {}, cwd: dir })).rejects.toMatchObject(
      { code: 'INVALID_INPUT' },
    );
  });

  it('user rules come first and replace a zone rule with the same prefix', async () => {
    const p = await loadMirrorPolicy({ zone: 'cn', configFile: join(dir, 'sub', 'rules.yaml'), env: {} });
    expect(p.configFile).toBe(join(dir, 'sub', 'rules.yaml'));
    expect(p.registries.map((r) => [r.prefix, r.origin])).toEqual([
      ['docker.io', 'file'],
      ['quay.io/calico', 'file'],
      ['quay.io', 'zone'],
      ['ghcr.io', 'zone'],
      ['registry.k8s.io', 'zone'],
    ]);
    expect(p.downloads[0]).toMatchObject({ prefix: 'https://dl.k8s.io/release/', origin: 'file' });
    expect(p.downloads.filter((d) => d.prefix === 'https://dl.k8s.io/release/')).toHaveLength(1);
  });

  it.each([
    ['user rule replaced the zone docker.io rule', 'redis:7', ['127.0.0.1:5000/hub/library/redis:7']],
    [
      'longer user prefix beats the zone quay.io rule',
      'quay.io/calico/node:v1',
      ['q.local/node:v1', 'quay.io/calico/node:v1'],
    ],
    [
      'zone rule still applies elsewhere',
      'quay.io/coreos/etcd:v3',
      ['registry.cn-beijing.aliyuncs.com/kubesphereio/etcd:v3', 'quay.io/coreos/etcd:v3'],
    ],
  ])('merged resolution: %s', async (_name, raw, expected) => {
    const p = await loadMirrorPolicy({ zone: 'cn', configFile: join(dir, 'sub', 'rules.yaml'), env: {} });
    expect(
      resolveImageSources(parseReference(raw), p).map((s) => `${s.registry}/${s.repository}:${s.ref.tag}`),
    ).toEqual(expected);
  });
});

describe('mergeRules', () => {
  it('keeps user order, then the zone rules not overridden', () => {
    const merged = mergeRules([{ prefix: 'b' }, { prefix: 'a', user: true }], [{ prefix: 'a' }, { prefix: 'c' }]);
    expect(merged).toEqual([{ prefix: 'b' }, { prefix: 'a', user: true }, { prefix: 'c' }]);
  });
});

describe('pickZone: a hostile zone name', () => {
  it.each([
    ['a 1 MB flag', `z${MB_TEXT}`, undefined, /^--zone "zx+"… \(1048577 characters\): unknown zone$/],
    ['control characters in the flag', CONTROL_TEXT, undefined, /^--zone "ev\\u001b/],
    ['a 1 MB KKZONE', undefined, `z${MB_TEXT}`, /^KKZONE="zx+"… \(1048577 characters\): unknown zone$/],
    ['control characters in KKZONE', undefined, CONTROL_TEXT, /^KKZONE="ev\\u001b/],
  ])('%s is quoted, cut and escaped', async (_what, flag, env, want) => {
    const m = await messageOf(() => pickZone(flag, env, undefined));
    expect(m).toMatch(want);
    expectSafeText(m);
  });
});
