import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError, type Issue } from '../errors.js';
import { loadPolicyFile, loadZonePolicy } from './load.js';
import { ZONES } from './schema.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kko-mirror-load-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEAD = 'apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\n';

async function write(name: string, text: string | Uint8Array): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

async function issuesOf(text: string): Promise<Pick<Issue, 'code' | 'path' | 'line' | 'col'>[]> {
  const file = await write(`bad-${Math.random().toString(36).slice(2)}.yaml`, text);
  const err = await loadPolicyFile(file, 'file').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  const v = err as ValidationError;
  expect(v.code).toBe('INVALID_MIRROR_CONFIG');
  for (const i of v.issues) expect(i.file).toBe(file);
  return v.issues.map((i) => ({ code: i.code, path: i.path, line: i.line, col: i.col }));
}

describe('loadPolicyFile: bad files', () => {
  it.each([
    ['unknown top-level key', `${HEAD}mirrors: []\n`, [{ code: 'SCHEMA', path: 'mirrors', line: 3, col: 1 }]],
    [
      'unknown key in a mirror',
      `${HEAD}registries:\n- prefix: docker.io\n  mirrors:\n  - location: m.local\n    tls: off\n`,
      [{ code: 'SCHEMA', path: 'registries[0].mirrors[0].tls', line: 7, col: 5 }],
    ],
    [
      'wrong type',
      `${HEAD}registries:\n- prefix: docker.io\n  upstream: "no"\n`,
      [{ code: 'SCHEMA', path: 'registries[0].upstream', line: 5, col: 13 }],
    ],
    [
      'wrong type for plainHTTP',
      `${HEAD}registries:\n- prefix: docker.io\n  mirrors: [{location: m.local, plainHTTP: 1}]\n`,
      [{ code: 'SCHEMA', path: 'registries[0].mirrors[0].plainHTTP', line: 5, col: 44 }],
    ],
    [
      'unknown rewrite',
      `${HEAD}registries:\n- prefix: docker.io\n  mirrors: [{location: m.local, rewrite: strip}]\n`,
      [{ code: 'SCHEMA', path: 'registries[0].mirrors[0].rewrite', line: 5, col: 42 }],
    ],
    [
      'location with a scheme',
      `${HEAD}registries:\n- prefix: docker.io\n  mirrors:\n  - location: http://m.local\n`,
      [{ code: 'SCHEMA', path: 'registries[0].mirrors[0].location', line: 6, col: 15 }],
    ],
    [
      'download prefix without a scheme',
      `${HEAD}downloads:\n- prefix: dl.k8s.io/\n`,
      [{ code: 'SCHEMA', path: 'downloads[0].prefix', line: 4, col: 11 }],
    ],
    [
      'missing prefix',
      `${HEAD}registries:\n- mirrors: []\n`,
      [{ code: 'SCHEMA', path: 'registries[0].prefix', line: 4, col: 3 }],
    ],
    [
      'wrong kind',
      'apiVersion: kko.io/v1alpha1\nkind: Manifest\n',
      [{ code: 'SCHEMA', path: 'kind', line: 2, col: 7 }],
    ],
    ['unknown zone', `${HEAD}zone: us\n`, [{ code: 'SCHEMA', path: 'zone', line: 3, col: 7 }]],
    ['bad YAML', `${HEAD}registries:\n- prefix: [docker.io\n`, [{ code: 'YAML_SYNTAX', line: 5, col: 1 }]],
    ['duplicate key', `${HEAD}zone: cn\nzone: default\n`, [{ code: 'YAML_SYNTAX', line: 4, col: 1 }]],
    ['two documents', `${HEAD}---\n${HEAD}`, [{ code: 'SCHEMA', path: undefined, line: undefined }]],
    ['empty file', '', [{ code: 'SCHEMA', path: undefined, line: undefined }]],
    [
      'duplicate prefix (Docker Hub alias too)',
      `${HEAD}registries:\n- prefix: docker.io\n  mirrors: [{location: a.local}]\n- prefix: index.docker.io\n  mirrors: [{location: b.local}]\n`,
      [{ code: 'DUPLICATE_PREFIX', path: 'registries[1].prefix', line: 6, col: 11 }],
    ],
    [
      'duplicate download prefix',
      `${HEAD}downloads:\n- prefix: https://a/\n- prefix: https://a/\n`,
      [{ code: 'DUPLICATE_PREFIX', path: 'downloads[1].prefix', line: 5, col: 11 }],
    ],
    [
      'download prefix and location disagree on the trailing slash',
      `${HEAD}downloads:\n- prefix: https://a/\n  mirrors:\n  - location: http://m\n`,
      [{ code: 'SLASH_MISMATCH', path: 'downloads[0].mirrors[0].location', line: 6, col: 15 }],
    ],
    [
      'nothing left to try',
      `${HEAD}registries:\n- prefix: docker.io\n  upstream: false\n`,
      [{ code: 'NO_SOURCE', path: 'registries[0].upstream', line: 5, col: 13 }],
    ],
  ])('%s', async (_name, text, expected) => {
    const got = await issuesOf(text);
    expect(got).toHaveLength(expected.length);
    got.forEach((g, i) => expect(g).toMatchObject(expected[i] ?? {}));
  });

  // A download prefix may hold ESC / BEL / C1 (the URL rule only refuses spaces) and be a megabyte long: the message
  // quotes it cut and escaped, and still names the rule.
  it.each([
    ['a 1 MB prefix', `https://a/${'p'.repeat(1024 * 1024)}/`],
    ['control characters in a prefix', 'https://a/\u001b]0;pwned\u0007\u009b/'],
  ])('%s: duplicate and slash mismatch messages are short and escaped', async (_what, prefix) => {
    const y = JSON.stringify(prefix);
    const file = await write(
      `hostile-${prefix.length}.yaml`,
      `${HEAD}downloads:\n- prefix: ${y}\n  mirrors:\n  - location: http://m\n- prefix: ${y}\n`,
    );
    const err = (await loadPolicyFile(file, 'file').catch((e: unknown) => e)) as ValidationError;
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.issues.map((i) => [i.code, i.path])).toEqual([
      ['SLASH_MISMATCH', 'downloads[0].mirrors[0].location'],
      ['DUPLICATE_PREFIX', 'downloads[1].prefix'],
    ]);
    for (const i of err.issues) {
      expect(i.message).toMatch(/prefix "https:\/\/a\//);
      expect(i.message.length).toBeLessThan(500);
      // eslint-disable-next-line no-control-regex -- the point: no raw control character in the message
      expect(i.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    }
  });

  it('reports every problem, not just the first', async () => {
    const got = await issuesOf(
      `${HEAD}registries:\n- prefix: docker.io\n  upstream: 3\n- prefix: quay.io\n  mirrors: [{location: HTTP://x}]\ndownloads: {}\n`,
    );
    expect(got.map((i) => i.path)).toEqual([
      'registries[0].upstream',
      'registries[1].mirrors[0].location',
      'downloads',
    ]);
  });

  it.each([
    ['missing file', async () => join(dir, 'nope.yaml'), 'FILE_NOT_FOUND'],
    ['directory', async () => dir, 'INVALID_INPUT'],
    ['binary', async () => write('bin.yaml', new Uint8Array([0x61, 0, 0x62])), 'INVALID_INPUT'],
  ])('%s → %s', async (_name, make, code) => {
    await expect(loadPolicyFile(await make(), 'file')).rejects.toMatchObject({ code });
  });
});

describe('loadPolicyFile: good files', () => {
  it('applies defaults, keeps order, records origin, normalises Docker Hub aliases', async () => {
    const file = await write(
      'good.yaml',
      `${HEAD}zone: cn\nregistries:\n- prefix: index.docker.io/library\n  mirrors:\n  - location: 127.0.0.1:5000/hub\n    plainHTTP: true\n  upstream: false\n- prefix: quay.io\ndownloads:\n- prefix: https://dl.k8s.io/\n  mirrors: [{location: http://127.0.0.1:8080/dl/}]\n`,
    );
    const p = await loadPolicyFile(file, 'file');
    expect(p.zone).toBe('cn');
    expect(p.registries).toEqual([
      {
        prefix: 'docker.io/library',
        mirrors: [
          { location: '127.0.0.1:5000/hub', rewrite: 'prefix', pullFrom: 'all', plainHTTP: true, skipTLSVerify: false },
        ],
        upstream: false,
        plainHTTP: false,
        skipTLSVerify: false,
        origin: 'file',
      },
      { prefix: 'quay.io', mirrors: [], upstream: true, plainHTTP: false, skipTLSVerify: false, origin: 'file' },
    ]);
    expect(p.downloads).toEqual([
      {
        prefix: 'https://dl.k8s.io/',
        mirrors: [{ location: 'http://127.0.0.1:8080/dl/', skipTLSVerify: false }],
        upstream: true,
        origin: 'file',
      },
    ]);
  });

  it.each(ZONES)('built-in zone %s loads and has no zone: key', async (zone) => {
    const p = await loadZonePolicy(zone);
    expect(p.zone).toBeUndefined();
    expect(p.file).toMatch(new RegExp(`catalog/zones/${zone}\\.yaml$`));
    for (const r of [...p.registries, ...p.downloads]) expect(r.origin).toBe('zone');
  });

  it('zone default has no rules', async () => {
    const p = await loadZonePolicy('default');
    expect([p.registries, p.downloads]).toEqual([[], []]);
  });
});

describe('credentials in mirror URLs', () => {
  it('a download mirror location with user:password@ is refused at its line', async () => {
    const issues = await issuesOf(
      'apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\ndownloads:\n- prefix: https://dl.k8s.io/\n  mirrors:\n  - location: http://alice:s3cret@127.0.0.1:8099/dl/\n',
    );
    expect(issues).toEqual([{ code: 'SCHEMA', path: 'downloads[0].mirrors[0].location', line: 6, col: 15 }]);
  });
});
