/**
 * Captures what a real Docker 20.10 (Debian docker.io) does for published
 * ports, so Berth is built against observed behaviour: `-p`/`-P` forms, how
 * `docker port`, `docker ps`, inspect and GET /containers/json show them,
 * conflicts, invalid specs (CLI and raw API), internal/host/none networks,
 * reachability, the firewall rules and sysctls dockerd sets, stop and restart.
 * Writes a markdown transcript and the same as JSON;
 * docs/reference/docker-20.10-ports.md is distilled from it.
 *
 *   node dist/bench/capture-docker-ports.js [--out DIR]
 *
 * The lab has 3 hosts. Host 1 runs dockerd with its default
 * `--userland-proxy=true`; when that pass is done it is stopped and host 2 runs
 * a fresh dockerd with `--userland-proxy=false` (Berth has no proxy) through
 * the same steps. Host 3 runs nothing: the baseline for sysctls. Both the
 * project's docker CLI (28, on PATH) and Debian's 20.10 CLI (/usr/bin/docker)
 * are used where the CLI formats or validates. All traffic goes to addresses
 * inside the lab's namespaces. Everything is removed in `finally`, and the
 * machine's own namespace is compared before and after.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHost } from '../src/lab/lab.js';
import {
  CLI_2010,
  Capture,
  httpGet,
  lineDiff,
  old,
  ruleLines,
  stopLabProcess,
  sysctlDiff,
  val,
  type LabProcess,
  type Where,
} from './lib/capture.js';
import { runCapture } from './lib/capture-run.js';

const LOOP = ['sh', '-c', 'while true; do sleep 3600; done'];
/**
 * busybox httpd on 80, 81 and 82 (all in the foreground, logging each client
 * address to the container's stderr), each serving "hello from NAME".
 */
const serve = (name: string) => [
  'sh',
  '-c',
  `mkdir -p /www && echo "hello from ${name}" > /www/index.html; ` +
    'httpd -f -vv -p 81 -h /www & httpd -f -vv -p 82 -h /www & exec httpd -f -vv -p 80 -h /www',
];
const SLEEP = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One dockerd pass. */
interface Mode {
  /** Short tag put in front of every section title. */
  tag: string;
  /** The lab host dockerd runs in. */
  host: LabHost;
  /** Its name for Capture.ns. */
  where: Where;
  /** Extra dockerd flags. */
  args: string[];
  /** dockerd's PID (docker-proxy processes are its children). */
  pid: number;
  /** Starts a process in a lab namespace (stopped at the end if not before). */
  spawn: (where: Where, argv: string[]) => LabProcess;
}

/** Every view of one container's ports: docker port, ps, inspect, the API. */
async function views(c: Capture, name: string): Promise<void> {
  c.docker(['port', name]);
  c.docker(['port', name, '80']);
  c.docker(['port', name, '80/udp']);
  c.docker(['port', name, '81']);
  c.docker(['ps', '-a', '--filter', `name=^${name}$`]);
  old(c, ['port', name]);
  old(c, ['port', name, '81']);
  old(c, ['ps', '-a', '--filter', `name=^${name}$`]);
  c.docker([
    'inspect',
    '--format',
    '{{json .NetworkSettings.Ports}}\n{{json .HostConfig.PortBindings}}',
    name,
  ]);
  await c.api('GET', `/containers/${name}/json`, undefined, [
    'NetworkSettings.Ports',
    'HostConfig.PortBindings',
    'HostConfig.PublishAllPorts',
    'Config.ExposedPorts',
  ]);
  const filters = encodeURIComponent(JSON.stringify({ name: [`^${name}$`] }));
  await c.api('GET', `/containers/json?all=1&filters=${filters}`, undefined, '0.Ports');
}

/** docker-proxy (and any other) children of dockerd, and the listening sockets of its host. */
function listeners(c: Capture, m: Mode): void {
  c.ns(m.where, ['ps', '--ppid', String(m.pid), '-o', 'pid,args']);
  c.ns(m.where, ['ss', '-lntup']);
}

