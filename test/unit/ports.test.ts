import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PortAllocator } from '../../src/network/ports/allocator.js';
import { checkPortBindings, onNetwork, portRequests } from '../../src/network/ports/spec.js';
import { PortPublisher } from '../../src/network/ports/publisher.js';
import { MemoryFirewall } from '../../src/kernel/firewall/index.js';
import { BindError, type HeldPort } from '../../src/kernel/ports/reserve.js';

const invalid = (fn: () => unknown, message: string) =>
  assert.throws(fn, (e: { code?: string; message?: string }) => {
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.equal(e.message, message);
    return true;
  });

describe('port bindings from a create body', () => {
  it("refuses host port 4789/udp (the overlay's VXLAN), alone or in a range; tcp is fine", () => {
    for (const HostPort of ['4789', '4780-4790']) {
      assert.throws(
        () => checkPortBindings({ '53/udp': [{ HostIp: '', HostPort }] }),
        /host port 4789\/udp carries Berth's overlay networks \(VXLAN\)/,
      );
    }
    assert.deepEqual(checkPortBindings({ '80/tcp': [{ HostIp: '', HostPort: '4789' }] }), {
      '80/tcp': [{ HostIp: '', HostPort: '4789' }],
    });
    assert.deepEqual(checkPortBindings({ '4789/udp': [{ HostIp: '', HostPort: '14789' }] }), {
      '4789/udp': [{ HostIp: '', HostPort: '14789' }],
    });
  });

  it("refuses what Docker's daemon refuses, with its message", () => {
    invalid(
      () => checkPortBindings({ '80/tcp': [{ HostIp: '', HostPort: '70000' }] }),
      'invalid port specification: "70000"',
    );
    invalid(
      () => checkPortBindings({ '80/tcp': [{ HostIp: '', HostPort: 'abc' }] }),
      'invalid port specification: "abc"',
    );
    invalid(
      () => checkPortBindings({ '80/tcp': [{ HostIp: '', HostPort: '8000-7000' }] }),
      'invalid port specification: "8000-7000"',
    );
    invalid(() => checkPortBindings({ '0/tcp': null }), 'invalid port specification: "0"');
    invalid(() => checkPortBindings({ '99999/tcp': [] }), 'invalid port specification: "99999"');
    invalid(() => checkPortBindings({ '80/foo': [] }), 'invalid proto: foo');
    invalid(
      () => checkPortBindings({ '80/tcp': [{ HostIp: '1.2.3', HostPort: '' }] }),
      'invalid IP address: 1.2.3',
    );
    checkPortBindings({
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '9000-9010' }],
      '53/udp': null,
    });
  });

  it('turns bindings and -P into requests, sorted as Docker lists ports', () => {
    const reqs = portRequests(
      ['80/tcp', '443/tcp', '53/udp'],
      {
        '80/tcp': [
          { HostIp: '', HostPort: '8080' },
          { HostIp: '127.0.0.1', HostPort: '' },
        ],
        '53/udp': [{ HostIp: '0.0.0.0', HostPort: '5300-5310' }],
      },
      true,
    );
    assert.deepEqual(reqs, [
      { proto: 'tcp', containerPort: 80, hostIp: '', hostPorts: [8080, 8080] },
      { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPorts: [0, 0] },
      { proto: 'tcp', containerPort: 443, hostIp: '', hostPorts: [0, 0] },
      { proto: 'udp', containerPort: 53, hostIp: '0.0.0.0', hostPorts: [5300, 5310] },
    ]);
  });

  it("takes the network's default host address where a binding names none", () => {
    const reqs = portRequests(
      [],
      {
        '80/tcp': [
          { HostIp: '', HostPort: '8080' },
          { HostIp: '0.0.0.0', HostPort: '8081' },
          { HostIp: '10.0.0.5', HostPort: '8082' },
        ],
      },
      false,
    );
    const ips = (d: string | undefined) => onNetwork(reqs, d).map((r) => r.hostIp);
    assert.deepEqual(
      onNetwork(reqs, undefined).map((r) => !!r.v4Only),
      [false, true, false],
      'an explicit 0.0.0.0 is IPv4 only',
    );
    // dockerd --ip 127.0.0.1: only the binding without an address moves.
    assert.deepEqual(ips('127.0.0.1'), ['127.0.0.1', '', '10.0.0.5']);
    for (const d of [undefined, '0.0.0.0', '']) assert.deepEqual(ips(d), ['', '', '10.0.0.5']);
    assert.deepEqual(portRequests(['80/tcp'], {}, false), [], 'exposed alone publishes nothing');
  });
});

