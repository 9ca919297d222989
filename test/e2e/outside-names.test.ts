/**
 * S6, names: containers resolve outside names through the daemon's upstream —
 * a DNS server the lab runs in its world (dnsmasq on 198.51.100.1; nothing
 * ever queries the machine's resolvers). On the default bridge the container
 * asks the upstream itself (through NAT); on a user network Berth's DNS
 * forwards for it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { labWithDaemons, worldDns, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
let dnsmasq: ChildProcess | undefined;
const LOOP = 'while true; do sleep 3600; done';

describe('outside names (S6)', () => {
  before(async () => {
    env = await labWithDaemons();
    dnsmasq = worldDns(env);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(env.docker(['network', 'create', 'my-bridge']).status, 0);
    assert.equal(
      env.docker(['run', '-d', '--name', 'onbridge', 'busybox', 'sh', '-c', LOOP]).status,
      0,
    );
    assert.equal(
      env.docker([
        'run',
        '-d',
        '--name',
        'onuser',
        '--network',
        'my-bridge',
        'busybox',
        'sh',
        '-c',
        LOOP,
      ]).status,
      0,
    );
  });
  after(async () => {
    dnsmasq?.kill();
    await env?.destroy();
  });

  it('a container on the default bridge resolves through the upstream and reaches the address', () => {
    const r = env.docker(['exec', 'onbridge', 'nslookup', 'www.example.test']);
    assert.match(r.stdout, /Address: 203\.0\.113\.1/, r.stdout + r.stderr);
    assert.equal(
      env.docker(['exec', 'onbridge', 'ping', '-c1', '-W2', 'www.example.test']).status,
      0,
    );
  });

  it("a container on a user network resolves through Berth's DNS, which forwards", () => {
    const r = env.docker(['exec', 'onuser', 'nslookup', 'www.example.test']);
    assert.match(r.stdout, /Server:\s+172\.18\.0\.1/, r.stdout);
    assert.match(r.stdout, /Address: 203\.0\.113\.1/, r.stdout + r.stderr);
    assert.equal(
      env.docker(['exec', 'onuser', 'ping', '-c1', '-W2', 'www.example.test']).status,
      0,
    );
  });
});
