import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/index.js';
import { runCli, tempDir } from '../cli/run-cli.js';
import { buildImage, pushImage, type FixtureImage } from '../support/builders.js';
import { containerdUnavailable, startContainerd, type TestContainerd } from '../support/containerd.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

// The referee is a real containerd 1.6: `ctr images pull --hosts-dir DIR docker.io/…` must be served by the local
// registry through the rendered hosts.toml files. Upstream traffic goes to a dead proxy on 127.0.0.1, so a pull
// that the mirror does not serve fails fast instead of reaching the internet.

const unavailable = containerdUnavailable();
if (unavailable && process.env.CI) {
  describe('mirror render → containerd', () => {
    it('needs containerd in CI', () => {
      throw new Error(`containerd is required in CI: ${unavailable}`);
    });
  });
}

const IMAGES = ['docker.io/library/kko-hello:1.0', 'docker.io/kubesphere/pause:3.9', 'quay.io/calico/kko-cni:v1'];
const manifestYaml = (images: readonly string[]): string =>
  `apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata:\n  name: render\nspec:\n  arches: [amd64]\n  images:\n${images.map((i) => `  - ${i}\n`).join('')}`;

describe.skipIf(unavailable !== undefined)(
  `mirror render → containerd${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let ctrd: TestContainerd;
    let plain: TestRegistry;
    let tls: TestRegistry;
    let tmp: { dir: string; cleanup: () => Promise<void> };
    let manifest: string;
    const clients: RegistryClient[] = [];
    const images = new Map<string, FixtureImage>(
      IMAGES.map((ref) => [
        ref,
        buildImage({ name: ref, platform: { os: 'linux', architecture: 'amd64' }, layerSize: 1024 }),
      ]),
    );

    // kk pushes docker.io/<ns>/<name>:<tag> as <privateRegistry>/<ns>/<name>:<tag> (kubekey.md §3.8).
    async function seed(reg: TestRegistry, prefix = '', certsPath?: string): Promise<void> {
      const client = new RegistryClient(reg.host, {
        plainHTTP: reg.mode === 'plain',
        ...(certsPath ? { certsPath } : {}),
      });
      clients.push(client);
      for (const [ref, img] of images) {
        const repo = `${prefix}${ref.slice(ref.indexOf('/') + 1, ref.lastIndexOf(':'))}`;
        await pushImage(client, repo, ref.slice(ref.lastIndexOf(':') + 1), img);
      }
    }

    async function render(name: string, args: string[]): Promise<string> {
      const out = join(tmp.dir, name);
      const r = await runCli(['mirror', 'render', '-m', manifest, '--format', 'containerd', '-o', out, ...args]);
      expect(r.stderr).toMatch(/wrote \d+ file\(s\)/);
      expect(r.code).toBe(0);
      return out;
    }

    const pull = (hostsDir: string, ref: string, timeoutMs = 60_000) => ctrd.pull(ref, { hostsDir, timeoutMs });
    const pulledDigest = (ref: string): Promise<string | undefined> => ctrd.imageDigest(ref);

    beforeAll(async () => {
      tmp = await tempDir('kko-render-ctrd-');
      manifest = join(tmp.dir, 'manifest.yaml');
      await writeFile(manifest, manifestYaml(IMAGES));
      [ctrd, plain, tls] = await Promise.all([
        startContainerd(),
        startRegistry({ mode: 'plain' }),
        startRegistry({ mode: 'tls' }),
      ]);
      await seed(plain);
      await seed(plain, 'ks/');
      await seed(tls, '', tls.certsDir);
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await ctrd?.stop();
      await Promise.all([plain?.stop(), tls?.stop()]);
      await tmp?.cleanup();
    });

    it('pulls docker.io and quay.io names from a plain-HTTP registry via the rendered hosts.toml', async () => {
      const dir = await render('plain', ['--registry', plain.host, '--plain-http']);
      expect(await readFile(join(dir, 'docker.io', 'hosts.toml'), 'utf8')).toContain(`[host."http://${plain.host}"]`);
      for (const ref of IMAGES) {
        const r = await pull(dir, ref);
        // ctr's progress display is off (its poll races the end of a pull: PULL_QUIET in test/support/containerd.ts),
        // so nothing but the pull's own requests logs here
        expect(r.stdout).not.toMatch(/elapsed: /);
        expect(r.stderr + r.stdout).not.toMatch(/error|failed/i);
        expect(r.code).toBe(0);
        expect(await pulledDigest(ref)).toBe(images.get(ref)?.manifest.descriptor.digest);
      }
      await ctrd.ctr(['images', 'rm', ...IMAGES]);
    });

    it('pulls through a registry path with override_path (privateRegistry host/ks)', async () => {
      const dir = await render('path', ['--registry', `${plain.host}/ks`, '--plain-http']);
      expect(await readFile(join(dir, 'docker.io', 'hosts.toml'), 'utf8')).toContain(
        `[host."http://${plain.host}/v2/ks"]\n  capabilities = ["pull", "resolve"]\n  override_path = true`,
      );
      const ref = IMAGES[1] as string;
      const r = await pull(dir, ref);
      expect(r.code, r.stderr).toBe(0);
      expect(await pulledDigest(ref)).toBe(images.get(ref)?.manifest.descriptor.digest);
      await ctrd.ctr(['images', 'rm', ref]);
    });

    it('pulls from a TLS registry with ca = the test CA, and by the private name through its own hosts.toml', async () => {
      const dir = await render('tls', ['--registry', tls.host, '--ca', tls.caCertPath as string]);
      expect(await readFile(join(dir, 'docker.io', 'hosts.toml'), 'utf8')).toContain(
        `ca = ${JSON.stringify(tls.caCertPath)}`,
      );
      const ref = IMAGES[0] as string;
      const r = await pull(dir, ref);
      expect(r.code, r.stderr).toBe(0);
      expect(await pulledDigest(ref)).toBe(images.get(ref)?.manifest.descriptor.digest);
      const own = `${tls.host}/library/kko-hello:1.0`;
      const r2 = await pull(dir, own);
      expect(r2.code, r2.stderr).toBe(0);
      await ctrd.ctr(['images', 'rm', ref, own]);
    });

    it('fails without the CA (the TLS setting is what made the pull work)', async () => {
      const dir = await render('tls-no-ca', ['--registry', tls.host]);
      const r = await pull(dir, IMAGES[2] as string, 30_000);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/x509|certificate/i);
    });

    it('fails fast when rendered for another port (the mirror, not a cache or upstream, served the pulls)', async () => {
      const dir = await render('wrong-port', ['--registry', `127.0.0.1:${await freePort()}`, '--plain-http']);
      const started = Date.now();
      const r = await pull(dir, IMAGES[0] as string, 30_000);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/connection refused|proxyconnect|failed to resolve/i);
      expect(Date.now() - started).toBeLessThan(20_000);
    });
  },
);
