import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Tests that spawn the real CLI (bin/kko.js → dist/) need a fresh build of src/.
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
}
