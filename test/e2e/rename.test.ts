/**
 * `docker rename` as Docker 20.10 does it (docs/reference/docker-20.10-rename.md):
 * the new name resolves at once and the old one not, aliases stay, --link
 * entries follow the child and the parent, refusals with dockerd's words,
 * the rename event, and the name kept across a daemon restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const LOOP = ['sleep', '3600'];
const ok = (args: string[]): string => {
  const r = env.docker(args);
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
const resolves = (from: string, name: string): string =>
  /Address: (172\.\d+\.\d+\.\d+)/.exec(env.docker(['exec', from, 'nslookup', name]).stdout)?.[1] ??
  '';

describe('docker rename', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it('moves the DNS name on user networks at once; aliases stay', () => {
    ok(['network', 'create', 'rn']);
    ok([
      'run',
      '-d',
      '--name',
      'old1',
      '--network',
      'rn',
      '--network-alias',
      'al',
      'busybox',
      ...LOOP,
    ]);
    ok(['run', '-d', '--name', 'peer', '--network', 'rn', 'busybox', ...LOOP]);
    const ip = ok(['inspect', '-f', '{{.NetworkSettings.Networks.rn.IPAddress}}', 'old1']);
    assert.equal(resolves('peer', 'old1'), ip);
    assert.equal(ok(['rename', 'old1', 'new1']), '');
    assert.equal(resolves('peer', 'new1'), ip);
    assert.equal(resolves('peer', 'old1'), '', 'the old name still answers');
    assert.equal(resolves('peer', 'al'), ip);
    assert.equal(ok(['inspect', '-f', '{{.Name}}', 'new1']), '/new1');
    const dnsNames = ok([
      'inspect',
      '-f',
      '{{json .NetworkSettings.Networks.rn.DNSNames}}',
      'new1',
    ]);
    assert.match(dnsNames, /"new1"/);
    assert.doesNotMatch(dnsNames, /old1/);
    assert.equal(
      ok(['network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{end}}', 'rn'])
        .split(' ')
        .filter(Boolean)
        .sort()
        .join(' '),
      'new1 peer',
    );
  });

  it('refuses what dockerd refuses, with its words, and changes nothing', () => {
    const fails = (args: string[], message: string) => {
      const r = env.docker(['rename', ...args]);
      assert.notEqual(r.status, 0);
      assert.ok(r.stderr.includes(`Error response from daemon: ${message}`), r.stderr);
      assert.ok(r.stderr.includes(`Error: failed to rename container named ${args[0]}`), r.stderr);
    };
    fails(['new1', 'new1'], 'Renaming a container with the same name as its current name');
    const peerId = ok(['inspect', '-f', '{{.Id}}', 'peer']);
    fails(
      ['new1', 'peer'],
      `Error when allocating new name: Conflict. The container name "/peer" is already in use by container "${peerId}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
    fails(
      ['new1', 'bad name!'],
      'Error when allocating new name: Invalid container name (/bad name!), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed',
    );
    fails(['nosuch', 'x2'], 'No such container: nosuch');
    assert.equal(ok(['inspect', '-f', '{{.Name}}', 'new1']), '/new1');
    assert.equal(resolves('peer', 'new1') !== '', true);
  });

  it('keeps --link entries pointing at the renamed child and parent', () => {
    ok(['run', '-d', '--name', 'child', 'busybox', ...LOOP]);
    ok(['run', '-d', '--name', 'parent', '--link', 'child:ch', 'busybox', ...LOOP]);
    ok(['rename', 'child', 'child2']);
    assert.equal(
      ok(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent']),
      '["/child2:/parent/ch"]',
    );
    // The parent's /etc/hosts keeps the old name until it restarts, as Docker's.
    assert.match(ok(['exec', 'parent', 'cat', '/etc/hosts']), /\tch \w{12} child\n/);
    ok(['restart', '-t', '0', 'parent']);
    assert.match(ok(['exec', 'parent', 'cat', '/etc/hosts']), /\tch \w{12} child2\n/);
    ok(['rename', 'parent', 'parent2']);
    assert.equal(
      ok(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent2']),
      '["/child2:/parent2/ch"]',
    );
  });

  it('renames a stopped container through berth, and says so in events', () => {
    ok(['create', '--name', 'stopped1', 'busybox', 'true']);
    const r = env.berth(['rename', 'stopped1', 'stopped2']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(ok(['ps', '-a', '--format', '{{.Names}}']), /^stopped2$/m);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const ev = ok(['events', '--since', '0', '--until', until, '--filter', 'event=rename']);
    assert.match(ev, /container rename \w{64} \(image=busybox, name=new1, oldName=\/old1\)/);
    assert.match(
      ev,
      /container rename \w{64} \(image=busybox, name=stopped2, oldName=\/stopped1\)/,
    );
  });

  it('keeps the new name across a daemon restart', async () => {
    await env.daemon.stop('SIGKILL');
    env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
    env.daemons[0] = env.daemon;
    const ip = ok(['inspect', '-f', '{{.NetworkSettings.Networks.rn.IPAddress}}', 'new1']);
    assert.equal(resolves('peer', 'new1'), ip);
    assert.equal(resolves('peer', 'old1'), '');
  });
});