/** iptables-save as a set of rule lines (comments and counters dropped), recorded. */
function rules(c: Capture, m: Mode): string[] {
  return ruleLines(c.ns(m.where, ['iptables-save']).stdout);
}

const ruleDiff = (c: Capture, what: string, a: string[], b: string[]): void =>
  lineDiff(c, `iptables-save difference: ${what}`, a, b);

/** route_localnet of every interface and the bridge ports' flags (hairpin). */
function localnet(c: Capture, m: Mode): void {
  c.ns(m.where, [
    'sh',
    '-c',
    'for f in /proc/sys/net/ipv4/conf/*/route_localnet; do echo "$f $(cat $f)"; done',
  ]);
  c.ns(m.where, ['bridge', '-d', 'link']);
}

/** The container's Udp counters (InDatagrams, NoPorts: a datagram to a closed port counts there). */
function udpCounters(c: Capture, ctr: string): string {
  return c.docker(['exec', ctr, 'grep', '^Udp:', '/proc/net/snmp']).stdout.trim();
}

/** Sends one UDP datagram from a lab namespace (node's dgram; busybox nc has no -u). */
async function udpSend(
  c: Capture,
  from: Where,
  ip: string,
  port: number,
  ctr: string,
  out: string[],
) {
  const before = udpCounters(c, ctr);
  const js =
    `const s=require('dgram').createSocket('udp4');` +
    `s.send('ping-udp',${port},'${ip}',(e)=>{if(e){console.error(e.message);process.exit(1)}s.close()})`;
  const r = c.ns(from, ['node', '-e', js]);
  await SLEEP(500);
  const after = udpCounters(c, ctr);
  const nums = (s: string) => (s.split('\n')[1] ?? '').split(/\s+/).slice(1).map(Number);
  const [inB, noB] = nums(before);
  const [inA, noA] = nums(after);
  const arrived = (inA ?? 0) + (noA ?? 0) - (inB ?? 0) - (noB ?? 0);
  out.push(
    `[${from}] → ${ip}:${port}/udp: ${arrived > 0 ? 'ARRIVED' : 'NOT ARRIVED'} in ${ctr} ` +
      `(send exit ${r.status}; InDatagrams+NoPorts grew by ${arrived})`,
  );
}

/** Container create through the API as the CLI sends `-p` (ExposedPorts + PortBindings). */
function ctrBody(
  ports: Record<string, { HostIp?: string; HostPort?: string }[]>,
  hostConfig: Record<string, unknown> = {},
  cmd: string[] = LOOP,
) {
  return {
    Image: 'busybox',
    Cmd: cmd,
    ExposedPorts: Object.fromEntries(Object.keys(ports).map((k) => [k, {}])),
    HostConfig: { NetworkMode: 'default', PortBindings: ports, ...hostConfig },
    NetworkingConfig: { EndpointsConfig: {} },
  };
}

/** API create → start → state → delete, each recorded. */
async function apiCase(c: Capture, what: string, name: string, body: unknown): Promise<void> {
  c.heading(`API: ${what}`);
  const r = await c.api('POST', `/containers/create?name=${name}`, body);
  const id = (r.json as { Id?: string } | undefined)?.Id;
  if (r.status !== 201 || !id) return;
  const st = await c.api('POST', `/containers/${id}/start`);
  if (st.status === 204) c.docker(['port', name]);
  await c.api('GET', `/containers/${id}/json`, undefined, [
    'State.Status',
    'State.ExitCode',
    'State.Error',
    'NetworkSettings.Ports',
    'HostConfig.PortBindings',
  ]);
  await c.api('DELETE', `/containers/${id}?force=1`);
}

/**
 * `docker run -d` with both CLIs (names NAME and NAME-old); for each, whether a
 * container was left behind and in which state; then removed.
 */
