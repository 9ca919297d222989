/**
 * `berth network trace` and `POST /berth/trace` (issue 16 item 2) against a
 * lab daemon: S5 (two containers on the default bridge, by address:
 * delivered), S11 (by name on a user network: delivered), the isolation
 * case (bridge to a user network: dropped, with the reason), a port no one
 * listens on, a published port from the world (the DNAT shown), and no
 * trace table left in the lab host afterwards, nor after a daemon killed
 * with tables left (swept at its start).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const LOOP = 'while true; do sleep 3600; done';
const WEB = [
  '/bin/sh',
  '-c',
  'mkdir -p /www; echo hi > /www/index.html; exec httpd -f -p 80 -h /www',
];

interface Result {
  outcome: string;
  sentence: string;
  hops: Array<{ at: string; what: string }>;
  probe: { dst: string; port?: number };
}

const ok = (r: { status: number | null; stdout: string; stderr: string }): string => {
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};
const trace = (src: string, dst: string): Result => {
  const out = ok(env.berth(['network', 'trace', '--format', 'json', src, dst]));
  if (process.env.BERTH_TRACE_DEBUG) process.stderr.write(out + '\n');
  return JSON.parse(out) as Result;
};
const ipOf = (name: string, net: string): string =>
  ok(
    env.docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name]),
  ).trim();
const traceTables = () =>
  ok(env.inHost(['nft', 'list', 'tables']))
    .split('\n')
    .filter((l) => l.includes('berth-trace-'));

describe('berth network trace', { timeout: 240_000 }, () => {
  before(async () => {
    env = await labWithDaemons();
    ok(env.docker(['network', 'create', 'my-bridge']));
    ok(env.docker(['run', '-d', '--name', 'a1', 'busybox', '/bin/sh', '-c', LOOP]));
    ok(env.docker(['run', '-d', '--name', 'web', '-p', '8000:80', 'busybox', ...WEB]));
    ok(env.docker(['run', '-d', '--name', 'u1', '--network', 'my-bridge', 'busybox', ...WEB]));
    ok(
      env.docker([
        'run',
        '-d',
        '--name',
        'u2',
        '--network',
        'my-bridge',
        'busybox',
        '/bin/sh',
        '-c',
        LOOP,
      ]),
    );
  });
  after(async () => {
    await env?.destroy();
  });

  it('S5: two containers on the default bridge, by address: delivered', () => {
    const r = trace(ipOf('a1', 'bridge'), `${ipOf('web', 'bridge')}:80`);
    assert.equal(r.outcome, 'delivered', JSON.stringify(r, null, 1));
    assert.match(r.sentence, /^delivered: a1 → web/);
    assert.ok(r.hops.some((h) => h.at === 'route' && /dev eth0/.test(h.what)));
    assert.ok(r.hops.some((h) => h.at === 'veth' && /berth0|docker0/.test(h.what)));
  });

  it('S11: by name on a user network: delivered, and an ICMP echo too', () => {
    const r = trace('u2', 'u1:80');
    assert.equal(r.outcome, 'delivered', JSON.stringify(r, null, 1));
    assert.match(r.sentence, /delivered: u2 → u1/);
    assert.equal(trace('u2', 'u1').outcome, 'delivered');
  });

  it('the isolation case: dropped, with the reason', () => {
    const r = trace('a1', 'u1:80');
    assert.equal(r.outcome, 'dropped', JSON.stringify(r, null, 1));
    assert.equal(r.sentence, 'dropped: bridge and my-bridge are isolated from each other');
    assert.ok(r.hops.some((h) => /^nft inet berth forward/.test(h.at) && /→ drop/.test(h.what)));
  });

  it('a port no one listens on', () => {
    const r = trace('u2', 'u1:81');
    assert.equal(r.outcome, 'no-listener', JSON.stringify(r, null, 1));
    assert.equal(r.sentence, `no container listens on ${ipOf('u1', 'my-bridge')}:81`);
  });

  it('a published port from the world: the DNAT shown', () => {
    const r = trace('world', 'web:80');
    assert.equal(r.outcome, 'delivered', JSON.stringify(r, null, 1));
    assert.match(r.sentence, /published port 8000 → web:80/);
    const web = ipOf('web', 'bridge');
    assert.ok(r.hops.some((h) => h.at === 'nat' && h.what.includes(`${web}:80`)));
    assert.ok(r.hops.some((h) => /^nft inet berth/.test(h.at) && /dnat/.test(h.what)));
  });

  it('the text form ends with the sentence, and no trace table remains', () => {
    const out = ok(env.berth(['network', 'trace', 'a1', 'u1:80']));
    assert.match(out, /^trace a1 → u1:80\n/);
    assert.match(out, /\ndropped: bridge and my-bridge are isolated from each other\n$/);
    assert.deepEqual(traceTables(), []);
  });

  it('a trace table a killed daemon left is deleted at the next start', async () => {
    ok(env.inHost(['nft', 'add', 'table', 'inet', 'berth-trace-deadbeef']));
    ok(env.inHost(['nft', 'add', 'table', 'bridge', 'berth-trace-deadbeef']));
    await env.daemon.stop('SIGKILL');
    env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
    env.daemons[0] = env.daemon;
    assert.deepEqual(traceTables(), []);
  });
});