describe('host port allocator', () => {
  it('makes all-addresses and one-address bindings of a port conflict, per protocol', () => {
    const a = new PortAllocator([40000, 40002]);
    a.take({ proto: 'tcp', hostIp: '', port: 8080 }, 'c1');
    assert.equal(a.holder({ proto: 'tcp', hostIp: '127.0.0.1', port: 8080 }), 'c1');
    assert.equal(a.holder({ proto: 'udp', hostIp: '', port: 8080 }), undefined);
    a.take({ proto: 'tcp', hostIp: '127.0.0.1', port: 9090 }, 'c2');
    assert.equal(a.holder({ proto: 'tcp', hostIp: '', port: 9090 }), 'c2');
    assert.equal(a.holder({ proto: 'tcp', hostIp: '10.0.0.1', port: 9090 }), undefined);
    a.release({ proto: 'tcp', hostIp: '', port: 8080 }, 'someone-else');
    assert.equal(a.holder({ proto: 'tcp', hostIp: '', port: 8080 }), 'c1');
    a.release({ proto: 'tcp', hostIp: '', port: 8080 }, 'c1');
    assert.equal(a.holder({ proto: 'tcp', hostIp: '', port: 8080 }), undefined);
  });

  it('hands out ephemeral ports in turn, wrapping, skipping taken ones, until none is left', () => {
    const a = new PortAllocator([40000, 40002]);
    const next = () => {
      const p = a.next('tcp', '');
      if (p !== undefined) a.take({ proto: 'tcp', hostIp: '', port: p }, 'x');
      return p;
    };
    assert.equal(next(), 40000);
    assert.equal(next(), 40001);
    a.release({ proto: 'tcp', hostIp: '', port: 40000 }, 'x');
    assert.equal(next(), 40002, 'a port just freed is not reused at once');
    assert.equal(next(), 40000);
    assert.equal(next(), undefined);
    assert.equal(a.next('tcp', '', [9000, 9002], new Set([9000])), 9001, 'a -p range starts low');
    assert.equal(a.next('tcp', '', [9000, 9002]), 9002, 'and continues after its last port');
    assert.equal(a.next('udp', ''), 40000, 'each protocol counts on its own');
  });
});

describe('port publisher', () => {
  const held: string[] = [];
  const hold = (busy: Set<number>) => async (proto: string, ip: string, port: number) => {
    if (busy.has(port))
      throw new BindError(
        'EADDRINUSE',
        `listen ${proto}4 ${ip}:${port}: bind: address already in use`,
      );
    held.push(`${proto}/${port}`);
    return { close: async () => void held.splice(held.indexOf(`${proto}/${port}`), 1) } as HeldPort;
  };

  function setup(busy: number[] = []) {
    held.length = 0;
    const fw = new MemoryFirewall();
    fw.ensureBase();
    const forgot: string[] = [];
    const pub = new PortPublisher(
      fw,
      [40000, 40009],
      async (proto, port) => void forgot.push(`${proto}/${port}`),
      hold(new Set(busy)),
    );
    return { fw, pub, forgot };
  }
  const req = (hostPorts: [number, number], proto: 'tcp' | 'udp' = 'tcp', containerPort = 80) => ({
    proto,
    containerPort,
    hostIp: '',
    hostPorts,
  });

  it('publishes all or nothing, with Docker’s message for a taken port', async () => {
    const { fw, pub } = setup();
    await pub.reserve('c1', [req([8080, 8080])]);
    await pub.activate('c1', '172.17.0.2');
    assert.equal(fw.dump().ports.length, 1);
    await assert.rejects(pub.reserve('c2', [req([40000, 40000]), req([8080, 8080], 'tcp', 81)]), {
      message: 'Bind for 0.0.0.0:8080 failed: port is already allocated',
    });
    assert.deepEqual(pub.published('c2'), []);
    assert.deepEqual(held, ['tcp/8080'], 'the first port of the failed request was let go');
    await pub.reserve('c3', [req([40000, 40000])]);
    await pub.reserve('c4', [req([9000, 9000])]);
    await assert.rejects(pub.reserve('c5', [req([8080, 8081]), req([8080, 8081], 'tcp', 81)]), {
      message: 'all ports are allocated',
    });
  });

  it('skips ephemeral ports a host process holds, but fails a fixed one with the kernel’s error', async () => {
    const { pub } = setup([40000, 40001, 9000]);
    const [p] = await pub.reserve('c1', [req([0, 0])]);
    assert.equal(p?.hostPort, 40002);
    await assert.rejects(pub.reserve('c2', [req([9000, 9000])]), {
      message: 'listen tcp4 :9000: bind: address already in use',
    });
  });

  it('unpublishes everything and forgets UDP flows on release', async () => {
    const { fw, pub, forgot } = setup();
    await pub.reserve('c1', [req([5353, 5353], 'udp', 53), req([8080, 8080])]);
    await pub.activate('c1', '172.17.0.2');
    assert.deepEqual(forgot, ['udp/5353']);
    await pub.release('c1');
    assert.deepEqual(fw.dump().ports, []);
    assert.deepEqual(held, []);
    assert.deepEqual(forgot, ['udp/5353', 'udp/5353']);
    await pub.reserve('c2', [req([8080, 8080])]);
  });

  it('lets the ports and their sockets go even when the firewall change fails', async () => {
    const { fw, pub } = setup();
    await pub.reserve('c1', [req([8080, 8080])]);
    await pub.activate('c1', '172.17.0.2');
    fw.deletedByOthers();
    await assert.rejects(pub.release('c1'), /No such file or directory/);
    assert.deepEqual(held, []);
    await pub.reserve('c2', [req([8080, 8080])]);
  });

  it('removes what an endpoint record says after a restart (nothing in memory)', async () => {
    const { fw, pub } = setup();
    fw.addPortMapping({
      proto: 'tcp',
      hostPort: 8080,
      containerIp: '172.17.0.9',
      containerPort: 80,
    });
    await pub.release('gone', {
      ports: [{ proto: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }],
      containerIp: '172.17.0.9',
    });
    assert.deepEqual(fw.dump().ports, []);
  });
});