function cliCase(c: Capture, what: string, name: string, opts: string[], cmd = LOOP): void {
  c.heading(`CLI: ${what}`);
  for (const [n, bin] of [
    [name, undefined],
    [`${name}-old`, CLI_2010],
  ] as const) {
    c.docker(['run', '-d', '--name', n, ...opts, 'busybox', ...cmd], { bin });
    const left = c.docker(['ps', '-aq', '--filter', `name=^${n}$`], { quiet: true }).stdout.trim();
    if (left) {
      c.docker([
        'inspect',
        '--format',
        'Status={{.State.Status}} ExitCode={{.State.ExitCode}} Error={{json .State.Error}} Ports={{json .NetworkSettings.Ports}}',
        n,
      ]);
      c.docker(['rm', '-f', n], { quiet: true });
    } else {
      c.note(`container ${n}`, 'not created (docker ps -a has no such name)');
    }
  }
}

async function onePort(c: Capture, m: Mode): Promise<void> {
  const H = m.where;
  c.sec(`${m.tag} 1. dockerd at rest (no containers)`);
  c.docker(['info', '--format', '{{.ServerVersion}} {{.Driver}} {{json .SecurityOptions}}']);
  listeners(c, m);
  const rest = rules(c, m);
  c.ns(H, ['ip6tables-save']);
  localnet(c, m);
  sysctlDiff(c, H, 'h3');

  c.sec(`${m.tag} 2. One published port: run -d -p 8080:80 (web)`);
  c.docker(['run', '-d', '--name', 'web', '-p', '8080:80', 'busybox', ...serve('web')]);
  await SLEEP(300);
  await views(c, 'web');
  listeners(c, m);
  const withWeb = rules(c, m);
  ruleDiff(c, 'web (-p 8080:80) running vs. no container', rest, withWeb);
  c.ns(H, ['ip6tables-save']);
  c.ns(H, ['nft', 'list', 'ruleset']);
  localnet(c, m);
  sysctlDiff(c, H, 'h3');

  c.sec(`${m.tag} 3. Reachability of web's 8080 (host ${m.host.ip})`);
  const ip = m.host.ip;
  const out: string[] = [];
  httpGet(c, { ns: 'world' }, ip, 8080, out);
  httpGet(c, { ns: H }, ip, 8080, out);
  httpGet(c, { ns: H }, '127.0.0.1', 8080, out);
  httpGet(c, { ns: H }, '::1', 8080, out);
  const gw = val(c, '{{.NetworkSettings.Gateway}}', 'web');
  const webIp = val(c, '{{.NetworkSettings.IPAddress}}', 'web');
  httpGet(c, { ns: H }, gw, 8080, out);
  httpGet(c, { ns: H }, webIp, 80, out);
  c.docker(['run', '-d', '--name', 'client', 'busybox', ...LOOP]);
  httpGet(c, { ctr: 'client' }, ip, 8080, out);
  httpGet(c, { ctr: 'client' }, gw, 8080, out);
  httpGet(c, { ctr: 'client' }, webIp, 80, out);
  httpGet(c, { ctr: 'web' }, ip, 8080, out);
  c.docker(['network', 'create', 'pnet']);
  c.docker(['run', '-d', '--name', 'client2', '--network', 'pnet', 'busybox', ...LOOP]);
  httpGet(c, { ctr: 'client2' }, ip, 8080, out);
  httpGet(c, { ctr: 'client2' }, webIp, 80, out);
  c.note('reachability of web (-p 8080:80)', out.join('\n'));
  c.docker(['logs', 'web']);
  c.note(
    'client addresses',
    [
      `web ${webIp}`,
      `gateway ${gw}`,
      `client ${val(c, '{{.NetworkSettings.IPAddress}}', 'client')}`,
      `client2 ${val(c, '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'client2')}`,
      `world ${c.lab.world.ip}`,
      `host ${ip}`,
    ].join('\n'),
  );

  c.sec(`${m.tag} 4. Stop and start web`);
  const running = rules(c, m);
  c.docker(['stop', '-t', '1', 'web']);
  await views(c, 'web');
  listeners(c, m);
  const stopped = rules(c, m);
  ruleDiff(c, 'after docker stop web, vs. just before it', running, stopped);

  localnet(c, m);
  c.docker(['start', 'web']);
  c.docker(['port', 'web']);
  const back = rules(c, m);
  ruleDiff(c, 'after docker start web, vs. before the stop', running, back);
}

