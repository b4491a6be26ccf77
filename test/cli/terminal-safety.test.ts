import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withChecksums } from '../../src/archive/checksums.js';
import { raw, rawTar } from '../support/raw-tar.js';
import { runCli, tempDir, type CliRun } from './run-cli.js';

// Terminal output is data: a name or a server message with ESC ] 0 ; … BEL (set the title), ESC [ 2 J (clear
// the screen) or CR/LF (forge an "ok" line) must reach the terminal as visible \u00XX escapes.
const TITLE = '\u001b]0;pwned\u0007';
const CLEAR = '\u001b[2J';
// eslint-disable-next-line no-control-regex -- looking for control characters is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

let dir: string;
let cleanup: () => Promise<void>;
let server: Server;
let port: number;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  // A "registry" that answers every request with 400 and an OCI error whose message is hostile.
  const message = `what? ${TITLE}${CLEAR}\r\nok: all images verified\u009b31m`;
  server = createServer((_req, res) => {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message }] }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((done) => server.close(done));
  await cleanup();
});

function expectNoRawControls(r: CliRun): void {
  for (const text of [r.stdout, r.stderr]) {
    expect(text.replace(/\n/g, '')).not.toMatch(RAW_CONTROL);
  }
}

describe('no raw control characters reach the terminal', () => {
  const HOSTILE = [
    `kube/v1.28.12${TITLE}/amd64/kubeadm`,
    `kube/v1${CLEAR}/amd64/kubelet`,
    'etcd/x\rok: 9 files verified/amd64/etcd',
    'helm/y\nok: spoof/amd64/helm',
  ];
  // kko's writer refuses such names, so the archive is built by hand: a valid start, then one hostile name.
  const archiveWith = async (name: string): Promise<string> => {
    const start = withChecksums([
      { name: 'images/oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
      {
        name: 'images/index.json',
        data: Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'),
      },
    ]);
    const out = join(dir, 'names.tar');
    await writeFile(out, rawTar(...start.map((e) => raw(e.name, 'data' in e ? e.data : '')), raw(name, 'x')));
    return out;
  };

  it.each(['inspect', 'verify'])(
    'an archive entry name with control characters: `artifact %s` refuses it, escaped, no forged "ok" line',
    async (command) => {
      for (const name of HOSTILE) {
        const r = await runCli(['artifact', command, await archiveWith(name)]);
        expect(r.code).toBe(2);
        expectNoRawControls(r);
        expect(r.stderr).toContain(`refusing entry "${name.slice(0, 6)}`); // up to the first control character
        expect(r.stderr).toContain('a control character in its name');
        expect(`${r.stdout}${r.stderr}`).not.toMatch(/^ok/m);
      }
    },
  );

  const policy = async () => {
    await writeFile(
      join(dir, 'm.yaml'),
      'apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Manifest\nmetadata: {name: t}\nspec:\n  arches: [amd64]\n  images:\n  - docker.io/kubesphere/pause:3.9\n',
    );
    await writeFile(
      join(dir, 'mirrors.yaml'),
      `apiVersion: kko.io/v1alpha1\nkind: MirrorPolicy\nregistries:\n- prefix: docker.io\n  mirrors:\n  - {location: "127.0.0.1:${port}", plainHTTP: true}\n  upstream: false\n`,
    );
  };

  it('a registry error body in `precheck` output is escaped, the text after "?" kept', async () => {
    await policy();
    const r = await runCli(
      ['precheck', '-m', 'm.yaml', '--mirror-config', 'mirrors.yaml', '--cache', 'cache', '--kk-version', 'v3.1.12'],
      { cwd: dir, env: { HOME: dir } },
    );
    expect(r.code).toBe(1);
    expectNoRawControls(r);
    expect(r.stdout + r.stderr).toContain(
      'UNSUPPORTED: what? \\u001b]0;pwned\\u0007\\u001b[2J\\u000d\\u000aok: all images verified\\u009b31m',
    );
  });

  it('a registry error body in `artifact export` errors is escaped and the URL-free text is not mangled', async () => {
    await policy();
    const r = await runCli(
      [
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
        '--json',
      ],
      { cwd: dir, env: { HOME: dir } },
    );
    expect(r.code).toBe(1);
    expectNoRawControls(r);
    expect(r.stderr).toContain(
      'UNSUPPORTED: what? \\u001b]0;pwned\\u0007\\u001b[2J\\u000d\\u000aok: all images verified\\u009b31m (HTTP 400)',
    );
    // NDJSON events stay valid JSON and decode to the escaped text
    for (const line of r.stdout.trim().split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
  });
});
