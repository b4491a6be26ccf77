import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withChecksums } from '../../src/archive/checksums.js';
import type { TarEntry } from '../../src/archive/tar.js';
import { writeArchive } from '../../src/archive/write.js';
import type { Catalog } from '../../src/catalog/index.js';
import { KeySigner, loadPrivateKey, signatureEntry, type Signer } from '../../src/signing/index.js';
import {
  artifactEntries,
  fixtureCatalog,
  IMGS,
  ISO_PATH,
  kkoWith,
  layerPath,
  sha,
  withDocuments,
} from '../support/artifact-fixture.js';
import { seededBytes } from '../support/builders.js';
import { run } from '../support/exec.js';
import { memoSigner } from '../support/signing.js';
import { runCli, tempDir, type CliRun } from './run-cli.js';

// Issue #12 item 1: artifact signatures. openssl is the referee in both directions; each forgery is one a tamperer
// could make (SHA256SUMS rewritten to agree), and verify --key / import --require-signature must name what failed.

let testCatalog: Catalog;
let work: { dir: string; cleanup: () => Promise<void> };
let keys: { key: string; pub: string; otherPub: string; sslKey: string; sslPub: string };
let signer: Signer;
let n = 0;
const kko = (argv: string[]): Promise<CliRun> => kkoWith(testCatalog, argv);
type Report = {
  ok: boolean;
  problems: Array<{ kind: string; path: string; detail?: string }>;
  checked: { signature: string };
};
const ODD = 'kube/v1.99.0/amd64/kubeadm'; // not in the catalog: only the (signed) inventory vouches for it
const SIG = 'kko/inventory.json.sig';

const base = (): TarEntry[] => withDocuments(artifactEntries(IMGS, { extra: [[ODD, 700]] }));
const replace = (entries: TarEntry[], name: string, data: Buffer): TarEntry[] =>
  entries.map((e) => (e.name === name ? { ...e, data } : e));

// Sign `entries`' inventory, then let the tamperer change what they like; SHA256SUMS is made to agree afterwards.
function signed(
  entries: TarEntry[],
  tamper: (e: TarEntry[]) => TarEntry[] = (e) => e,
  by: Signer = signer,
): TarEntry[] {
  return withChecksums(tamper([...entries, signatureEntry(entries, by)]));
}

async function build(entries: TarEntry[]): Promise<string> {
  const out = join(work.dir, `a${n++}.tar.gz`);
  await writeArchive(entries, out, 'gzip', { SOURCE_DATE_EPOCH: '0' });
  return out;
}

async function verifyWith(artifact: string, pub = keys.pub): Promise<{ code: number; report: Report; stderr: string }> {
  const r = await kko(['artifact', 'verify', artifact, '--json', '--key', pub]);
  return { code: r.code, report: JSON.parse(r.stdout || '{}') as Report, stderr: r.stderr };
}

async function untar(artifact: string, ...names: string[]): Promise<string> {
  const out = join(work.dir, `x${n++}`);
  await mkdir(out);
  await run('tar', ['xzf', artifact, '-C', out, ...names]);
  return out;
}

beforeAll(async () => {
  work = await tempDir('kko-artifact-sign-');
  testCatalog = await fixtureCatalog(join(work.dir, 'catalog'));
  const gen = await runCli(['key', 'generate', '--output-key-prefix', join(work.dir, 'release')]);
  expect(gen.code, gen.stderr).toBe(0);
  await runCli(['key', 'generate', '--output-key-prefix', join(work.dir, 'other')]);
  // a SEC1 key pair made by openssl (the format `openssl ecparam -genkey` writes)
  const sslKey = join(work.dir, 'ssl.pem');
  await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', sslKey]);
  await run('openssl', ['ec', '-in', sslKey, '-pubout', '-out', join(work.dir, 'ssl.pub')]);
  keys = {
    key: join(work.dir, 'release.key'),
    pub: join(work.dir, 'release.pub'),
    otherPub: join(work.dir, 'other.pub'),
    sslKey,
    sslPub: join(work.dir, 'ssl.pub'),
  };
  signer = new KeySigner(await loadPrivateKey(keys.key));
});
afterAll(async () => work.cleanup());

