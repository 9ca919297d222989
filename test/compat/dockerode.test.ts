/** dockerode (a real Engine API client) drives the basic container lifecycle. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
let docker: Docker;

function collect(
  stream: NodeJS.ReadableStream,
  demux: boolean,
): Promise<{ out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const out = new PassThrough();
    const err = new PassThrough();
    let o = '';
    let e = '';
    out.on('data', (d: Buffer) => (o += d.toString()));
    err.on('data', (d: Buffer) => (e += d.toString()));
    if (demux) docker.modem.demuxStream(stream, out, err);
    else stream.on('data', (d: Buffer) => (o += d.toString()));
    stream.on('end', () => resolve({ out: o, err: e }));
    stream.on('error', reject);
  });
}

describe('dockerode against berthd', () => {
  before(async () => {
    env = await labWithDaemons();
    docker = new Docker({ socketPath: env.daemon.socket });
  });
  after(async () => {
    await env?.destroy();
  });

  it('pings and reports its version', async () => {
    assert.equal(String(await docker.ping()), 'OK');
    const v = await docker.version();
    assert.equal(v.ApiVersion, '1.47');
  });

  it('creates, starts, inspects, execs, stops and removes a container', async () => {
    const c = await docker.createContainer({
      Image: 'busybox',
      name: 'dode1',
      Cmd: ['sh', '-c', 'echo started; while true; do sleep 3600; done'],
      Labels: { suite: 'dockerode' },
    } as Docker.ContainerCreateOptions);
    await c.start();
    const info = await c.inspect();
    assert.equal(info.State.Running, true);
    assert.equal(info.Name, '/dode1');

    const list = await docker.listContainers({ filters: { label: ['suite=dockerode'] } });
    assert.deepEqual(
      list.map((x) => x.Names[0]),
      ['/dode1'],
    );

    const ex = await c.exec({
      Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 4'],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await ex.start({ hijack: true, stdin: false });
    const got = await collect(stream, true);
    assert.equal(got.out, 'out\n');
    assert.equal(got.err, 'err\n');
    const exInfo = await ex.inspect();
    assert.equal(exInfo.ExitCode, 4);
    assert.equal(exInfo.Running, false);

    const logs = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    assert.match(logs.toString(), /started\n/);

    await c.stop({ t: 1 });
    const w = (await c.wait()) as { StatusCode: number };
    assert.equal(w.StatusCode, 137);
    const stopped = await c.inspect();
    assert.equal(stopped.State.Status, 'exited');
    await c.remove();
    await assert.rejects(c.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  it('reports errors with Docker statuses', async () => {
    await assert.rejects(
      docker.getContainer('nosuch').inspect(),
      (e: { statusCode?: number }) => e.statusCode === 404,
    );
    await assert.rejects(
      docker.createContainer({ Image: 'busybox', name: 'bad name!' }),
      (e: { statusCode?: number }) => e.statusCode === 400,
    );
    const c = await docker.createContainer({
      Image: 'busybox',
      name: 'dode2',
      Cmd: ['sleep', '30'],
    });
    await assert.rejects(
      docker.createContainer({ Image: 'busybox', name: 'dode2', Cmd: ['true'] }),
      (e: { statusCode?: number }) => e.statusCode === 409,
    );
    await assert.rejects(
      c.exec({ Cmd: ['true'] }),
      (e: { statusCode?: number }) => e.statusCode === 409,
    );
    await c.remove({ force: true });
  });

  it('answers a body-less 200 with Content-Length: 0, as dockerd does', async () => {
    const c = await docker.createContainer({ Image: 'busybox', name: 'dode3', Cmd: ['true'] });
    const net = await docker.createNetwork({ Name: 'dode3net' });
    try {
      for (const op of ['connect', 'disconnect']) {
        const res = await new Promise<IncomingMessage>((resolve, reject) => {
          const body = JSON.stringify({ Container: c.id });
          const req = request(
            {
              socketPath: env.daemon.socket,
              method: 'POST',
              path: `/v1.41/networks/${net.id}/${op}`,
              headers: { 'Content-Type': 'application/json', 'Content-Length': body.length },
            },
            resolve,
          );
          req.on('error', reject);
          req.end(body);
        });
        res.resume();
        assert.equal(res.statusCode, 200, op);
        assert.equal(res.headers['content-length'], '0', op);
        assert.equal(res.headers['transfer-encoding'], undefined, op);
      }
    } finally {
      await c.remove({ force: true });
      await net.remove();
    }
  });
});
