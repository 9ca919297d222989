/**
 * Berth's nftables table is the kernel side of every network and published
 * port. Someone running `nft flush ruleset` (or deleting Berth's table) in the
 * daemon's namespace must not break publishing, NAT or isolation until a
 * restart: berthd restores its table from what it knows within a second, and
 * requests that touch the firewall meanwhile work rather than fail half-way.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const H1 = '198.51.100.11';
const WORLD = '198.51.100.1';
const WEB = [
  'sh',
  '-c',
  'mkdir -p /www; echo "hello from $(hostname)" > /www/index.html; exec httpd -f -p 80 -h /www',
];
const LOOP = ['sh', '-c', 'while true; do sleep 3600; done'];

const table = () => env.inHost(['nft', 'list', 'table', 'inet', 'berth']).stdout;

/** An HTTP GET from the world. */
const fromWorld = (url: string) => env.lab.exec('world', ['curl', '-s', '-m', '2', url]);

/** Waits until a published port answers from the world. */
async function answers(port: number, ms = 5000): Promise<string> {
  let out = '';
  await eventually(() => {
    const r = fromWorld(`http://${H1}:${port}/`);
    assert.equal(r.status, 0, `port ${port}: ${r.stderr}`);
    out = r.stdout;
  }, ms);
  return out;
}

/** A container's IPv4 address on a network. */
const ipOf = (name: string, net: string) =>
  env
    .docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name])
    .stdout.trim();

/** Berth's table is back with its elements: both bridges and the published port. */
function restored(userBridge: string): void {
  const t = table();
  assert.match(t, /chain raw-prerouting/);
  assert.match(t, /chain forward/);
  assert.match(t, /tcp \. 8080 : 172\.17\.0\.\d+ \. 80/);
  assert.match(t, new RegExp(`"berth0"`));
  assert.match(t, new RegExp(`"${userBridge}"`));
}

/** Published port, NAT to the world and isolation between bridges all work. */
function works(webId: string, other: string): void {
  const page = fromWorld(`http://${H1}:8080/`);
  assert.equal(page.stdout, `hello from ${webId}\n`, page.stderr);
  const nat = env.docker(['exec', 'u1', 'ping', '-c1', '-W2', WORLD]);
  assert.equal(nat.status, 0, `NAT: ${nat.stdout}${nat.stderr}`);
  const iso = env.docker(['exec', 'u1', 'ping', '-c1', '-W1', other]);
  assert.notEqual(iso.status, 0, 'bridges are isolated');
}

describe('firewall restored after nft flush ruleset', () => {
  let webId = '';
  let userBridge = '';
  let webIp = '';
  before(async () => {
    env = await labWithDaemons();
    const r = env.docker(['run', '-d', '--name', 'web', '-p', '8080:80', 'busybox', ...WEB]);
    assert.equal(r.status, 0, r.stderr);
    webId = r.stdout.trim().slice(0, 12);
    const n = env.docker(['network', 'create', 'usernet']);
    assert.equal(n.status, 0, n.stderr);
    userBridge = `br-${n.stdout.trim().slice(0, 12)}`;
    const u = env.docker(['run', '-d', '--name', 'u1', '--network', 'usernet', 'busybox', ...LOOP]);
    assert.equal(u.status, 0, u.stderr);
    webIp = ipOf('web', 'bridge');
    assert.equal(await answers(8080), `hello from ${webId}\n`);
    works(webId, webIp);
  });
  after(async () => {
    await env?.destroy();
  });

  for (const how of [
    ['flush', 'ruleset'],
    ['delete', 'table', 'inet', 'berth'],
  ]) {
    it(`restores the table within a second after nft ${how.join(' ')}`, async () => {
      const r = env.inHost(['nft', ...how]);
      assert.equal(r.status, 0, r.stderr);
      const t0 = Date.now();
      await eventually(() => restored(userBridge), 1000);
      const took = Date.now() - t0;
      assert.ok(took <= 1000, `restored in ${took} ms`);
      works(webId, webIp);
    });
  }

  it('serves run -p and network create right after the table went', async () => {
    assert.equal(env.inHost(['nft', 'flush', 'ruleset']).status, 0);
    const r = env.docker(['run', '-d', '--name', 'web2', '-p', '8081:80', 'busybox', ...WEB]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(env.inHost(['nft', 'delete', 'table', 'inet', 'berth']).status, 0);
    const n = env.docker(['network', 'create', 'usernet2']);
    assert.equal(n.status, 0, n.stderr);
    assert.equal(await answers(8081), `hello from ${r.stdout.trim().slice(0, 12)}\n`);
    await eventually(() => restored(userBridge), 1000);
    assert.match(table(), new RegExp(`"br-${n.stdout.trim().slice(0, 12)}"`));
    assert.match(table(), /tcp \. 8081 : 172\.17\.0\.\d+ \. 80/);
    works(webId, webIp);
    // Nothing half-made was left behind.
    const ps = env.docker(['ps', '-a', '--filter', 'status=created', '-q']);
    assert.equal(ps.stdout, '');
  });
});
