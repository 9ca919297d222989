/**
 * Captures the full JSON a real Docker 20.10 (Debian docker.io) answers for
 * what clients read back: container inspect (running, exited, created; made
 * through the API with the smallest body, as docker-py sends it, and through
 * the CLI), network inspect (the default bridge and a user network), image
 * inspect, exec inspect, the volume routes with no volumes, /info and
 * /version; the swarm routes of a node that is not in a swarm; the create
 * requests dockerd refuses (status and message); and what an Env entry
 * without a value becomes. Writes the transcript and, beside it,
 * `docker-20.10-inspect.json` (the test/compat/inspect-keys test compares
 * Berth's key sets against it).
 *
 *   node dist/bench/capture-docker-inspect.js [--out DIR]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCapture } from './lib/capture-run.js';

const LOOP = ['sleep', '3600'];

/** One API answer as the reference keeps it. */
interface Answer {
  method: string;
  path: string;
  body?: unknown;
  status: number;
  response: unknown;
}

runCapture({
  name: 'capture-docker-inspect',
  title: 'Docker 20.10 inspect answers, swarm and volume routes, create refusals: raw capture',
  hosts: 1,
  steps: async ({ cap: c, dockerd, outDir }) => {
    await dockerd(0);
    const ref = {
      about:
        'What dockerd 20.10.24 (Debian docker.io) answered, captured by ' +
        'bench/capture-docker-inspect.ts. "containers": GET /containers/{id}/json of ' +
        'containers made with the smallest API body ({"Image","Cmd"}, as docker-py sends ' +
        'it) and with the CLI; "networks", "image", "exec", "volumes", "info", "version": ' +
        'the other inspect answers; "swarm": the swarm routes on a node not in a swarm; ' +
        '"refusals": create bodies and what dockerd answered; "env": an Env entry without ' +
        'a value.',
      containers: {} as Record<string, unknown>,
      networks: {} as Record<string, unknown>,
      image: null as unknown,
      images: null as unknown,
      exec: {} as Record<string, unknown>,
      volumes: {} as Record<string, Answer>,
      info: null as unknown,
      version: null as unknown,
      swarm: [] as Answer[],
      refusals: [] as Answer[],
      env: {} as Record<string, unknown>,
    };
    const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
      const r = await c.api(method, path, body);
      return {
        method,
        path,
        ...(body === undefined ? {} : { body }),
        status: r.status,
        response: r.json ?? r.text,
      };
    };
    const idOf = (a: Answer) => (a.response as { Id?: string } | undefined)?.Id ?? '';

    c.sec('Containers made through the API with the smallest body');
    const running = await call('POST', '/containers/create?name=api-running', {
      Image: 'busybox',
      Cmd: LOOP,
    });
    await call('POST', `/containers/${idOf(running)}/start`);
    ref.containers.running = (await call('GET', '/containers/api-running/json')).response;
    await call('POST', '/containers/create?name=api-created', { Image: 'busybox', Cmd: ['true'] });
    ref.containers.created = (await call('GET', '/containers/api-created/json')).response;
    await call('POST', '/containers/create?name=api-exited', { Image: 'busybox', Cmd: ['true'] });
    await call('POST', '/containers/api-exited/start');
    await call('POST', '/containers/api-exited/wait');
    ref.containers.exited = (await call('GET', '/containers/api-exited/json')).response;
    ref.containers.list = (await call('GET', '/containers/json?all=1')).response;

    c.sec('Containers made with the CLI');
    c.docker(['run', '-d', '--name', 'cli-running', 'busybox', ...LOOP]);
    ref.containers.cliRunning = (await call('GET', '/containers/cli-running/json')).response;
    c.docker(['run', '--name', 'cli-exited', 'busybox', 'true']);
    ref.containers.cliExited = (await call('GET', '/containers/cli-exited/json')).response;

    c.sec('Exec inspect');
    const ex = await call('POST', '/containers/api-running/exec', {
      Cmd: ['true'],
      AttachStdout: true,
      AttachStderr: true,
    });
    ref.exec.created = (await call('GET', `/exec/${idOf(ex)}/json`)).response;
    await call('POST', `/exec/${idOf(ex)}/start`, { Detach: true });
    await new Promise((r) => setTimeout(r, 1000));
    ref.exec.finished = (await call('GET', `/exec/${idOf(ex)}/json`)).response;
    await call('GET', '/exec/nosuchexec/json');

    c.sec('Networks');
    ref.networks.bridge = (await call('GET', '/networks/bridge')).response;
    const net = await call('POST', '/networks/create', { Name: 'usernet' });
    await call('POST', `/networks/usernet/connect`, { Container: 'api-running' });
    ref.networks.user = (await call('GET', '/networks/usernet')).response;
    ref.networks.userCreate = net.response;
    ref.networks.list = (await call('GET', '/networks')).response;
    ref.containers.runningTwoNetworks = (
      await call('GET', '/containers/api-running/json')
    ).response;

    c.sec('Images');
    ref.image = (await call('GET', '/images/busybox/json')).response;
    ref.images = (await call('GET', '/images/json')).response;

    c.sec('Volumes (none exist)');
    ref.volumes.list = await call('GET', '/volumes');
    ref.volumes.listFiltered = await call(
      'GET',
      '/volumes?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D',
    );
    ref.volumes.inspectMissing = await call('GET', '/volumes/nosuchvolume');
    ref.volumes.removeMissing = await call('DELETE', '/volumes/nosuchvolume');
    ref.volumes.prune = await call('POST', '/volumes/prune');
    ref.volumes.create = await call('POST', '/volumes/create', { Name: 'v1' });
    ref.volumes.inspect = await call('GET', '/volumes/v1');
    ref.volumes.listOne = await call('GET', '/volumes');
    ref.volumes.remove = await call('DELETE', '/volumes/v1');
    c.docker(['volume', 'ls']);

    c.sec('/info and /version');
    ref.info = (await call('GET', '/info')).response;
    ref.version = (await call('GET', '/version')).response;

    c.sec('Swarm routes on a node that is not in a swarm');
    for (const [method, path, body] of [
      ['GET', '/swarm'],
      ['POST', '/swarm/leave?force=1'],
      ['POST', '/swarm/leave'],
      ['POST', '/swarm/update?version=1', {}],
      ['GET', '/swarm/unlockkey'],
      ['POST', '/swarm/unlock', { UnlockKey: 'x' }],
      ['POST', '/swarm/join', { ListenAddr: '0.0.0.0:2377', RemoteAddrs: [], JoinToken: '' }],
      ['GET', '/services'],
      ['GET', '/services/nosuch'],
      [
        'POST',
        '/services/create',
        { Name: 's1', TaskTemplate: { ContainerSpec: { Image: 'busybox' } } },
      ],
      ['DELETE', '/services/nosuch'],
      ['GET', '/services/nosuch/logs?stdout=1'],
      ['GET', '/nodes'],
      ['GET', '/nodes/nosuch'],
      ['GET', '/tasks'],
      ['GET', '/tasks/nosuch'],
      ['GET', '/secrets'],
      ['GET', '/secrets/nosuch'],
      ['POST', '/secrets/create', { Name: 's', Data: 'eA==' }],
      ['GET', '/configs'],
      ['GET', '/configs/nosuch'],
      ['POST', '/configs/create', { Name: 'c', Data: 'eA==' }],
    ] as Array<[string, string, unknown?]>) {
      ref.swarm.push(await call(method, path, body));
    }
    // Not sent: POST /swarm/init, which would make this dockerd a manager.

    c.sec('Create requests dockerd refuses (or accepts)');
    const bodies: Array<[string, Record<string, unknown>]> = [
      [
        'autoremove-always',
        { HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } },
      ],
      [
        'autoremove-unless',
        { HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'unless-stopped' } } },
      ],
      [
        'autoremove-onfailure',
        {
          HostConfig: {
            AutoRemove: true,
            RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 },
          },
        },
      ],
      ['autoremove-no', { HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'no' } } }],
      ['restart-bogus', { HostConfig: { RestartPolicy: { Name: 'bogus' } } }],
      [
        'restart-negative',
        { HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: -1 } } },
      ],
      [
        'restart-always-count',
        { HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 3 } } },
      ],
      ['log-unknown', { HostConfig: { LogConfig: { Type: 'nosuchdriver', Config: {} } } }],
      ['log-none', { HostConfig: { LogConfig: { Type: 'none', Config: {} } } }],
      ['log-json-file', { HostConfig: { LogConfig: { Type: 'json-file', Config: {} } } }],
      [
        'log-json-file-opts',
        { HostConfig: { LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } } } },
      ],
      [
        'log-json-file-badopt',
        { HostConfig: { LogConfig: { Type: 'json-file', Config: { bogus: '1' } } } },
      ],
      ['log-syslog', { HostConfig: { LogConfig: { Type: 'syslog', Config: {} } } }],
      [
        'log-empty-type-opts',
        { HostConfig: { LogConfig: { Type: '', Config: { 'max-size': '1m' } } } },
      ],
      [
        'host-ports',
        { HostConfig: { NetworkMode: 'host', PortBindings: { '80/tcp': [{ HostPort: '8080' }] } } },
      ],
      [
        'host-publish-all',
        {
          ExposedPorts: { '80/tcp': {} },
          HostConfig: { NetworkMode: 'host', PublishAllPorts: true },
        },
      ],
      ['host-exposed', { ExposedPorts: { '80/tcp': {} }, HostConfig: { NetworkMode: 'host' } }],
      ['host-hostname', { Hostname: 'h', HostConfig: { NetworkMode: 'host' } }],
      ['host-links', { HostConfig: { NetworkMode: 'host', Links: ['api-running:r'] } }],
      ['host-dns', { HostConfig: { NetworkMode: 'host', Dns: ['1.2.3.4'] } }],
      ['host-extrahosts', { HostConfig: { NetworkMode: 'host', ExtraHosts: ['a:1.2.3.4'] } }],
      ['host-mac', { MacAddress: '02:42:ac:11:00:99', HostConfig: { NetworkMode: 'host' } }],
      [
        'container-hostname',
        { Hostname: 'h', HostConfig: { NetworkMode: 'container:api-running' } },
      ],
      ['container-dns', { HostConfig: { NetworkMode: 'container:api-running', Dns: ['1.2.3.4'] } }],
      [
        'container-extrahosts',
        { HostConfig: { NetworkMode: 'container:api-running', ExtraHosts: ['a:1.2.3.4'] } },
      ],
      [
        'container-ports',
        {
          HostConfig: {
            NetworkMode: 'container:api-running',
            PortBindings: { '80/tcp': [{ HostPort: '8080' }] },
          },
        },
      ],
      [
        'container-exposed',
        { ExposedPorts: { '80/tcp': {} }, HostConfig: { NetworkMode: 'container:api-running' } },
      ],
      [
        'container-links',
        { HostConfig: { NetworkMode: 'container:api-running', Links: ['api-running:r'] } },
      ],
      [
        'container-mac',
        { MacAddress: '02:42:ac:11:00:99', HostConfig: { NetworkMode: 'container:api-running' } },
      ],
      ['container-missing', { HostConfig: { NetworkMode: 'container:nosuch' } }],
      [
        'none-ports',
        { HostConfig: { NetworkMode: 'none', PortBindings: { '80/tcp': [{ HostPort: '8080' }] } } },
      ],
      ['none-dns', { HostConfig: { NetworkMode: 'none', Dns: ['1.2.3.4'] } }],
      ['network-missing', { HostConfig: { NetworkMode: 'nosuchnet' } }],
      ['runtime-unknown', { HostConfig: { Runtime: 'nosuchruntime' } }],
      ['runtime-runc', { HostConfig: { Runtime: 'runc' } }],
      ['isolation-hyperv', { HostConfig: { Isolation: 'hyperv' } }],
      ['isolation-bogus', { HostConfig: { Isolation: 'bogus' } }],
      ['stopsignal-bogus', { StopSignal: 'NOPE' }],
      ['stoptimeout-negative', { StopTimeout: -5 }],
      ['shm-negative', { HostConfig: { ShmSize: -1 } }],
      ['capadd-unknown', { HostConfig: { CapAdd: ['NOPE'] } }],
      ['capdrop-unknown', { HostConfig: { CapDrop: ['NOPE'] } }],
      ['workdir-relative', { WorkingDir: 'rel' }],
      ['env-empty-name', { Env: ['=x'] }],
      ['exposed-bad', { ExposedPorts: { 'abc/tcp': {} } }],
      ['port-bad', { HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '99999' }] } } }],
      ['mac-bad', { MacAddress: 'xx' }],
      ['dns-bad', { HostConfig: { Dns: ['not-an-ip'] } }],
      ['extrahost-bad', { HostConfig: { ExtraHosts: ['nocolon'] } }],
      ['memory-tiny', { HostConfig: { Memory: 1024 } }],
      ['oomscore-range', { HostConfig: { OomScoreAdj: 2000 } }],
      ['healthcheck-negative', { Healthcheck: { Test: ['CMD', 'true'], Interval: -1 } }],
      ['healthcheck-short', { Healthcheck: { Test: ['CMD', 'true'], Interval: 1000 } }],
      ['image-missing', { Image: 'nosuchimage' }],
      ['no-command', { Image: 'busybox', Cmd: [], Entrypoint: [] }],
      ['image-empty', { Image: '' }],
      ['console-size-bad', { HostConfig: { ConsoleSize: [1] } }],
      ['ipc-bogus', { HostConfig: { IpcMode: 'bogus' } }],
      ['pid-bogus', { HostConfig: { PidMode: 'bogus' } }],
      ['uts-bogus', { HostConfig: { UTSMode: 'bogus' } }],
      ['userns-bogus', { HostConfig: { UsernsMode: 'bogus' } }],
      ['cgroupns-bogus', { HostConfig: { CgroupnsMode: 'bogus' } }],
      ['volumes-from-missing', { HostConfig: { VolumesFrom: ['nosuch'] } }],
      ['bind-relative', { HostConfig: { Binds: ['rel:/x'] } }],
      [
        'second-network',
        {
          HostConfig: { NetworkMode: 'usernet' },
          NetworkingConfig: { EndpointsConfig: { usernet: {}, bridge: {} } },
        },
      ],
    ];
    for (const [label, extra] of bodies) {
      c.heading(label);
      const { HostConfig, ...rest } = extra as { HostConfig?: unknown };
      const body = { Image: 'busybox', Cmd: ['true'], ...rest, HostConfig: HostConfig ?? {} };
      const a = await call('POST', `/containers/create?name=r-${label}`, body);
      ref.refusals.push({ ...a, path: `${a.path} (${label})` });
      if (a.status === 201) {
        await call('GET', `/containers/r-${label}/json`);
        await call('DELETE', `/containers/r-${label}?force=1`);
      }
    }
    c.heading('invalid name');
    ref.refusals.push(await call('POST', '/containers/create?name=-bad', { Image: 'busybox' }));

    c.sec('Env entries without a value');
    const e = await call('POST', '/containers/create?name=env', {
      Image: 'busybox',
      Cmd: ['env'],
      Env: ['Foo', 'Bar=1', 'Empty='],
    });
    await call('POST', `/containers/${idOf(e)}/start`);
    await call('POST', `/containers/${idOf(e)}/wait`);
    ref.env.request = ['Foo', 'Bar=1', 'Empty='];
    ref.env.configEnv = (
      (await call('GET', '/containers/env/json')).response as { Config?: { Env?: unknown } }
    ).Config?.Env;
    ref.env.processEnv = c.docker(['logs', 'env']).stdout.split('\n').filter(Boolean);
    const ee = await call('POST', '/containers/api-running/exec', {
      Cmd: ['env'],
      Env: ['Foo', 'Bar=2'],
      AttachStdout: true,
    });
    ref.env.execInspect = (await call('GET', `/exec/${idOf(ee)}/json`)).response;
    ref.env.execProcessEnv = c.docker(['exec', '-e', 'Foo', 'api-running', 'env']).stdout;

    const all = c.docker(['ps', '-aq'], { quiet: true }).stdout.split('\n').filter(Boolean);
    if (all.length) c.docker(['rm', '-f', ...all], { quiet: true });
    c.docker(['network', 'rm', 'usernet'], { quiet: true });
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'docker-20.10-inspect.json'), JSON.stringify(ref, null, 1) + '\n');
  },
});