async function forms(c: Capture, m: Mode): Promise<void> {
  const H = m.where;
  const ip = m.host.ip;
  c.sec(`${m.tag} 5. Publishing forms`);
  const cases: [string, string[], string[]?][] = [
    ['p-lo', ['-p', '127.0.0.1:8081:80']],
    ['p-udp', ['-p', '8082:80/udp'], LOOP],
    ['p-range', ['-p', '8000-8002:80-82']],
    ['p-rand', ['-p', '80']],
    ['p-rand2', ['-p', '80']],
    ['p-rand-udp', ['-p', '80/udp'], LOOP],
    ['p-rand-lo', ['-p', '127.0.0.1::80']],
    ['p-all', ['-P'], undefined],
    ['p-expose', ['--expose', '90', '-P']],
    ['p-hrange', ['-p', '9000-9010:80']],
    ['p-hrange2', ['-p', '9000-9010:80']],
    ['p-v4', ['-p', '0.0.0.0:8084:80']],
    ['p-v6lo', ['-p', '[::1]:8083:80']],
    ['p-both', ['-p', '8085:80/tcp', '-p', '8085:80/udp']],
    ['p-two', ['-p', '8086:80', '-p', '8087:80']],
  ];
  for (const [name, opts, cmd] of cases) {
    c.heading(
      `${name}: ${opts.join(' ')}${name === 'p-all' ? ' (image busybox-exposed: EXPOSE 80 443 53/udp)' : ''}`,
    );
    const image = name === 'p-all' ? 'busybox-exposed' : 'busybox';
    const r = c.docker(['run', '-d', '--name', name, ...opts, image, ...(cmd ?? serve(name))]);
    if (r.status !== 0) continue;
    await SLEEP(200);
    await views(c, name);
  }
  c.heading('all of them');
  c.docker(['ps', '-a']);
  old(c, ['ps', '-a']);
  listeners(c, m);
  rules(c, m);

  c.sec(`${m.tag} 6. Reachability of the forms`);
  const out: string[] = [];
  httpGet(c, { ns: 'world' }, ip, 8081, out);
  httpGet(c, { ns: H }, ip, 8081, out);
  httpGet(c, { ns: H }, '127.0.0.1', 8081, out);
  httpGet(c, { ctr: 'client' }, ip, 8081, out);
  for (const p of [8000, 8001, 8002]) httpGet(c, { ns: 'world' }, ip, p, out);
  const rand = c.docker(['port', 'p-rand', '80']).stdout.split('\n')[0] ?? '';
  const randPort = Number(rand.split(':').pop());
  if (randPort) httpGet(c, { ns: 'world' }, ip, randPort, out);
  const hr = Number(
    (c.docker(['port', 'p-hrange', '80']).stdout.split('\n')[0] ?? '').split(':').pop(),
  );
  if (hr) httpGet(c, { ns: 'world' }, ip, hr, out);
  httpGet(c, { ns: 'world' }, ip, 8084, out);
  httpGet(c, { ns: H }, '::1', 8084, out);
  httpGet(c, { ns: H }, '::1', 8083, out);
  httpGet(c, { ns: H }, '127.0.0.1', 8083, out);
  await udpSend(c, 'world', ip, 8082, 'p-udp', out);
  await udpSend(c, H, ip, 8082, 'p-udp', out);
  await udpSend(c, H, '127.0.0.1', 8082, 'p-udp', out);
  await udpSend(c, 'world', ip, 8085, 'p-both', out);
  c.note('reachability of the forms', out.join('\n'));

  c.sec(`${m.tag} 7. Random host ports across stop, start, restart`);
  const port = (n: string) => c.docker(['port', n]);
  port('p-rand');
  c.docker(['stop', '-t', '1', 'p-rand']);
  port('p-rand');
  await c.api('GET', '/containers/p-rand/json', undefined, [
    'NetworkSettings.Ports',
    'HostConfig.PortBindings',
  ]);
  c.docker(['ps', '-a', '--filter', 'name=^p-rand$']);
  c.docker(['start', 'p-rand']);
  port('p-rand');
  c.docker(['restart', '-t', '1', 'p-rand']);
  port('p-rand');
  c.docker(['stop', '-t', '1', 'p-rand']);
  c.docker(['run', '-d', '--name', 'p-rand3', '-p', '80', 'busybox', ...serve('p-rand3')]);
  port('p-rand3');
  c.docker(['start', 'p-rand']);
  port('p-rand');
  c.docker(['rm', '-f', 'p-rand2']);
  c.docker(['run', '-d', '--name', 'p-rand4', '-p', '80', 'busybox', ...serve('p-rand4')]);
  port('p-rand4');
  c.docker(['stop', '-t', '1', 'p-hrange']);
  c.docker([
    'run',
    '-d',
    '--name',
    'p-hrange3',
    '-p',
    '9000-9010:80',
    'busybox',
    ...serve('p-hrange3'),
  ]);
  port('p-hrange3');
  c.docker(['start', 'p-hrange']);
  port('p-hrange');
}

