/**
 * The attacks of the hardening issue against a real lab berthd: requests
 * that used to end the daemon, bodies that used to bloat it, fields that
 * were accepted and silently ignored. Each is answered with Docker's status
 * and a message, the daemon lives on, and nothing is left behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';
import { bodyOf, rawHttp, statusOf } from '../helpers/raw-http.js';

const raw = (sock: string, bytes: string | Buffer) => rawHttp(sock, bytes, 500);

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

describe('hardening: hostile requests against a lab berthd', () => {
  let env: LabEnv;
  let sock: string;
  const post = (path: string, body: string, type = 'application/json') =>
    raw(
      sock,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  const alive = async () => {
    process.kill(env.daemon.pid, 0);
    const r = await raw(sock, 'GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(r), 200, 'the daemon still answers');
  };

  before(async () => {
    env = await labWithDaemons();
    sock = env.daemon.socket;
  });
  after(async () => {
    await env?.destroy();
  });

  it('malformed escapes, targets and hosts are 400s with a JSON body', async () => {
    for (const path of [
      '/containers/%E0%A4%A/json',
      '/networks/%E0%A4%A',
      '/images/%C0%AF/json',
      '/exec/%ff/json',
      '/containers/%ED%A0%80/json',
      '/v1.41/containers/%E0%A4%A/json',
    ]) {
      const r = await raw(sock, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(r), 400, path);
      assert.match(JSON.parse(bodyOf(r)).message as string, /invalid URL escape/, path);
    }
    assert.equal(
      statusOf(await raw(sock, 'GET http://[/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')),
      400,
    );
    const badHost = await raw(
      sock,
      'GET /_ping HTTP/1.1\r\nHost: x:99999\r\nConnection: close\r\n\r\n',
    );
    assert.ok([200, 400].includes(statusOf(badHost)));
    await alive();
  });

  it('a 100 MB body is refused with 413 and does not stay in memory', async () => {
    const before = rssKiB(env.daemon.pid);
    const chunk = Buffer.alloc(1 << 20, 0x20);
    /** Streams 100 MB of chunked body; resolves with what came back. */
    const send = () =>
      new Promise<string>((resolve) => {
        const c = connect(sock);
        const got: Buffer[] = [];
        c.on('data', (d) => got.push(d));
        c.on('error', () => undefined);
        c.on('close', () => resolve(Buffer.concat(got).toString('latin1')));
        c.write(
          'POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
        );
        let sent = 0;
        // Once the answer came, stop sending: a write after the server closed
        // fails (EPIPE) and Node drops the socket, answer unread, under load.
        const pump = () => {
          while (sent < 100 && !c.destroyed && got.length === 0) {
            sent++;
            c.write(`${chunk.length.toString(16)}\r\n`);
            c.write(chunk);
            if (!c.write('\r\n')) return void c.once('drain', pump);
          }
          if (!c.destroyed) c.end('0\r\n\r\n');
        };
        pump();
      });
    // A write after the server's close fails (EPIPE) and Node may drop the
    // socket before reading the answer that came first: the client's race,
    // not the daemon's. Nothing but a 413 may ever come back.
    let reply = '';
    for (let i = 0; i < 3 && statusOf(reply) === 0; i++) {
      reply = await send();
      assert.ok(reply === '' || statusOf(reply) === 413, reply.slice(0, 200));
    }
    assert.equal(statusOf(reply), 413);
    await alive();
    const grown = rssKiB(env.daemon.pid) - before;
    assert.ok(grown < 40 * 1024, `RSS grew by ${grown} KiB`);
  });

  it('a URL over the limit is a 414', async () => {
    const r = await raw(
      sock,
      `GET /containers/${'a'.repeat(70_000)}/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(statusOf(r), 414);
    await alive();
  });

  it('a text/plain body to a JSON endpoint is refused as dockerd refuses it', async () => {
    const r = await post('/networks/create', '{"Name":"plain"}', 'text/plain');
    assert.equal(statusOf(r), 400);
    assert.equal(
      JSON.parse(bodyOf(r)).message,
      "Content-Type specified (text/plain) must be 'application/json'",
    );
    assert.equal(env.docker(['network', 'inspect', 'plain']).status, 1, 'nothing was created');
  });

  it('fields of the wrong JSON type are 400s naming the field', async () => {
    for (const [body, re] of [
      ['{"Image":"busybox","HostConfig":{"Memory":"x"}}', /HostConfig\.Memory/],
      ['{"Image":"busybox","MacAddress":{}}', /MacAddress/],
      ['{"Image":"busybox","Healthcheck":1}', /Healthcheck/],
      ['{"Image":"busybox","HostConfig":{"Privileged":"yes"}}', /HostConfig\.Privileged/],
      [
        '{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"bridge":{"Aliases":"a"}}}}',
        /Aliases/,
      ],
    ] as const) {
      const r = await post('/containers/create', body);
      assert.equal(statusOf(r), 400, body);
      assert.match(JSON.parse(bodyOf(r)).message as string, re);
    }
    assert.equal(env.docker(['ps', '-aq']).stdout.trim(), '', 'no container was created');
  });

  it('flags Berth does not honour yet are refused, naming the flag, and leave nothing', () => {
    for (const flags of [
      ['--blkio-weight', '300'],
      ['--cgroup-parent', 'mine'],
      ['--device-cgroup-rule', 'c 1:3 r'],
      ['--log-driver', 'syslog'],
      ['--log-opt', 'max-size=1m'],
    ]) {
      const r = env.docker(['run', '--rm', ...flags, 'busybox', 'true']);
      assert.equal(r.status, 125, flags.join(' '));
      assert.match(r.stderr, /berth does not support .* yet/, flags.join(' '));
    }
    assert.equal(env.docker(['ps', '-aq']).stdout.trim(), '', 'no container was created');
  });

  it('a HostPort range without HostIp through the API starts and publishes one port', async () => {
    const r = await post(
      '/containers/create?name=range',
      JSON.stringify({
        Image: 'busybox',
        Cmd: ['sleep', '300'],
        ExposedPorts: { '80/tcp': {} },
        HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '40000-40010' }] } },
      }),
    );
    assert.equal(statusOf(r), 201, bodyOf(r));
    const start = env.docker(['start', 'range']);
    assert.equal(start.status, 0, start.stderr);
    const port = env.docker(['port', 'range', '80']).stdout;
    assert.match(port, /0\.0\.0\.0:400(0\d|10)/);
    env.docker(['rm', '-f', 'range']);
  });

  it('the daemon survived all of it', alive);
});