describe('kko key generate', () => {
  it('writes a P-256 pair in PEM (private 0600, public SPKI as cosign.pub), prints no key, never overwrites without --force', async () => {
    const prefix = join(work.dir, 'gen');
    const r = await runCli(['key', 'generate', '--output-key-prefix', prefix]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/PRIVATE KEY|BEGIN/);
    expect((await stat(`${prefix}.key`)).mode & 0o777).toBe(0o600);
    expect(await readFile(`${prefix}.pub`, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(await run('openssl', ['pkey', '-in', `${prefix}.key`, '-noout', '-text'])).toMatch(/ASN1 OID: prime256v1/);
    const before = await readFile(`${prefix}.key`);
    const again = await runCli(['key', 'generate', '--output-key-prefix', prefix]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/gen\.key: it exists/);
    expect((await readFile(`${prefix}.key`)).equals(before)).toBe(true);
    expect((await runCli(['key', 'generate', '--output-key-prefix', prefix, '--force'])).code).toBe(0);
    expect((await readFile(`${prefix}.key`)).equals(before)).toBe(false);
  });
});

describe('the signature is a cosign sign-blob signature of kko/inventory.json (openssl both ways)', () => {
  it('openssl verifies what `kko artifact sign` wrote; kko verify --key passes', async () => {
    const artifact = await build(withChecksums(base()));
    const s = await kko(['artifact', 'sign', artifact, '--key', keys.key]);
    expect(s.code, s.stderr).toBe(0);
    const dir = await untar(artifact, 'kko/inventory.json', SIG, 'kko/SHA256SUMS');
    const sig = await readFile(join(dir, SIG), 'utf8');
    expect(sig).toMatch(/^[A-Za-z0-9+/]+=*$/); // base64, one line, no newline
    await writeFile(join(dir, 'sig.der'), Buffer.from(sig, 'base64'));
    expect(
      await run('openssl', [
        'dgst',
        '-sha256',
        '-verify',
        keys.pub,
        '-signature',
        join(dir, 'sig.der'),
        join(dir, 'kko/inventory.json'),
      ]),
    ).toBe('Verified OK\n');
    expect(await readFile(join(dir, 'kko/SHA256SUMS'), 'utf8')).toContain(`${sha(Buffer.from(sig))}  ${SIG}\n`);
    const names = (await run('tar', ['tzf', artifact])).split('\n');
    expect(names.slice(0, 3)).toEqual(['kko/SHA256SUMS', 'kko/inventory.json', SIG]); // first, beside the inventory
    const v = await verifyWith(artifact);
    expect(v.code, v.stderr).toBe(0);
    expect(v.report.checked.signature).toBe('verified');
    const text = await kko(['artifact', 'verify', artifact, '--key', keys.pub]);
    expect(text.stdout).toMatch(/signature: kko\/inventory\.json\.sig verified/);
  });

  it('kko verifies a signature made by `openssl dgst -sha256 -sign` (SEC1 key), and signs with that key too', async () => {
    const entries = base();
    const inv = join(work.dir, `inv${n++}.json`);
    await writeFile(inv, (entries.find((e) => e.name === 'kko/inventory.json') as { data: Buffer }).data);
    await run('openssl', ['dgst', '-sha256', '-sign', keys.sslKey, '-out', `${inv}.der`, inv]);
    const b64 = Buffer.from((await readFile(`${inv}.der`)).toString('base64').replace(/(.{64})/g, '$1\n') + '\n'); // wrapped, as `base64` writes it
    const artifact = await build(withChecksums([...entries, { name: SIG, data: b64, first: true }]));
    expect((await verifyWith(artifact, keys.sslPub)).code).toBe(0);
    expect((await verifyWith(artifact, keys.pub)).report.problems).toEqual([
      { kind: 'corrupt', path: SIG, detail: expect.stringMatching(/does not verify with .*release\.pub/) },
    ]);
    const resigned = await kko(['artifact', 'sign', artifact, '--key', keys.key]);
    expect(resigned.stdout).toMatch(/replaced/);
    expect((await verifyWith(artifact, keys.pub)).code).toBe(0);
    const other = join(work.dir, `o${n++}.tar.gz`);
    expect((await kko(['artifact', 'sign', artifact, '--key', keys.sslKey, '-o', other])).code).toBe(0);
    expect((await verifyWith(other, keys.sslPub)).code).toBe(0);
  });
});

describe('verify --key refuses, naming what failed', () => {
  const cases: Array<[string, () => TarEntry[], Report['problems']]> = [
    [
      'the inventory changed after signing',
      () =>
        signed(base(), (e) =>
          replace(
            e,
            'kko/inventory.json',
            Buffer.from(JSON.stringify({ ...JSON.parse((e[0] as { data: Buffer }).data.toString()), zone: 'cn' })),
          ),
        ),
      [
        {
          kind: 'corrupt',
          path: SIG,
          detail: expect.stringMatching(
            /does not verify .*inventory\.json was changed after signing, or another key signed it/,
          ),
        },
      ],
    ],
    [
      'a blob changed (inventory intact)',
      () => signed(base(), (e) => replace(e, layerPath, Buffer.from('evil layer'))),
      [
        expect.objectContaining({
          kind: 'corrupt',
          path: layerPath,
          detail: expect.stringMatching(/^sha256 want .*\(blob name\)$/),
        }),
      ],
    ],
    [
      'a binary only the signed inventory vouches for changed',
      () => signed(base(), (e) => replace(e, ODD, seededBytes('evil', 700))),
      [{ kind: 'corrupt', path: ODD, detail: expect.stringMatching(/\(kko\/inventory\.json\)$/) }],
    ],
    [
      'an ISO changed',
      () => signed(base(), (e) => replace(e, ISO_PATH, seededBytes('evil-iso', 5000))),
      [{ kind: 'corrupt', path: ISO_PATH, detail: expect.stringMatching(/\(kko\/inventory\.json\)$/) }],
    ],
    [
      'unsigned',
      () => withChecksums(base()),
      [{ kind: 'missing', path: SIG, detail: expect.stringMatching(/not signed/) }],
    ],
    [
      'the .sig is garbage',
      () => signed(base(), (e) => replace(e, SIG, Buffer.from('this is not a signature'))),
      [{ kind: 'corrupt', path: SIG, detail: expect.stringMatching(/not base64/) }],
    ],
    [
      'the .sig is base64 of junk',
      () => signed(base(), (e) => replace(e, SIG, Buffer.from(Buffer.from('junk, not DER at all').toString('base64')))),
      [{ kind: 'corrupt', path: SIG, detail: expect.stringMatching(/not a DER ECDSA signature/) }],
    ],
    [
      'an unreachable, content-addressed blob was added',
      () =>
        signed(base(), (e) => [...e, { name: `images/blobs/sha256/${sha(Buffer.from('x'))}`, data: Buffer.from('x') }]),
      [
        {
          kind: 'extra',
          path: `images/blobs/sha256/${sha(Buffer.from('x'))}`,
          detail: expect.stringMatching(/no manifest of images\/index\.json references it/),
        },
      ],
    ],
    [
      'a kko/ file was added',
      () => signed(base(), (e) => [...e, { name: 'kko/README', data: Buffer.from('run me'), first: true }]),
      [
        {
          kind: 'extra',
          path: 'kko/README',
          detail: expect.stringMatching(/not accounted for by kko\/inventory\.json/),
        },
      ],
    ],
    [
      'a file outside kk paths was added',
      () => signed(base(), (e) => [...e, { name: 'install.sh', data: Buffer.from('curl | sh') }]),
      [{ kind: 'extra', path: 'install.sh', detail: expect.stringMatching(/not accounted for/) }],
    ],
    [
      'images/index.json gained an entry',
      () =>
        signed(base(), (e) => {
          const idx = JSON.parse((e.find((x) => x.name === 'images/index.json') as { data: Buffer }).data.toString());
          idx.manifests.push({
            ...idx.manifests[0],
            annotations: { 'org.opencontainers.image.ref.name': 'docker.io/evil/x:1-amd64' },
          });
          return replace(e, 'images/index.json', Buffer.from(JSON.stringify(idx)));
        }),
      [{ kind: 'corrupt', path: 'images/index.json', detail: expect.stringMatching(/\(kko\/inventory\.json\)$/) }],
    ],
  ];
  it.each(cases)('%s', async (_what, entries, problems) => {
    const { code, report } = await verifyWith(await build(entries()));
    expect(code).toBe(1);
    expect(report.problems).toEqual(problems);
  });

  it('signed by another key', async () => {
    const { code, report } = await verifyWith(await build(signed(base())), keys.otherPub);
    expect(code).toBe(1);
    expect(report.problems).toEqual([
      { kind: 'corrupt', path: SIG, detail: expect.stringMatching(/does not verify with .*other\.pub/) },
    ]);
  });

  it("SHA256SUMS not in kko's form (the bytes are not determined by the files)", async () => {
    const entries = signed(base());
    const sums = (entries.find((e) => e.name === 'kko/SHA256SUMS') as { data: Buffer }).data
      .toString()
      .replace(/ {2}/g, ' *');
    const { code, report } = await verifyWith(await build(replace(entries, 'kko/SHA256SUMS', Buffer.from(sums))));
    expect(code).toBe(1);
    expect(report.problems).toEqual([
      { kind: 'corrupt', path: 'kko/SHA256SUMS', detail: expect.stringMatching(/not in kko's form/) },
    ]);
  });

  it('without --key a signed artifact verifies as before and says the signature was not checked', async () => {
    const r = await kko(['artifact', 'verify', await build(signed(base()))]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/signature: kko\/inventory\.json\.sig present but not checked \(pass --key PUB\)/);
  });

  it('a bad key file is invalid input (exit 2), naming the file', async () => {
    const artifact = await build(signed(base()));
    expect(await kko(['artifact', 'verify', artifact, '--key', keys.key])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/release\.key: not a PEM public key/),
    });
    expect(await kko(['artifact', 'verify', artifact, '--key', join(work.dir, 'nope.pub')])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/nope\.pub: no such file/),
    });
    const rsa = join(work.dir, 'rsa.pub');
    await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', `${rsa}.key`]);
    await run('openssl', ['pkey', '-in', `${rsa}.key`, '-pubout', '-out', rsa]);
    expect(await kko(['artifact', 'verify', artifact, '--key', rsa])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/a rsa key, not ECDSA P-256/),
    });
    const signWithPub = await kko(['artifact', 'sign', artifact, '--key', keys.pub]);
    expect(signWithPub.code).toBe(2);
    expect(signWithPub.stderr).toMatch(/release\.pub: not a PEM private key/);
    expect(signWithPub.stderr).not.toMatch(/BEGIN/);
  });
});

