/**
 * Test certificates: a self-signed P-256 certificate for CN=localhost (also IP 127.0.0.1), made by openssl.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key, as files in `dir` and as bytes. */
export interface TestCertificate {
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
}

/** Writes `cert.pem` and `key.pem` into `dir`. */
export function writeCertificate(dir: string): TestCertificate {
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']
      .concat(['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'])
      .concat(['-keyout', keyPath, '-out', certPath]),
    { encoding: 'utf8', timeout: 10_000 },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.error?.message ?? r.stderr}`);
  return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
}

/** The bytes of a fresh certificate and key (the files are removed). */
export function makeCertificate(): { cert: Buffer; key: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'olelo-tls-'));
  try {
    const { cert, key } = writeCertificate(dir);
    return { cert, key };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