async function conflicts(c: Capture, m: Mode): Promise<void> {
  const H = m.where;
  c.sec(`${m.tag} 8. Conflicts between containers`);
  c.docker(['port', 'web']);
  c.docker(['port', 'p-lo']);
  cliCase(c, 'same host port as web (8080)', 'k-same', ['-p', '8080:80']);
  await apiCase(
    c,
    'same host port as web (8080)',
    'k-same-api',
    ctrBody({ '80/tcp': [{ HostIp: '', HostPort: '8080' }] }),
  );
  cliCase(c, '0.0.0.0:8081 while p-lo holds 127.0.0.1:8081', 'k-lo', ['-p', '8081:80']);
  cliCase(c, '127.0.0.1:8080 while web holds 0.0.0.0:8080', 'k-lo2', ['-p', '127.0.0.1:8080:80']);
  cliCase(c, '8080/udp while web holds 8080/tcp', 'k-udp', ['-p', '8080:80/udp']);
  cliCase(c, 'the same host port twice in one run', 'k-self', ['-p', '8095:80', '-p', '8095:81']);
  cliCase(c, 'host range 8000-8002 (all taken by p-range) for one port', 'k-full', [
    '-p',
    '8000-8002:80',
  ]);
  c.heading('docker create + docker start of a conflicting container');
  c.docker(['create', '--name', 'k-create', '-p', '8080:80', 'busybox', ...LOOP]);
  c.docker(['port', 'k-create']);
  await c.api('GET', '/containers/k-create/json', undefined, [
    'NetworkSettings.Ports',
    'State.Status',
  ]);
  c.docker(['start', 'k-create']);
  c.docker(['port', 'k-create']);
  c.docker([
    'inspect',
    '--format',
    'Status={{.State.Status}} ExitCode={{.State.ExitCode}} Error={{json .State.Error}}',
    'k-create',
  ]);
  c.docker(['ps', '-a', '--filter', 'name=^k-create$']);
  c.docker(['stop', '-t', '1', 'web']);
  c.docker(['start', 'k-create']);
  c.docker(['port', 'k-create']);
  c.docker(['start', 'web']);
  c.docker(['inspect', '--format', 'Status={{.State.Status}} Error={{json .State.Error}}', 'web']);
  c.docker(['rm', '-f', 'k-create']);
  c.docker(['start', 'web']);
  c.docker(['port', 'web']);

  c.sec(`${m.tag} 9. Conflicts with processes of the host`);
  const wwwDir = join(m.host.dir, 'www-holder');
  mkdirSync(wwwDir, { recursive: true });
  const holders = [
    m.spawn(H, ['busybox', 'nc', '-l', '-p', '8090']),
    m.spawn(H, [
      'node',
      '-e',
      "const s=require('dgram').createSocket('udp4');s.bind(8091,'0.0.0.0',()=>console.log('bound'))",
    ]),
    m.spawn(H, ['busybox', 'httpd', '-f', '-p', '127.0.0.1:8092', '-h', wwwDir]),
    m.spawn(H, ['busybox', 'httpd', '-f', '-p', '[::]:8093', '-h', wwwDir]),
  ];
  await SLEEP(800);
  c.note(
    'host processes started in ' + H,
    holders.map((h) => `pid ${h.child.pid}: ${h.child.spawnargs.slice(3).join(' ')}`).join('\n'),
  );
  c.ns(H, ['ss', '-lntup']);
  cliCase(c, 'host process (busybox nc -l -p 8090) on 0.0.0.0:8090/tcp', 'k-host', [
    '-p',
    '8090:80',
  ]);
  await apiCase(
    c,
    'host process on 8090/tcp',
    'k-host-api',
    ctrBody({ '80/tcp': [{ HostIp: '', HostPort: '8090' }] }),
  );
  cliCase(c, 'host process (node dgram) on 0.0.0.0:8091/udp', 'k-hostu', ['-p', '8091:80/udp']);
  await apiCase(
    c,
    'host process on 8091/udp',
    'k-hostu-api',
    ctrBody({ '80/udp': [{ HostIp: '', HostPort: '8091' }] }),
  );
  cliCase(c, 'host process (httpd) on 127.0.0.1:8092/tcp, run -p 8092:80', 'k-hostlo', [
    '-p',
    '8092:80',
  ]);
  cliCase(c, 'host process (httpd) on [::]:8093/tcp, run -p 8093:80', 'k-host6', ['-p', '8093:80']);
  cliCase(c, 'host process (httpd) on [::]:8093/tcp, run -p 0.0.0.0:8093:80', 'k-host6b', [
    '-p',
    '0.0.0.0:8093:80',
  ]);
  cliCase(c, 'host process on 8090/tcp, range 8090-8091:80', 'k-hostr', ['-p', '8090-8091:80']);
  for (const h of holders) await stopLabProcess(h);
  c.ns(H, ['ss', '-lntup']);
}

