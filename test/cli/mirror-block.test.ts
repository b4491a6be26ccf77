import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './run-cli.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeFile(
    join(dir, 'mirrors.yaml'),
    `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nblockUpstream: true\nregistries:\n- prefix: docker.io\n  mirrors:\n  - {location: 127.0.0.1:5000/hub, plainHTTP: true}\ndownloads:\n- prefix: https://dl.k8s.io/\n  mirrors: [{location: http://127.0.0.1:8080/dl/}]\n`,
  );
});
afterEach(async () => cleanup());

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { cwd: dir, env });

describe('blockUpstream: true in the mirror config (#9)', () => {
  it('mirror resolve lists only the mirrors and says the upstream is refused by the rule', async () => {
    const r = await cli(['mirror', 'resolve', 'redis:7', '--mirror-config', 'mirrors.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`upstream refused by blockUpstream: true in ${join(dir, 'mirrors.yaml')}`);
    expect(r.stdout).not.toMatch(/\bupstream\s+docker\.io/);
    const j = JSON.parse(
      (await cli(['mirror', 'resolve', 'redis:7', '--mirror-config', 'mirrors.yaml', '--json'])).stdout,
    ) as { sources: Array<{ via: string }> };
    expect(j.sources.map((s) => s.via)).toEqual(['mirror']);
  });

  it('an image or URL no mirror serves is refused with exit 2, naming the rule', async () => {
    for (const input of ['quay.io/calico/node:v3.27.3', 'https://get.helm.sh/helm-v3.14.3-linux-amd64.tar.gz']) {
      const r = await cli(['mirror', 'resolve', input, '--mirror-config', 'mirrors.yaml']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`refused by blockUpstream: true in ${join(dir, 'mirrors.yaml')}`);
    }
  });

  it('mirror list shows the catch-all rule', async () => {
    const r = await cli(['mirror', 'list', '--mirror-config', 'mirrors.yaml']);
    expect(r.stdout).toMatch(/^upstream:\s+never \(blockUpstream: true in /m);
    expect(r.stdout).toMatch(/^\(other\)\s+1\s+refused/m);
    expect(
      JSON.parse((await cli(['mirror', 'list', '--mirror-config', 'mirrors.yaml', '--json'])).stdout),
    ).toMatchObject({ blockUpstream: `blockUpstream: true in ${join(dir, 'mirrors.yaml')}` });
  });

  it('export --dry-run refuses a manifest image no mirror serves (the plan uses the same rule)', async () => {
    const m = await cli([
      'manifest',
      'create',
      '--kk-version',
      'v3.1.5',
      '--with-kubernetes',
      'v1.28.12',
      '-o',
      'm.yaml',
    ]);
    expect(m.code).toBe(0);
    const r = await cli([
      'artifact',
      'export',
      '-m',
      'm.yaml',
      '--mirror-config',
      'mirrors.yaml',
      '--dry-run',
      '-o',
      'a.tar',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refused by blockUpstream: true in .*mirrors\.yaml/);
  });
});

describe('kko mirror list width (#9)', () => {
  it('fits 100 columns by default, --wide keeps one row per download source', async () => {
    const r = await cli(['mirror', 'list', '--zone', 'cn']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => !l.startsWith('zone rules:'));
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100);
    expect(r.stdout).toMatch(/^https:\/\/dl\.k8s\.io\/release\/\s+\(zone cn\)$/m);
    const wide = await cli(['mirror', 'list', '--zone', 'cn', '--wide']);
    expect(wide.stdout).toMatch(
      /^https:\/\/dl\.k8s\.io\/release\/\s+1\s+https:\/\/kubernetes-release\.pek3b\.qingstor\.com\/release\/\s+verify\s+zone cn$/m,
    );
  });
});
