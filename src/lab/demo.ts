/**
 * The main job: the seed's walkthrough, run in a lab with the berth CLI, each
 * step printed as a reader of the seed would type it, with what it showed.
 * S1–S15 on one host, then S16–S23 on a cluster lab (demo-multihost.ts).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { multiHost } from './demo-multihost.js';
import { Lab } from './lab.js';
import { Steps, bold, shown, typed } from './walk.js';

const BERTH = fileURLToPath(new URL('../../../bin/berth', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** The example app, as a reader in the repository types it. */
const EXAMPLE = 'examples/flask-redis';
const LOOP = 'while true; do sleep 3600; done';

async function main(): Promise<number> {
  const steps = new Steps();
  const t0 = Date.now();
  console.log(bold('Berth walkthrough: creating a lab (a host and a world namespace)...'));
  const lab = await Lab.create({ hosts: 1 });
  try {
    const d = await lab.startDaemon(lab.hosts[0]!);
    console.log(`berthd pid ${d.pid} in namespace ${lab.hosts[0]!.name}, socket ${d.socket}\n`);
    const berth = (args: string[], check?: (out: string) => boolean, input?: string) =>
      shown(
        '',
        `berth ${typed(args)}`,
        () =>
          spawnSync(BERTH, args, {
            encoding: 'utf8',
            input,
            cwd: REPO,
            env: { ...process.env, BERTH_HOST: d.env.DOCKER_HOST },
            timeout: 60_000,
          }),
        check,
      );
    /** A command on the lab host or in the world, printed as a reader would type it there. */
    const at = (where: 'host' | 'world', argv: string[], check?: (out: string) => boolean) =>
      shown(
        `[${where === 'host' ? lab.hosts[0]!.name : 'world'}] `,
        argv.join(' '),
        () => lab.exec(where === 'host' ? 1 : 'world', argv),
        check,
      );
    /** Waits (silently, up to 20 s) until a URL answers on the lab host. */
    const until = async (url: string) => {
      for (let i = 0; i < 100; i++) {
        // A page that does not exist: the flask app's 404 is not a hit.
        const probe = `${url}${url.endsWith('/') ? '' : '/'}not-counted`;
        if (lab.exec(1, ['curl', '-s', '-m', '1', '-o', '/dev/null', probe]).status === 0) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const step = (scenario: string, title: string, ok: boolean) => steps.step(scenario, title, ok);

    step(
      'S1',
      'three built-in networks',
      berth(
        ['network', 'ls'],
        (o) => /bridge\s+bridge\s+local/.test(o) && /none\s+null\s+local/.test(o),
      ),
    );
    let ok = berth([
      'run',
      '-d',
      '--name',
      'test1',
      'busybox',
      '/bin/sh',
      '-c',
      'while true; do sleep 3600; done',
    ]);
    ok = berth(['ps'], (o) => /test1/.test(o)) && ok;
    step('S2', 'a long-running busybox container, listed by ps', ok);
    ok = berth(['exec', 'test1', 'ps'], (o) => /sleep 3600/.test(o));
    step('S2', 'exec runs a process inside it', ok);

    ok = berth(['run', '-d', '--name', 'test2', 'busybox', '/bin/sh', '-c', LOOP]);
    ok =
      berth(
        ['network', 'inspect', 'bridge'],
        (o) =>
          /"MacAddress": "02:42:ac:11:00:02"/.test(o) &&
          /"IPv4Address": "172\.17\.0\.2\/16"/.test(o),
      ) && ok;
    step('S3', 'network inspect bridge lists the containers, MAC derived from the IP', ok);

    console.log(bold(`$ ip a   # on the lab host ${lab.hosts[0]!.name}`));
    const ipA = lab.exec(lab.hosts[0]!, ['ip', 'a']);
    process.stdout.write(ipA.stdout + '\n');
    ok =
      /inet 172\.17\.0\.1\/16 .* berth0/.test(ipA.stdout) &&
      /veth[0-9a-f]{7}@if\d+: .*master berth0/.test(ipA.stdout);
    ok =
      berth(
        ['exec', 'test1', 'ip', 'a'],
        (o) => /eth0@if\d+/.test(o) && /inet 172\.17\.0\.2\/16/.test(o),
      ) && ok;
    step('S4', 'berth0 and a veth per container on the host; eth0 inside', ok);

    ok = berth(['exec', 'test1', 'ping', '-c', '2', '172.17.0.3'], (o) =>
      / 0% packet loss/.test(o),
    );
    step('S5', 'two containers on the default bridge ping each other', ok);

    ok = berth(['exec', 'test1', 'ping', '-c', '2', lab.world.ip], (o) =>
      / 0% packet loss/.test(o),
    );
    step('S6', `a container reaches the world (${lab.world.ip}) through NAT`, ok);

    ok = berth([
      'run',
      '-d',
      '--name',
      'test5',
      '--link',
      'test1',
      'busybox',
      '/bin/sh',
      '-c',
      LOOP,
    ]);
    ok =
      berth(['exec', 'test5', 'ping', '-c', '1', 'test1'], (o) => / 0% packet loss/.test(o)) && ok;
    ok = berth(['exec', 'test1', 'ping', '-c', '1', 'test5'], () => true) === false && ok;
    ok =
      berth(['exec', 'test5', 'sh', '-c', 'env | grep ^TEST1_'], (o) =>
        /TEST1_NAME=\/test5\/test1/.test(o),
      ) && ok;
    step('S7', '--link: test5 reaches test1 by name, not the other way round', ok);

    ok = berth(['network', 'create', '-d', 'bridge', 'my-bridge']);
    ok = berth(['network', 'ls'], (o) => /my-bridge\s+bridge\s+local/.test(o)) && ok;
    ok =
      berth(
        ['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'my-bridge'],
        (o) => o.trim() === '172.18.0.0/16',
      ) && ok;
    step('S8', 'network create takes the next free subnet (172.18.0.0/16)', ok);

    ok = berth([
      'run',
      '-d',
      '--name',
      'test3',
      '--network',
      'my-bridge',
      'busybox',
      '/bin/sh',
      '-c',
      LOOP,
    ]);
    ok =
      berth(['exec', 'test3', 'ip', 'a', 'show', 'eth0'], (o) => /172\.18\.0\.2\/16/.test(o)) && ok;
    step('S9', 'run --network my-bridge', ok);

    ok = berth(['network', 'connect', 'my-bridge', 'test2']);
    ok =
      berth(['exec', 'test2', 'ip', 'a', 'show', 'eth1'], (o) => /172\.18\.0\.3\/16/.test(o)) && ok;
    ok =
      berth(
        ['network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{end}}', 'my-bridge'],
        (o) => /test2/.test(o) && /test3/.test(o),
      ) && ok;
    step('S10', 'network connect gives the running test2 a second interface', ok);

    ok = berth(['exec', 'test3', 'ping', '-c', '1', 'test2'], (o) => / 0% packet loss/.test(o));
    ok =
      berth(['exec', 'test2', 'ping', '-c', '1', 'test3'], (o) => / 0% packet loss/.test(o)) && ok;
    ok = berth(['exec', 'test1', 'ping', '-c', '1', 'test3'], () => true) === false && ok;
    step('S11', 'names resolve both ways on my-bridge (and not from the default bridge)', ok);

    const hostIp = lab.hosts[0]!.ip;
    ok = berth([
      'run',
      '-d',
      '-p',
      '8000:80',
      '--name',
      'web1',
      'busybox',
      'sh',
      '-c',
      'mkdir /www && echo "hello from $(hostname)" > /www/index.html && httpd -f -p 80 -h /www',
    ]);
    ok = berth(['port', 'web1'], (o) => o === '80/tcp -> 0.0.0.0:8000\n') && ok;
    await until(`http://${hostIp}:8000/`);
    ok = at('host', ['curl', '-s', 'http://127.0.0.1:8000/'], (o) => /^hello from/.test(o)) && ok;
    ok = at('world', ['curl', '-s', `http://${hostIp}:8000/`], (o) => /^hello from/.test(o)) && ok;
    step('S12', '-p 8000:80: the port answers on the host and from another machine', ok);
    berth(['rm', '-f', 'web1']);

    ok = berth([
      'run',
      '-d',
      '--name',
      'test4',
      '--network',
      'none',
      'busybox',
      '/bin/sh',
      '-c',
      'while true; do sleep 3600; done',
    ]);
    ok = berth(['exec', 'test4', 'ip', 'a'], (o) => /lo:/.test(o) && !/eth0/.test(o)) && ok;
    ok =
      berth(
        ['network', 'inspect', 'none'],
        (o) => /"Name": "test4"/.test(o) && /"MacAddress": ""/.test(o),
      ) && ok;
    step('S13', '--network none: only lo, no MAC or IP in network inspect', ok);

    ok = berth(['run', '--rm', '--network', 'host', 'busybox', 'ip', 'addr', 'show', 'eth0'], (o) =>
      o.includes(lab.hosts[0]!.ip),
    );
    ok =
      berth([
        'run',
        '-d',
        '--name',
        'web',
        '--network',
        'host',
        'busybox',
        'nc',
        '-l',
        '-p',
        '8080',
      ]) && ok;
    ok =
      berth(
        ['run', '--rm', '--network', 'host', 'busybox', 'nc', '-l', '-p', '8080'],
        undefined,
      ) === false && ok;
    step(
      'S14',
      "--network host: the host's interfaces and ports (a second server on 8080 conflicts)",
      ok,
    );

    berth(['rm', '-f', 'test1', 'test2', 'test3', 'test4', 'test5', 'web']);
    berth(['network', 'rm', 'my-bridge']);

    await flaskRedis(berth, at, until, step, hostIp);
  } finally {
    await lab.destroy();
  }
  await multiHost(steps);
  return steps.summary(t0) ? 1 : 0;
}

type Run = (args: string[], check?: (out: string) => boolean) => boolean;
type At = (where: 'host' | 'world', argv: string[], check?: (out: string) => boolean) => boolean;

/** S15: redis plus the Flask app built from examples/flask-redis, linked, then on a user network. */
async function flaskRedis(
  berth: Run,
  at: At,
  until: (url: string) => Promise<void>,
  step: (scenario: string, title: string, ok: boolean) => void,
  hostIp: string,
): Promise<void> {
  const seen = (n: number) => (o: string) =>
    new RegExp(
      `^Hello Container World! I have been seen ${n} times and my hostname is [0-9a-f]{12}\\.$`,
      'm',
    ).test(o);
  const get =
    'import urllib.request as u; print(u.urlopen("http://127.0.0.1:5000").read().decode(), end="")';
  let ok = berth(['run', '-d', '--name', 'redis', 'redis']);
  ok =
    berth(['build', '-t', 'flask-redis', EXAMPLE], (o) =>
      /Successfully tagged flask-redis:latest/.test(o),
    ) && ok;
  ok =
    berth([
      'run',
      '-d',
      '--link',
      'redis',
      '--name',
      'flask-redis',
      '-e',
      'REDIS_HOST=redis',
      '-p',
      '5000:5000',
      'flask-redis',
    ]) && ok;
  await until('http://127.0.0.1:5000/');
  ok = berth(['exec', 'flask-redis', 'python3', '-c', get], seen(1)) && ok;
  ok = at('host', ['curl', '-s', '127.0.0.1:5000'], seen(2)) && ok;
  ok = at('world', ['curl', '-s', `${hostIp}:5000`], seen(3)) && ok;
  step('S15', 'docker build, redis + flask linked, -p 5000:5000: the count goes up', ok);

  ok = berth(['network', 'create', 'app']);
  ok = berth(['run', '-d', '--name', 'redis2', '--network', 'app', 'redis']) && ok;
  ok =
    berth([
      'run',
      '-d',
      '--name',
      'web2',
      '--network',
      'app',
      '-e',
      'REDIS_HOST=redis2',
      '-p',
      '5001:5000',
      'flask-redis',
    ]) && ok;
  await until('http://127.0.0.1:5001/');
  ok = at('host', ['curl', '-s', '127.0.0.1:5001'], seen(1)) && ok;
  ok = at('world', ['curl', '-s', `${hostIp}:5001`], seen(2)) && ok;
  step('S15', 'the same app on a user-defined network, found by name without --link', ok);
  berth(['rm', '-f', 'redis', 'flask-redis', 'redis2', 'web2']);
  berth(['network', 'rm', 'app']);
}

main().then(
  (c) => process.exit(c),
  (e) => {
    console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