async function invalid(c: Capture, m: Mode): Promise<void> {
  c.sec(`${m.tag} 10. Invalid port specs through the CLI`);
  const specs: [string, string[]][] = [
    ['host port 0', ['-p', '0:80']],
    ['host port 70000', ['-p', '70000:80']],
    ['host port abc', ['-p', 'abc:80']],
    ['reversed host range 8000-7000', ['-p', '8000-7000:80']],
    ['mismatched ranges 8000-8001:80-82', ['-p', '8000-8001:80-82']],
    ['one host port, container range 8080:80-81', ['-p', '8080:80-81']],
    ['container port 0', ['-p', '8100:0']],
    ['container port 70000', ['-p', '8080:70000']],
    ['protocol foo', ['-p', '8080:80/foo']],
    ['host IP 300.1.1.1', ['-p', '300.1.1.1:8080:80']],
    ['host IP abc', ['-p', 'abc:8080:80']],
    ['host IP not on the host (10.99.99.99)', ['-p', '10.99.99.99:8096:80']],
    ['empty host port with colon (:80)', ['-p', ':80']],
    ['--expose abc', ['--expose', 'abc']],
  ];
  for (const [what, opts] of specs) cliCase(c, what, 'e-spec', opts);

  c.sec(`${m.tag} 11. Invalid port specs through the API (the CLI's checks bypassed)`);
  const b = (k: string, HostPort: string, HostIp = '') => ctrBody({ [k]: [{ HostIp, HostPort }] });
  const api: [string, unknown][] = [
    ['HostPort "0"', b('80/tcp', '0')],
    ['HostPort "" (empty)', b('80/tcp', '')],
    ['HostPort "70000"', b('80/tcp', '70000')],
    ['HostPort "abc"', b('80/tcp', 'abc')],
    ['HostPort "-1"', b('80/tcp', '-1')],
    ['HostPort "8000-7000"', b('80/tcp', '8000-7000')],
    ['HostPort "9100-9102" for one port', b('80/tcp', '9100-9102')],
    ['port key "80-82/tcp", HostPort "8000-8001"', b('80-82/tcp', '8000-8001')],
    ['port key "80-82/tcp", HostPort "8000-8002"', b('80-82/tcp', '8000-8002')],
    ['port key "0/tcp"', b('0/tcp', '8098')],
    ['port key "70000/tcp"', b('70000/tcp', '8098')],
    ['port key "80/foo"', b('80/foo', '8098')],
    ['port key "80" (no protocol)', b('80', '8098')],
    ['port key "abc/tcp"', b('abc/tcp', '8098')],
    ['HostIp "300.1.1.1"', b('80/tcp', '8098', '300.1.1.1')],
    ['HostIp "abc"', b('80/tcp', '8098', 'abc')],
    ['HostIp "10.99.99.99" (not on the host)', b('80/tcp', '8098', '10.99.99.99')],
    ['PortBindings without ExposedPorts', { ...b('80/tcp', '8099'), ExposedPorts: undefined }],
    ['PortBindings value null', ctrBody({ '80/tcp': null as unknown as [] })],
    ['PortBindings value []', ctrBody({ '80/tcp': [] })],
    [
      'PublishAllPorts with ExposedPorts 80/tcp',
      { ...ctrBody({}, { PublishAllPorts: true }), ExposedPorts: { '80/tcp': {} } },
    ],
  ];
  for (const [i, [what, body]] of api.entries()) await apiCase(c, what, `e-api${i}`, body);
}