describe('import --require-signature --key', () => {
  async function importInto(artifact: string, flags: string[]): Promise<CliRun & { left: string[] }> {
    const dir = join(work.dir, `import-${n++}`);
    await mkdir(dir);
    const r = await kko(['artifact', 'import', artifact, '--dir', dir, ...flags]);
    return { ...r, left: await readdir(dir, { recursive: true }) };
  }

  it('imports a signed artifact; refuses unsigned and wrong-key artifacts and writes nothing', async () => {
    const good = await build(signed(base()));
    const ok = await importInto(good, ['--require-signature', '--key', keys.pub]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.left).toContain(ODD.split('/').join('/'));
    const unsigned = await importInto(await build(withChecksums(base())), ['--require-signature', '--key', keys.pub]);
    expect(unsigned).toMatchObject({ code: 1, left: [] });
    expect(unsigned.stderr).toMatch(/missing: kko\/inventory\.json\.sig .*not signed.*stopped at this entry/);
    const wrong = await importInto(good, ['--require-signature', '--key', keys.otherPub]);
    expect(wrong).toMatchObject({ code: 1, left: [] });
    expect(wrong.stderr).toMatch(/corrupt: kko\/inventory\.json\.sig \(does not verify with .*other\.pub/);
    const tampered = await importInto(
      await build(signed(base(), (e) => replace(e, layerPath, Buffer.from('evil layer')))),
      ['--key', keys.pub],
    );
    expect(tampered).toMatchObject({ code: 1, left: [] });
    expect(tampered.stderr).toMatch(/corrupt: images\/blobs\/sha256\/.*\(blob name\)/);
    const extra = await importInto(
      await build(signed(base(), (e) => [...e, { name: 'install.sh', data: Buffer.from('x') }])),
      ['--key', keys.pub],
    );
    expect(extra).toMatchObject({ code: 1, left: [] });
    expect(extra.stderr).toMatch(/extra: install\.sh/);
  });

  it('--require-signature without --key is invalid input', async () => {
    expect(await importInto(await build(signed(base())), ['--require-signature'])).toMatchObject({
      code: 2,
      left: [],
      stderr: expect.stringMatching(/needs --key PUB/),
    });
  });
});

describe('kko artifact sign', () => {
  it('refuses to sign an artifact with problems, or one whose inventory does not cover every file; the file is left as it was', async () => {
    const tampered = await build(withChecksums(replace(base(), layerPath, Buffer.from('evil'))));
    const before = await readFile(tampered);
    const r = await kko(['artifact', 'sign', tampered, '--key', keys.key]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/corrupt: images\/blobs\/sha256\//);
    expect(r.stderr).toMatch(/nothing was signed/);
    expect((await readFile(tampered)).equals(before)).toBe(true);
    const old = await build(withChecksums(artifactEntries(IMGS))); // no `documents`: index.json is not covered
    const o = await kko(['artifact', 'sign', old, '--key', keys.key]);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/extra: images\/index\.json \(not accounted for by kko\/inventory\.json/);
  });

  // Byte identity with a real `artifact export --sign-key` (which stores layers and archives uncompressed in gzip and
  // zstd) is in test/integration/artifact-sign.test.ts; for a plain tar the hand-made writer is the same writer.
  it('keeps the compression (plain tar and zstd); a plain tar is byte for byte what signing at write time writes', async () => {
    for (const compress of ['none', 'zstd'] as const) {
      const memo = memoSigner(signer);
      const plain = join(work.dir, `p${n++}.tar`);
      await writeArchive(withChecksums(base()), plain, compress, { SOURCE_DATE_EPOCH: '0' });
      const direct = join(work.dir, `d${n++}.tar`);
      await writeArchive(signed(base(), undefined, memo), direct, compress, { SOURCE_DATE_EPOCH: '0' });
      const { signArtifact } = await import('../../src/signing/index.js');
      const r = await signArtifact({
        artifact: plain,
        signer: memo,
        env: { SOURCE_DATE_EPOCH: '0' },
        catalog: testCatalog,
      });
      expect(r.compression).toBe(compress);
      if (compress === 'none')
        expect(
          createHash('sha256')
            .update(await readFile(plain))
            .digest('hex'),
        ).toBe(
          createHash('sha256')
            .update(await readFile(direct))
            .digest('hex'),
        );
      else expect((await readFile(plain)).subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
      expect((await verifyWith(plain)).code).toBe(0);
    }
  });
});
