import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './run-cli.js';

// Integer flags take plain decimal digits in range; Number() would have read "1e2" as 100 and " 8" as 8.
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeFile(
    join(dir, 'm.yaml'),
    'apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: t}\nspec:\n  arches: [amd64]\n  images:\n  - docker.io/kubesphere/pause:3.9\n',
  );
  // every image source is a closed loopback port: nothing leaves the machine even if a flag slipped through
  await writeFile(
    join(dir, 'mirrors.yaml'),
    'apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- prefix: docker.io\n  mirrors:\n  - {location: "127.0.0.1:9", plainHTTP: true}\n  upstream: false\n',
  );
});
afterAll(async () => cleanup());

const base = {
  export: [
    'artifact',
    'export',
    '-m',
    'm.yaml',
    '--mirror-config',
    'mirrors.yaml',
    '--cache',
    'cache',
    '-o',
    'out.tar.gz',
    '--kk-version',
    'v3.1.12',
    '--dry-run',
  ],
  precheck: [
    'precheck',
    '-m',
    'm.yaml',
    '--mirror-config',
    'mirrors.yaml',
    '--cache',
    'cache',
    '--kk-version',
    'v3.1.12',
  ],
};
const BAD = ['1e2', '0x10', ' 8', '8 ', '8.0', '-1', '+3', '', '1_0', 'Infinity', '99999999999', 'eight'];
const cases: [keyof typeof base, string, string][] = [];
for (const cmd of ['export', 'precheck'] as const) {
  for (const v of [...BAD, '0', '257']) cases.push([cmd, '--concurrency', v]);
  for (const v of ['1e1', '21', '-0', '2.5']) cases.push([cmd, '--retries', v]);
}

describe('integer flags', () => {
  it.each(cases)('%s %s %j: exit 2 naming the flag and the value', async (cmd, flag, value) => {
    const r = await runCli([...base[cmd], flag, value], { cwd: dir, env: { HOME: dir } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${flag}: "${value}" is not a whole number from`);
  });

  it.each([['export'], ['precheck']] as const)('%s: plain digits in range are accepted', async (cmd) => {
    const r = await runCli([...base[cmd], '--concurrency', '16', '--retries', '0'], { cwd: dir, env: { HOME: dir } });
    expect(r.stderr).not.toContain('is not a whole number');
    expect(r.code).toBe(cmd === 'export' ? 0 : 1); // precheck: the loopback source is closed
  });
});

// --split-size: digits with an optional binary unit, one strict parser, at least 1 MiB.
describe('size flags', () => {
  it.each(['0', '-1', '1e9', '1.5G', '4GB', '4 G', ' 4G', '', 'G', '1023K', '1048575', '4Gi', '99999999999999999T'])(
    'export --split-size %j: exit 2 naming the flag and the value',
    async (value) => {
      const r = await runCli([...base.export, '--split-size', value], { cwd: dir, env: { HOME: dir } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`error: --split-size: "${value}" is not a size of at least 1048576 bytes`);
    },
  );

  it.each(['1048576', '1024K', '1M', '1MiB', '1mib', '4095M', '2g', '1T'])(
    'export --split-size %j is accepted',
    async (value) => {
      const r = await runCli([...base.export, '--split-size', value], { cwd: dir, env: { HOME: dir } });
      expect(r.stderr).not.toContain('--split-size');
      expect(r.code).toBe(0);
    },
  );

  it('4G is accepted with the FAT32 warning; -o - is refused', async () => {
    const r = await runCli([...base.export, '--split-size', '4G'], { cwd: dir, env: { HOME: dir } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('does not fit on FAT32');
    const out = base.export.map((a) => (a === 'out.tar.gz' ? '-' : a));
    const s = await runCli([...out, '--split-size', '1M'], { cwd: dir, env: { HOME: dir } });
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('cannot split standard output');
  });
});
