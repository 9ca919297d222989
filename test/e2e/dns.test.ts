/**
 * S11: on user-defined networks names resolve both ways, through Berth's DNS
 * (on each user bridge's gateway); scoped so a container learns only names of
 * networks it is on; none on the default bridge (Docker's behaviour).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const LOOP = 'while true; do sleep 3600; done';
const run = (...args: string[]) => {
  const r = env.docker(['run', '-d', ...args, 'busybox', 'sh', '-c', LOOP]);
  assert.equal(r.status, 0, r.stderr);
};

describe('name resolution on user networks (S11)', () => {
  before(async () => {
    env = await labWithDaemons();
    assert.equal(env.docker(['network', 'create', 'my-bridge']).status, 0);
    assert.equal(env.docker(['network', 'create', 'other']).status, 0);
    run('--name', 'test1');
    run('--name', 'test2');
    run('--name', 'test3', '--network', 'my-bridge', '--network-alias', 'web', '--hostname', 'h3');
    run('--name', 'stranger', '--network', 'other');
  });
  after(async () => {
    await env?.destroy();
  });

  it("resolv.conf points at the network's gateway with ndots:0; the default bridge keeps the daemon's", () => {
    assert.equal(
      env.docker(['exec', 'test3', 'cat', '/etc/resolv.conf']).stdout,
      'nameserver 172.18.0.1\noptions ndots:0\n',
    );
    assert.equal(
      env.docker(['exec', 'test1', 'cat', '/etc/resolv.conf']).stdout,
      'nameserver 198.51.100.1\n',
    );
  });

  it('S10+S11: after connect, test2 and test3 reach each other by name', () => {
    assert.equal(env.docker(['network', 'connect', 'my-bridge', 'test2']).status, 0);
    assert.equal(
      env.docker(['exec', 'test2', 'cat', '/etc/resolv.conf']).stdout,
      'nameserver 172.18.0.1\noptions ndots:0\n',
    );
    const a = env.docker(['exec', 'test3', 'ping', '-c1', '-W2', 'test2']);
    assert.equal(a.status, 0, a.stdout + a.stderr);
    assert.match(a.stdout, /PING test2 \(172\.18\.0\.3\)/);
    const b = env.docker(['exec', 'test2', 'ping', '-c1', '-W2', 'test3']);
    assert.equal(b.status, 0, b.stdout + b.stderr);
  });

  it('answers aliases, short IDs, hostnames and name.network', () => {
    const id = env.docker(['inspect', '-f', '{{.Id}}', 'test3']).stdout.trim().slice(0, 12);
    for (const name of ['web', id, 'h3', 'test3.my-bridge']) {
      const r = env.docker(['exec', 'test2', 'nslookup', name]);
      assert.match(r.stdout, /Address: 172\.18\.0\.2/, `${name}: ${r.stdout}${r.stderr}`);
    }
  });

  it('inspect shows the names the DNS answers (DNSNames)', () => {
    const id = env.docker(['inspect', '-f', '{{.Id}}', 'test3']).stdout.trim().slice(0, 12);
    const r = env.docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'test3']);
    const nets = JSON.parse(r.stdout) as Record<string, { DNSNames: string[] | null }>;
    assert.deepEqual(nets['my-bridge']!.DNSNames, ['test3', 'web', id, 'h3']);
    const b = JSON.parse(
      env.docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'test1']).stdout,
    ) as Record<string, { DNSNames: string[] | null }>;
    assert.equal(b.bridge!.DNSNames, null);
  });

  it('a container learns no names of networks it is not on, not even through their gateway', () => {
    const r = env.docker(['exec', 'stranger', 'nslookup', 'test3']);
    assert.doesNotMatch(r.stdout, /172\.18\.0\.2/);
    const via = env.docker(['exec', 'stranger', 'nslookup', 'test3', '172.18.0.1']);
    assert.doesNotMatch(via.stdout, /Address: 172\.18\.0\.2/, via.stdout);
    assert.notEqual(
      env.docker(['exec', 'test1', 'ping', '-c1', '-W1', 'test3']).status,
      0,
      'no DNS on the default bridge',
    );
  });

  it('--link on a user network is a name for the linking container only, as Docker 20.10', () => {
    run('--name', 'test8', '--network', 'my-bridge', '--link', 'test3:db3');
    const ip3 = '172.18.0.2';
    const r = env.docker(['exec', 'test8', 'nslookup', 'db3']);
    assert.match(
      r.stdout,
      new RegExp(`Address: ${ip3.replace(/\./g, '\\.')}`),
      r.stdout + r.stderr,
    );
    // No /etc/hosts line, no variables, the link kept with the endpoint.
    assert.doesNotMatch(env.docker(['exec', 'test8', 'cat', '/etc/hosts']).stdout, /db3/);
    assert.doesNotMatch(env.docker(['exec', 'test8', 'env']).stdout, /DB3_/);
    assert.equal(
      env
        .docker([
          'inspect',
          '-f',
          '{{json .HostConfig.Links}} {{json (index .NetworkSettings.Networks "my-bridge").Links}}',
          'test8',
        ])
        .stdout.trim(),
      'null ["test3:db3"]',
    );
    // Nobody else gets the alias, not even the target.
    assert.doesNotMatch(
      env.docker(['exec', 'test3', 'nslookup', 'db3']).stdout,
      /Address: 172\.18/,
    );
    // connect --link gives a connected container its own.
    assert.equal(
      env.docker(['network', 'connect', '--link', 'test3:db9', 'my-bridge', 'test1']).status,
      0,
    );
    assert.match(env.docker(['exec', 'test1', 'nslookup', 'db9']).stdout, /Address: 172\.18\.0\.2/);
    assert.doesNotMatch(
      env.docker(['exec', 'test8', 'nslookup', 'db9']).stdout,
      /Address: 172\.18/,
    );
    assert.equal(env.docker(['network', 'disconnect', 'my-bridge', 'test1']).status, 0);
    assert.equal(env.docker(['rm', '-f', 'test8']).status, 0);
  });

  it('a name is gone when disconnect returns', () => {
    assert.equal(env.docker(['network', 'disconnect', 'my-bridge', 'test2']).status, 0);
    const r = env.docker(['exec', 'test3', 'ping', '-c1', '-W1', 'test2']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /bad address 'test2'/);
    assert.equal(
      env.docker(['exec', 'test2', 'cat', '/etc/resolv.conf']).stdout,
      'nameserver 198.51.100.1\n',
    );
  });
});
