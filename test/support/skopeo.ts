import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

// skopeo as the independent reader of what a registry serves over plain HTTP (loopback test registries).
const sh = promisify(execFile);

// `skopeo inspect --tls-verify=false <flags…> docker://<name>`, parsed (with --raw: the manifest or index itself).
export async function skopeoInspect(name: string, ...flags: string[]): Promise<unknown> {
  const { stdout } = await sh('skopeo', ['inspect', '--tls-verify=false', ...flags, `docker://${name}`], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as unknown;
}

// The raw bytes skopeo reads for a name (exactly what the registry stores) and their sha256.
export async function skopeoRaw(name: string): Promise<{ bytes: Buffer; digest: string }> {
  const r = await sh('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`], {
    encoding: 'buffer',
    maxBuffer: 16 * 1024 * 1024,
  });
  const bytes = r.stdout;
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}
