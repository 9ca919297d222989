import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { linkEnv, linkHostNames, parseLink } from '../../src/network/links/links.js';

describe('--link', () => {
  it('parses name and alias', () => {
    assert.deepEqual(parseLink('test1'), { name: 'test1', alias: 'test1' });
    assert.deepEqual(parseLink('/test1:db'), { name: 'test1', alias: 'db' });
    assert.throws(() => parseLink(':x'), /invalid link format/);
    assert.throws(() => parseLink('a:b:c'), /invalid link format/);
  });

  it("gives the parent Docker's variables", () => {
    const env = linkEnv('test2', 'test1', {
      name: 'test1',
      ip: '172.17.0.2',
      exposedPorts: ['80/tcp', '53/udp'],
      env: ['PATH=/bin', 'HOME=/root', 'FOO=bar'],
    });
    assert.deepEqual(env, [
      'TEST1_PORT=udp://172.17.0.2:53',
      'TEST1_PORT_53_UDP=udp://172.17.0.2:53',
      'TEST1_PORT_53_UDP_ADDR=172.17.0.2',
      'TEST1_PORT_53_UDP_PORT=53',
      'TEST1_PORT_53_UDP_PROTO=udp',
      'TEST1_PORT_80_TCP=tcp://172.17.0.2:80',
      'TEST1_PORT_80_TCP_ADDR=172.17.0.2',
      'TEST1_PORT_80_TCP_PORT=80',
      'TEST1_PORT_80_TCP_PROTO=tcp',
      'TEST1_NAME=/test2/test1',
      'TEST1_ENV_FOO=bar',
    ]);
  });

  it('bulks contiguous ports into _START/_END and upper-cases aliases with dashes', () => {
    const env = linkEnv('/web', 'my-db', {
      name: 'db',
      ip: '10.0.0.5',
      exposedPorts: ['8000/tcp', '8001/tcp'],
      env: [],
    });
    assert.ok(env.includes('MY_DB_PORT_8000_TCP_START=tcp://10.0.0.5:8000'));
    assert.ok(env.includes('MY_DB_PORT_8000_TCP_END=tcp://10.0.0.5:8001'));
    assert.ok(env.includes('MY_DB_PORT_8000_TCP_PORT_END=8001'));
    assert.ok(env.includes('MY_DB_PORT_8001_TCP_ADDR=10.0.0.5'));
    assert.ok(env.includes('MY_DB_NAME=/web/my-db'));
  });

  it("names the child by alias and name in the parent's hosts file", () => {
    const id = '6478172fb628faa056f3';
    assert.deepEqual(linkHostNames('test1', 'test1', id), ['test1', '6478172fb628']);
    assert.deepEqual(linkHostNames('alias1', 'test1', id), ['alias1', '6478172fb628', 'test1']);
  });
});
