import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isKkoError } from '../../src/errors.js';
import { readArchive } from '../../src/archive/reader.js';

// Independent tar readers for differential tests: Go's archive/tar as kk's unpack uses it (tar-referee.go) and
// Python's tarfile, each listing what kk would create. kko must list the same rows, or refuse the archive.

export type Row = { name: string; type: 'file' | 'directory'; size: number; sha256: string }; // name: hex of the bytes
export type Listing = { rows: Row[] } | { error: string };

const GO_SOURCE = new URL('./tar-referee.go', import.meta.url).pathname;

// Build the Go referee once (GOCACHE/GOPATH in temp dirs, no modules); undefined when Go is absent and KKO_SKIP_GO is set.
export function buildGoReferee(): string | undefined {
  if (spawnSync('go', ['version']).status !== 0) {
    if (process.env.KKO_SKIP_GO) return undefined;
    throw new Error(
      'the tar differential test needs Go (Debian package golang-go) on PATH; set KKO_SKIP_GO=1 to skip it',
    );
  }
  const root = join(tmpdir(), 'kko-tar-referee');
  mkdirSync(join(root, 'gopath'), { recursive: true });
  const bin = join(root, `referee-${process.pid}`);
  const env = {
    ...process.env,
    GOCACHE: join(root, 'gocache'),
    GOPATH: join(root, 'gopath'),
    GO111MODULE: 'off',
    GOFLAGS: '',
  };
  const r = spawnSync('go', ['build', '-o', bin, GO_SOURCE], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building ${GO_SOURCE} failed: ${r.stderr}`);
  return bin;
}

function parseLines(stdout: string, status: number | null, stderr: string): Listing {
  const lines = stdout.split('\n').filter((l) => l !== '');
  const parsed = lines.map((l) => JSON.parse(l) as Row & { error?: string });
  const err = parsed.find((p) => p.error !== undefined);
  if (err || status !== 0) return { error: err?.error ?? `exit ${status}: ${stderr}` };
  return { rows: parsed };
}

// What kk's unpack (Go archive/tar) would create from `tar`.
export function goList(bin: string, tar: Buffer): Listing {
  const r = spawnSync(bin, [], { input: tar, encoding: 'utf8', maxBuffer: 1 << 28 });
  return parseLines(r.stdout, r.status, r.stderr);
}

// DIR packed as kk's `artifact export` writes it (Go's archive/tar under compress/gzip) into `out`.
export function goPack(bin: string, dir: string, out: string): void {
  const fd = openSync(out, 'w');
  try {
    const r = spawnSync(bin, ['pack', dir], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`packing ${dir} with Go's archive/tar failed: ${r.stderr}`);
  } finally {
    closeSync(fd);
  }
}

const PY = `
import sys, tarfile, hashlib, json, posixpath
try:
    with tarfile.open(fileobj=sys.stdin.buffer, mode='r|*', encoding='utf-8') as tf:
        for m in tf:
            if m.isdir(): kind = 'directory'
            elif m.type in (tarfile.REGTYPE, tarfile.AREGTYPE): kind = 'file'
            else: continue
            name = posixpath.normpath(m.name)
            if kind == 'directory' and name == '.': continue
            data = tf.extractfile(m).read() if kind == 'file' else b''
            print(json.dumps({'name': name.encode('utf-8', 'surrogateescape').hex(), 'type': kind, 'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()}))
except Exception as e:
    print(json.dumps({'error': repr(e)}))
    sys.exit(1)
`;

// The same listing by Python's tarfile (stream mode, as a pipe would read it).
export function pythonList(tar: Buffer): Listing {
  const r = spawnSync('python3', ['-c', PY], { input: tar, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw new Error(`python3 is needed as a second tar referee: ${r.error.message}`);
  return parseLines(r.stdout, r.status, r.stderr);
}

// kko's reader: its rows, or the refusal (only UNSAFE_ARCHIVE counts as a refusal; anything else is rethrown).
export async function kkoList(tar: Buffer): Promise<Listing> {
  const rows: Row[] = [];
  try {
    for await (const e of readArchive(Readable.from([tar]))) {
      const hash = createHash('sha256');
      let size = 0;
      for await (const c of e.body) {
        hash.update(c as Buffer);
        size += (c as Buffer).length;
      }
      if (e.type !== 'file' && e.type !== 'directory')
        throw new Error(`kko yielded a ${e.type} without links: 'inside'`);
      rows.push({ name: Buffer.from(e.name).toString('hex'), type: e.type, size, sha256: hash.digest('hex') });
    }
  } catch (err) {
    if (isKkoError(err) && err.code === 'UNSAFE_ARCHIVE') return { error: err.message };
    throw err;
  }
  return { rows };
}
