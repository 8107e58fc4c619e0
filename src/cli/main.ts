/**
 * The `olelo` command. Until the server core lands it reports the version and what olelo will serve.
 */
import { readFileSync } from 'node:fs';

interface PackageInfo {
  name: string;
  version: string;
}

function packageInfo(): PackageInfo {
  const url = new URL('../../../package.json', import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as PackageInfo;
}

const HELP = `Usage: olelo [options]

Options:
  --version     print the version and exit
  --help        print this help and exit
`;

/** Runs the command line; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const pkg = packageInfo();
  if (args.includes('--version')) {
    console.log(pkg.version);
    return 0;
  }
  if (args.includes('--help')) {
    console.log(HELP);
    return 0;
  }
  console.log(`olelo ${pkg.version} (Node.js ${process.version})

olelo is a SIP signalling server. This build contains the SIP message core
(parser, editor, serializer; importable as 'olelo/sip'). The server itself is
not built yet; on its embedded defaults it will serve:

  SIP over UDP and TCP   0.0.0.0:5060 and [::]:5060
  SIP over WebSocket     0.0.0.0:8080
  routing                scripts/default.ts (proxy, registrar, digest auth)
  data                   ./data (embedded SQLite)
`);
  return 0;
}
