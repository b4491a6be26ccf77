import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Tests that spawn the real CLI (bin/kko.js → dist/bundle/, else dist/cli/main.js) need a fresh build of src/.
export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  // Type errors are reported by `npm run typecheck`; tsc still emits, which is all the spawned CLI needs.
  try {
    execFileSync(
      process.execPath,
      [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.build.json'],
      { cwd: root, stdio: 'pipe' },
    );
  } catch (err) {
    process.stderr.write(
      `global-setup: tsc reported errors (dist was still emitted): ${String((err as { stdout?: Buffer }).stdout ?? err).slice(0, 2000)}\n`,
    );
  }
  execFileSync(process.execPath, ['scripts/bundle-catalog.js'], { cwd: root, stdio: 'inherit' });
  // The CLI bundle is rebuilt in the same step, so the spawned CLI runs what users run (bin/kko.js would fall back to
  // dist/cli/main.js from a bundle older than dist/).
  try {
    execFileSync(process.execPath, ['scripts/build-bundle.js'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    process.stderr.write(
      `global-setup: the CLI bundle was not built (bin/kko.js runs dist/cli/main.js): ${String((err as { stderr?: Buffer }).stderr ?? err).slice(0, 2000)}\n`,
    );
  }
}