async function networks(c: Capture, m: Mode): Promise<void> {
  const H = m.where;
  const ip = m.host.ip;
  c.sec(`${m.tag} 12. Publishing on an --internal network`);
  c.docker(['network', 'create', '--internal', 'pint']);
  c.docker([
    'run',
    '-d',
    '--name',
    'int1',
    '--network',
    'pint',
    '-p',
    '8088:80',
    'busybox',
    ...serve('int1'),
  ]);
  await views(c, 'int1');
  listeners(c, m);
  rules(c, m);
  const out: string[] = [];
  httpGet(c, { ns: 'world' }, ip, 8088, out);
  httpGet(c, { ns: H }, '127.0.0.1', 8088, out);
  httpGet(c, { ns: H }, ip, 8088, out);
  c.heading('int1 then connected to the default bridge');
  c.docker(['network', 'connect', 'bridge', 'int1']);
  await views(c, 'int1');
  listeners(c, m);
  httpGet(c, { ns: 'world' }, ip, 8088, out);
  c.heading('a container on the bridge first, then the internal network');
  c.docker(['run', '-d', '--name', 'int2', '-p', '8089:80', 'busybox', ...serve('int2')]);
  c.docker(['network', 'connect', 'pint', 'int2']);
  c.docker(['port', 'int2']);
  listeners(c, m);
  httpGet(c, { ns: 'world' }, ip, 8089, out);
  c.docker(['network', 'disconnect', 'bridge', 'int2']);
  await views(c, 'int2');
  listeners(c, m);
  rules(c, m);
  c.docker(['exec', 'int2', 'ip', 'route']);
  c.docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', 'int2']);
  httpGet(c, { ns: 'world' }, ip, 8089, out);
  c.note('reachability on the internal network', out.join('\n'));
  c.docker(['rm', '-f', 'int1', 'int2']);
  c.docker(['network', 'rm', 'pint']);

  c.sec(`${m.tag} 13. -p with --network host, none, container:`);
  c.docker([
    'run',
    '-d',
    '--name',
    'n-host',
    '--network',
    'host',
    '-p',
    '8097:80',
    'busybox',
    'sh',
    '-c',
    'mkdir -p /www && echo "hello from n-host" > /www/index.html; exec httpd -f -vv -p 8094 -h /www',
  ]);
  old(c, [
    'run',
    '-d',
    '--name',
    'n-host-old',
    '--network',
    'host',
    '-p',
    '8097:80',
    'busybox',
    ...LOOP,
  ]);
  await views(c, 'n-host');
  listeners(c, m);
  const hostOut: string[] = [];
  httpGet(c, { ns: 'world' }, ip, 8094, hostOut);
  httpGet(c, { ns: 'world' }, ip, 8097, hostOut);
  c.note('reachability with --network host', hostOut.join('\n'));
  await apiCase(
    c,
    'NetworkMode host with PortBindings',
    'n-host-api',
    ctrBody({ '80/tcp': [{ HostIp: '', HostPort: '8097' }] }, { NetworkMode: 'host' }),
  );
  c.docker([
    'run',
    '-d',
    '--name',
    'n-none',
    '--network',
    'none',
    '-p',
    '8098:80',
    'busybox',
    ...LOOP,
  ]);
  old(c, [
    'run',
    '-d',
    '--name',
    'n-none-old',
    '--network',
    'none',
    '-p',
    '8098:80',
    'busybox',
    ...LOOP,
  ]);
  await views(c, 'n-none');
  listeners(c, m);
  await apiCase(
    c,
    'NetworkMode none with PortBindings',
    'n-none-api',
    ctrBody({ '80/tcp': [{ HostIp: '', HostPort: '8098' }] }, { NetworkMode: 'none' }),
  );
  cliCase(c, '--network container:web -p 8099:80', 'n-ctr', [
    '--network',
    'container:web',
    '-p',
    '8099:80',
  ]);
  cliCase(c, '--network container:web -P', 'n-ctr2', [
    '--network',
    'container:web',
    '-P',
    '--expose',
    '80',
  ]);
  await apiCase(
    c,
    'NetworkMode container:web with PortBindings',
    'n-ctr-api',
    ctrBody({ '80/tcp': [{ HostIp: '', HostPort: '8099' }] }, { NetworkMode: 'container:web' }),
  );
  c.docker(['rm', '-f', 'n-host', 'n-host-old', 'n-none', 'n-none-old']);

  c.sec(`${m.tag} 14. Everything removed`);
  const all = c.docker(['ps', '-aq'], { quiet: true }).stdout.split('\n').filter(Boolean);
  if (all.length) c.docker(['rm', '-f', ...all], { quiet: true });
  c.docker(['network', 'rm', 'pnet']);
  c.docker(['ps', '-a']);
  listeners(c, m);
  rules(c, m);
  localnet(c, m);
}

