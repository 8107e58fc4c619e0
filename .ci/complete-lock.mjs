// Completes package-lock.json with the platform-specific optional packages the npm registry mirror of
// this environment does not serve (e.g. Biome's builds for macOS and Windows). npm install leaves them out
// of the lock, and npm ci then refuses the lock as "Missing: ... from lock file". Each added entry carries
// its os/cpu/libc, so npm ci skips it on every other platform and never needs to download it.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;
const OS = {
  android: 'android',
  darwin: 'darwin',
  linux: 'linux',
  win32: 'win32',
  freebsd: 'freebsd',
  openbsd: 'openbsd',
  sunos: 'sunos',
  aix: 'aix',
  netbsd: 'netbsd',
};
let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (packages[key] !== undefined || packages[`${path}/${key}`] !== undefined) continue;
    const m =
      /-(android|darwin|linux|win32|freebsd|openbsd|netbsd|sunos|aix)-(x64|arm64|arm|ia32|ppc64|s390x|riscv64|loong64|mips64el)(-(musl|gnu|msvc))?$/.exec(
        name,
      );
    if (m === null) continue; // not a platform build: leave it to npm
    const added_entry = { version: spec.replace(/^[\^~=]/, ''), cpu: [m[2]], os: [OS[m[1]]], optional: true };
    if (m[4] === 'musl') added_entry.libc = ['musl'];
    if (entry.dev) added_entry.dev = true;
    packages[key] = added_entry;
    added++;
  }
}
if (added > 0) writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: ${added} platform entries added`);
