/** Throwaway TLS material for tests of berthd's TLS listeners (openssl). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A key `key` and a certificate `cert` for `subject`, signed by the CA in `dir`. */
function signed(
  dir: string,
  name: string,
  subject: string,
  ext: string,
  key: string,
  cert: string,
) {
  openssl(dir, ['genrsa', '-out', key, '2048']);
  openssl(dir, ['req', '-new', '-key', key, '-subj', subject, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
    '-out',
    cert,
  ]);
}

/**
 * A throwaway CA (ca.pem), a server certificate for `ip` (server-cert.pem,
 * server-key.pem), and a client certificate (cert.pem, key.pem) in `dir`.
 */
export function makeCerts(dir: string, ip: string): void {
  openssl(dir, ['genrsa', '-out', 'ca-key.pem', '2048']);
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    'ca-key.pem',
    '-days',
    '1',
    '-subj',
    '/CN=lab-ca',
    '-out',
    'ca.pem',
  ]);
  const serverExt = `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\n`;
  signed(dir, 'server', `/CN=${ip}`, serverExt, 'server-key.pem', 'server-cert.pem');
  signed(dir, 'client', '/CN=client', 'extendedKeyUsage=clientAuth\n', 'key.pem', 'cert.pem');
}
