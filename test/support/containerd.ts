import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, stopChild } from './exec.js';

// A real containerd (Debian's 1.6) in a temp dir with its own root, state, sockets and plugin dirs; the CRI
// plugin is disabled so no CNI is needed. `ctr` talks to it through `address`.

export const CONTAINERD_BIN = '/usr/bin/containerd';
export const CTR_BIN = '/usr/bin/ctr';

export type Snapshotter = 'overlayfs' | 'native';

export type CtrResult = { code: number; stdout: string; stderr: string };

export type TestContainerd = {
  readonly address: string; // the grpc socket
  readonly dir: string;
  readonly snapshotter: Snapshotter;
  // Run ctr against this daemon in the kko-test namespace; upstream traffic is sent to a dead proxy on 127.0.0.1.
  ctr(args: readonly string[], opts?: { timeoutMs?: number }): Promise<CtrResult>;
  // `ctr images pull` of one platform (default linux/amd64) through a hosts.toml dir, unpacked into the snapshotter,
  // as a node pulls; stderr holds only what the pull logs (see PULL_QUIET).
  pull(ref: string, opts: { hostsDir: string; platform?: string; timeoutMs?: number }): Promise<CtrResult>;
  // The digest `ctr images ls` lists for `ref` (undefined when it is not there).
  imageDigest(ref: string): Promise<string | undefined>;
  stop(): Promise<void>;
};

// ctr's progress display (cmd/ctr/commands/content/fetch.go, ShowProgress, containerd 1.6) polls the content store
// every 100 ms with the pull's context. When the fetch ends, Fetch cancels that context; a tick that is ready at the
// same moment (a loaded machine: the previous poll's gRPC call outlasted 100 ms, or ctr got no CPU) may win the
// select, and its poll logs `level=error msg="failed to get content info"` (or "active check failed")
// `error="context canceled"` after a pull that succeeded. Tests that assert a clean stderr then flake. The global
// --debug flag is ctr's only switch that turns the display off (NewFetchConfig sets no ProgressOutput under --debug),
// so the race cannot happen; instead it logs each registry request at debug level (method, URL, response status).
export const PULL_QUIET = ['--debug'];

function pullArgs(snapshotter: Snapshotter, ref: string, hostsDir: string, platform: string): string[] {
  return [
    ...PULL_QUIET,
    'images',
    'pull',
    '--hosts-dir',
    hostsDir,
    '--snapshotter',
    snapshotter,
    '--platform',
    platform,
    ref,
  ];
}

// Why containerd cannot run here (undefined when it can): it needs root and the Debian binaries.
export function containerdUnavailable(): string | undefined {
  if (!existsSync(CONTAINERD_BIN) || !existsSync(CTR_BIN))
    return `${CONTAINERD_BIN} / ${CTR_BIN} missing (Debian package containerd)`;
  if (process.getuid?.() !== 0) return 'containerd needs root';
  return undefined;
}

// overlayfs needs a kernel and a backing filesystem that allow an overlay mount; try one, else use native.
async function pickSnapshotter(dir: string): Promise<Snapshotter> {
  const p = join(dir, 'overlay-probe');
  const [lower, upper, work, merged] = ['l', 'u', 'w', 'm'].map((d) => join(p, d)) as [string, string, string, string];
  await Promise.all([lower, upper, work, merged].map((d) => mkdir(d, { recursive: true })));
  try {
    await run('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      merged,
    ]);
    await run('umount', [merged]);
    return 'overlayfs';
  } catch {
    return 'native';
  } finally {
    await rm(p, { recursive: true, force: true });
  }
}

function configToml(dir: string, address: string): string {
  return [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs"]',
    '[grpc]',
    `  address = "${address}"`,
    '[ttrpc]',
    `  address = "${address}.ttrpc"`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${dir}/opt"`,
    '',
  ].join('\n');
}

function ctrRun(address: string, args: readonly string[], timeoutMs: number): Promise<CtrResult> {
  // Go's ProxyFromEnvironment never proxies loopback hosts, so only non-local traffic hits the dead proxy (port 9).
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '',
  };
  return new Promise((resolve) => {
    execFile(
      CTR_BIN,
      ['--address', address, '--namespace', 'kko-test', ...args],
      { env, timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 124) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function waitReady(child: ChildProcess, address: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`containerd exited (${child.exitCode}): ${log()}`);
    if (existsSync(address) && (await ctrRun(address, ['version'], 5000)).code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`containerd did not answer on ${address} within 20 s: ${log()}`);
}

// Start containerd in a fresh temp dir; stop() ends it and removes the dir.
export async function startContainerd(): Promise<TestContainerd> {
  const why = containerdUnavailable();
  if (why) throw new Error(`cannot start containerd: ${why}`);
  const dir = await mkdtemp(join(tmpdir(), 'kko-ctrd-'));
  const address = join(dir, 'containerd.sock');
  const snapshotter = await pickSnapshotter(dir);
  await writeFile(join(dir, 'config.toml'), configToml(dir, address));
  const child = spawn(CONTAINERD_BIN, ['--config', join(dir, 'config.toml'), '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8192)));
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const stop = async (): Promise<void> => {
    await stopChild(child, 5000);
    process.off('exit', kill);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(child, address, () => log);
  } catch (err) {
    await stop();
    throw err;
  }
  const ctr = (args: readonly string[], opts?: { timeoutMs?: number }): Promise<CtrResult> =>
    ctrRun(address, args, opts?.timeoutMs ?? 60_000);
  return {
    address,
    dir,
    snapshotter,
    ctr,
    pull: (ref, o) => ctr(pullArgs(snapshotter, ref, o.hostsDir, o.platform ?? 'linux/amd64'), o),
    imageDigest: async (ref) => {
      const line = (await ctr(['images', 'ls'])).stdout.split('\n').find((l) => l.startsWith(`${ref} `));
      return /sha256:[a-f0-9]{64}/.exec(line ?? '')?.[0];
    },
    stop,
  };
}
