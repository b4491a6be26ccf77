import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ROW_ANNOTATIONS, MAX_REFERRER_ROWS_BYTES } from '../../src/export/referrers.js';
import { runCli } from '../cli/run-cli.js';
import { buildMultiArch, pushIndex } from '../support/builders.js';
import { exportArgs, manifestYaml, mirrorPolicyYaml } from '../support/cli-args.js';
import { startProxiedRegistry, type ProxiedRegistry } from '../support/proxied-registry.js';
import { pushReferrersIndex, pushSbom, type PushedReferrer } from '../support/referrers-fixture.js';

// #12 review: each referrer row is bounded (MAX_ROW_ANNOTATIONS characters), but kko/inventory.json as a whole is read
// up to 16 MiB. A listing of referrers whose annotations sit just under the row bound, in characters JSON escapes
// (6 bytes each), gave an inventory past that: export wrote an artifact that inspect, verify and import refuse.
// Real distribution registry (tag schema listing).
const MANY = 200;
let env: ProxiedRegistry;

beforeAll(async () => {
  const img = buildMultiArch('budget', { layerSize: 2048 });
  env = await startProxiedRegistry('kko-referrers-budget-', async (c) => {
    await pushIndex(c, 'library/budget', '1', img);
    const listed: PushedReferrer['descriptor'][] = [];
    for (let i = 0; i < MANY; i++) {
      const note = '\u0001'.repeat(MAX_ROW_ANNOTATIONS - 'note'.length);
      const { descriptor } = await pushSbom(c, 'library/budget', img.manifest.descriptor, `b${i}`, {
        annotations: { note },
      });
      listed.push({ mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size });
    }
    await pushReferrersIndex(c, 'library/budget', img.manifest.descriptor.digest, listed);
  });
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

describe('artifact export --with-referrers: the inventory as a whole', () => {
  it(`rows past ${MAX_REFERRER_ROWS_BYTES} bytes fail the export (named, exit 1), no artifact kko could not read`, async () => {
    const dir = env.work.dir;
    await writeFile(join(dir, 'm.yaml'), manifestYaml(['docker.io/library/budget:1'], ['amd64']));
    await writeFile(join(dir, 'mirrors.yaml'), mirrorPolicyYaml(env.proxy.host));
    const out = join(dir, 'out.tar');
    const r = await runCli(exportArgs(out, {}, '--compress', 'none', '--retries', '0', '--with-referrers'), {
      cwd: dir,
      env: { HOME: dir },
    });
    if (r.code === 0) {
      // what the export wrote must be an artifact kko reads
      const read = await runCli(['artifact', 'inspect', out, '--json'], { cwd: dir, env: { HOME: dir } });
      expect(read.code, read.stderr).toBe(0);
    }
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`--with-referrers: the referrers found come to more than ${MAX_REFERRER_ROWS_BYTES}`);
    expect(r.stderr).toContain('hint: ');
    await expect(access(out)).rejects.toThrow();
  }, 180_000);
});
