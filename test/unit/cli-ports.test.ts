import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePortSpecs, PortSpecError } from '../../src/cli/ports.js';

test('container port only', () => {
  assert.deepEqual(parsePortSpecs(['80']), {
    exposed: { '80/tcp': {} },
    bindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] },
  });
});

test('host:container and ip:host:container/proto', () => {
  assert.deepEqual(parsePortSpecs(['8080:80', '127.0.0.1:8080:80/udp']), {
    exposed: { '80/tcp': {}, '80/udp': {} },
    bindings: {
      '80/tcp': [{ HostIp: '', HostPort: '8080' }],
      '80/udp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
    },
  });
});

test('IPv6 host address in brackets, same port twice accumulates', () => {
  const r = parsePortSpecs(['[::1]:80:80', '0.0.0.0:81:80']);
  assert.deepEqual(r.bindings['80/tcp'], [
    { HostIp: '::1', HostPort: '80' },
    { HostIp: '0.0.0.0', HostPort: '81' },
  ]);
});

test('ranges map one to one; a single container port takes a host range', () => {
  const r = parsePortSpecs(['8000-8002:80-82']);
  assert.deepEqual(Object.keys(r.bindings), ['80/tcp', '81/tcp', '82/tcp']);
  assert.deepEqual(r.bindings['82/tcp'], [{ HostIp: '', HostPort: '8002' }]);
  assert.deepEqual(parsePortSpecs(['8000-8010:80']).bindings['80/tcp'], [
    { HostIp: '', HostPort: '8000-8010' },
  ]);
});

test('--expose merges ranges into ExposedPorts, keys sorted like Go maps', () => {
  const r = parsePortSpecs(['5000'], ['7000-7001', '53/udp']);
  assert.deepEqual(Object.keys(r.exposed), ['5000/tcp', '53/udp', '7000/tcp', '7001/tcp']);
});

test("docker's errors", () => {
  const err = (spec: string, msg: string): void =>
    assert.throws(() => parsePortSpecs([spec]), new PortSpecError(msg));
  err('70000:80', 'Invalid hostPort: 70000');
  err('80:70000', 'Invalid containerPort: 70000');
  err('80:0', 'Invalid containerPort: 0');
  err('0', 'Invalid containerPort: 0');
  err('1-3:4-5', 'Invalid ranges specified for container and host Ports: 4-5 and 1-3');
  err(
    '8000-8001:80-82',
    'Invalid ranges specified for container and host Ports: 80-82 and 8000-8001',
  );
  err('5-3:80', 'Invalid hostPort: 5-3');
  err('8080:80/foo', 'Invalid proto: foo');
  err('1.2.3:80:80', 'Invalid ip address: 1.2.3');
  err('8080:', 'No port specified: 8080:<empty>');
  assert.throws(
    () => parsePortSpecs([], ['80:80']),
    new PortSpecError('invalid port format for --expose: 80:80'),
  );
});
