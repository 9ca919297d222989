/** Throwaway TLS material for tests of berthd's TLS listeners (openssl). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

/**
 * A throwaway CA (ca.pem), a server certificate for `ip` (server-cert.pem,
 * server-key.pem), and a client certificate (cert.pem, key.pem) in `dir`.
 */
export function makeCerts(dir: string, ip: string): void {
  const key = (n: string) => openssl(dir, ['genrsa', '-out', n, '2048']);
  key('ca-key.pem');
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
  key('server-key.pem');
  openssl(dir, [
    'req',
    '-new',
    '-key',
    'server-key.pem',
    '-subj',
    `/CN=${ip}`,
    '-out',
    'server.csr',
  ]);
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\n`);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'server.ext',
    '-out',
    'server-cert.pem',
  ]);
  key('key.pem');
  openssl(dir, ['req', '-new', '-key', 'key.pem', '-subj', '/CN=client', '-out', 'client.csr']);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'client.ext',
    '-out',
    'cert.pem',
  ]);
}
