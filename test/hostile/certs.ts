/**
 * A small PKI for TLS tests, made by openssl in a temp folder: a CA, and certificates it issues (P-256,
 * one day) for a server (CN=localhost, IP 127.0.0.1) or a client.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate and key, as files and bytes. */
export interface IssuedCertificate {
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
}

function read(certPath: string, keyPath: string): IssuedCertificate {
  return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
}

/** A self-signed CA named `name`, written as `<name>.pem` and `<name>-key.pem` in `dir`. */
export function makeCa(dir: string, name: string): IssuedCertificate {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}-key.pem`);
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']
      .concat(['-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE'])
      .concat(['-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', keyPath, '-out', certPath]),
  );
  return read(certPath, keyPath);
}

/** A certificate for `cn` issued by `ca`, written as `<name>.pem` and `<name>-key.pem` in `dir`. */
export function issue(
  dir: string,
  ca: IssuedCertificate,
  name: string,
  usage: 'server' | 'client',
  cn = usage === 'server' ? 'localhost' : name,
): IssuedCertificate {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}-key.pem`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  openssl(
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      keyPath,
      '-out',
      csr,
    ]),
  );
  writeFileSync(
    ext,
    usage === 'server'
      ? 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
      : 'extendedKeyUsage=clientAuth\n',
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.certPath,
      '-CAkey',
      ca.keyPath,
      '-CAcreateserial',
      '-days',
      '1',
    ].concat(['-extfile', ext, '-out', certPath]),
  );
  return read(certPath, keyPath);
}
