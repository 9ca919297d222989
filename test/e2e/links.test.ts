/** S7: --link on the default bridge — one-directional names and Docker's variables. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const LOOP = 'while true; do sleep 3600; done';

describe('links (S7)', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it('test2 --link test1: test2 reaches test1 by name, not the other way round', () => {
    assert.equal(
      env.docker([
        'run',
        '-d',
        '--name',
        'test1',
        '--expose',
        '80',
        '-e',
        'FOO=bar',
        'busybox',
        'sh',
        '-c',
        LOOP,
      ]).status,
      0,
    );
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'test2',
      '--link',
      'test1',
      'busybox',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const ping = env.docker(['exec', 'test2', 'ping', '-c1', '-W2', 'test1']);
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);
    assert.match(ping.stdout, /PING test1 \(172\.17\.0\.2\)/);
    const back = env.docker(['exec', 'test1', 'ping', '-c1', '-W1', 'test2']);
    assert.notEqual(back.status, 0);
    assert.match(back.stderr, /bad address 'test2'/);
  });

  it("writes the child into the parent's /etc/hosts and sets the variables", () => {
    const id = env.docker(['inspect', '-f', '{{.Id}}', 'test1']).stdout.trim();
    const hosts = env.docker(['exec', 'test2', 'cat', '/etc/hosts']).stdout;
    assert.match(hosts, new RegExp(`^172\\.17\\.0\\.2\\ttest1 ${id.slice(0, 12)}$`, 'm'));
    const vars = env.docker(['exec', 'test2', 'env']).stdout.split('\n');
    for (const v of [
      'TEST1_NAME=/test2/test1',
      'TEST1_PORT=tcp://172.17.0.2:80',
      'TEST1_PORT_80_TCP=tcp://172.17.0.2:80',
      'TEST1_PORT_80_TCP_ADDR=172.17.0.2',
      'TEST1_PORT_80_TCP_PORT=80',
      'TEST1_PORT_80_TCP_PROTO=tcp',
      'TEST1_ENV_FOO=bar',
    ]) {
      assert.ok(vars.includes(v), `${v} in ${vars.join(' ')}`);
    }
    assert.equal(
      env.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'test2']).stdout.trim(),
      '["/test1:/test2/test1"]',
    );
  });

  it('an alias names the child too', () => {
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'test4',
      '--link',
      'test1:alias1',
      'busybox',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      env.docker(['exec', 'test4', 'cat', '/etc/hosts']).stdout,
      /^172\.17\.0\.2\talias1 [0-9a-f]{12} test1$/m,
    );
    assert.ok(env.docker(['exec', 'test4', 'env']).stdout.includes('ALIAS1_NAME=/test4/alias1'));
    assert.equal(env.docker(['exec', 'test4', 'ping', '-c1', '-W2', 'alias1']).status, 0);
  });

  it("the parent's hosts line follows the child to a new address", () => {
    assert.equal(env.docker(['stop', '-t', '0', 'test1']).status, 0);
    assert.equal(
      env.docker(['run', '-d', '--name', 'squatter', 'busybox', 'sh', '-c', LOOP]).status,
      0,
    );
    assert.equal(env.docker(['start', 'test1']).status, 0);
    const ip = env
      .docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'test1'])
      .stdout.trim();
    assert.notEqual(ip, '172.17.0.2');
    assert.match(
      env.docker(['exec', 'test2', 'cat', '/etc/hosts']).stdout,
      new RegExp(`^${ip.replace(/\./g, '\\.')}\\ttest1 `, 'm'),
    );
    assert.equal(env.docker(['exec', 'test2', 'ping', '-c1', '-W2', 'test1']).status, 0);
    assert.ok(env.docker(['exec', 'test2', 'env']).stdout.includes(`TEST1_PORT_80_TCP_ADDR=${ip}`));
  });

  it('a link to a missing container is refused at create', () => {
    const r = env.docker(['run', '--rm', '--link', 'nosuch', 'busybox', 'true']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /could not get container for nosuch: No such container: nosuch/);
    assert.doesNotMatch(r.stderr, /Unable to find image/);
  });
});