async function pass(c: Capture, m: Mode): Promise<void> {
  await onePort(c, m);
  await forms(c, m);
  await conflicts(c, m);
  await invalid(c, m);
  await networks(c, m);
}

/** Things of a lab host before dockerd starts there. */
function hostBefore(c: Capture, tag: string, where: Where): void {
  c.sec(`${tag} 0. The lab host before dockerd starts`);
  c.ns(where, ['cat', '/proc/sys/net/ipv4/ip_local_port_range']);
  c.ns(where, ['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start']);
  c.ns(where, ['sysctl', 'net.ipv6.conf.all.disable_ipv6', 'net.ipv4.conf.all.route_localnet']);
  c.ns(where, ['ip', 'addr']);
  c.ns(where, ['iptables-save']);
}

runCapture({
  name: 'capture-docker-ports',
  title: 'Docker 20.10 published ports: raw capture',
  hosts: 3,
  steps: async ({ lab, cap, dockerd, stopDockerd, spawn }) => {
    const passes: [string, number, string[]][] = [
      ['[proxy]', 0, []],
      ['[no-proxy]', 1, ['--userland-proxy=false']],
    ];
    for (const [tag, i, args] of passes) {
      const host = lab.hosts[i]!;
      const where = `h${i + 1}` as Where;
      hostBefore(cap, tag, where);
      const ref = await dockerd(i, args);
      console.log(
        `${tag} dockerd pid ${ref.pid} up in ${host.name} (${args.join(' ') || 'defaults'})`,
      );
      cap.note(
        'dockerd command line',
        `${ref.pid}: ${args.length ? args.join(' ') : '(default flags)'} in ${host.name} (${host.ip})`,
      );
      cap.docker(['create', '--name', 'exposer', 'busybox', 'true'], { quiet: true });
      cap.docker(['commit', '-c', 'EXPOSE 80 443 53/udp', 'exposer', 'busybox-exposed'], {
        quiet: true,
      });
      cap.docker(['rm', 'exposer'], { quiet: true });
      await pass(cap, { tag, host, where, args, pid: ref.pid, spawn });
      await stopDockerd();
    }
  },
});
