// Berth's gRPC client (src/store/etcd/grpc.ts) against what a real etcd
// rarely does: a message longer than any it takes, and a member that sends
// GOAWAY and then goes silent while a stream is still open on it. Its calls
// to a real etcd are in integration/store-etcd.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Deframer,
  GrpcChannel,
  GrpcError,
  MAX_MESSAGE,
  Status,
} from '../../src/store/etcd/grpc.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-grpc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('gRPC messages', () => {
  it('refuses a length prefix over the largest message at once, not waiting for its bytes', () => {
    const d = new Deframer();
    const head = Buffer.alloc(5);
    head.writeUInt32BE(MAX_MESSAGE + 1, 1);
    assert.throws(
      () => d.push(head, () => assert.fail('no message')),
      (e: unknown) => e instanceof GrpcError && e.code === Status.RESOURCE_EXHAUSTED,
    );
    const ok = Buffer.alloc(5);
    ok.writeUInt32BE(MAX_MESSAGE, 1);
    new Deframer().push(ok, () => assert.fail('not whole yet'));
  });
});

describe('a member that announces a message longer than any taken', () => {
  it('fails the call at once, not at its deadline', async () => {
    const sock = join(dir, 'huge.sock');
    const script = fileURLToPath(new URL('../helpers/grpc-member.js', import.meta.url));
    const member = fork(script, [sock, 'huge'], { stdio: 'ignore' });
    const channel = new GrpcChannel([`unix://${sock}`], undefined);
    try {
      await new Promise<void>((resolve) => member.on('message', (m) => m === 'ready' && resolve()));
      const t0 = Date.now();
      await assert.rejects(
        channel.unary('/etcdserverpb.KV/Range', Buffer.alloc(0), Date.now() + 5000),
        (e: unknown) => e instanceof GrpcError && e.code === Status.RESOURCE_EXHAUSTED,
      );
      assert.ok(Date.now() - t0 < 2000, `failed after ${Date.now() - t0} ms`);
    } finally {
      member.kill('SIGKILL');
      channel.close();
    }
  });
});

describe('a member that sends GOAWAY', () => {
  it('fails the streams left on that connection once it stops answering pings', async () => {
    const sock = join(dir, 'member.sock');
    const script = fileURLToPath(new URL('../helpers/grpc-member.js', import.meta.url));
    const member = fork(script, [sock], { stdio: 'ignore' });
    const said = (what: string) =>
      new Promise<void>((resolve) => member.on('message', (m) => m === what && resolve()));
    const channel = new GrpcChannel([`unix://${sock}`], undefined, {
      everyMs: 100,
      timeoutMs: 200,
    });
    try {
      await said('ready');
      const goaway = said('goaway');
      const stream = channel.stream('/etcdserverpb.Watch/Watch');
      const ended = new Promise<string>((resolve) => {
        stream.on('error', (e: GrpcError) => resolve(`error ${e.code}`));
        stream.on('end', () => resolve('end'));
      });
      stream.write(Buffer.alloc(0));
      await goaway;
      member.kill('SIGSTOP');
      const got = await Promise.race([
        ended,
        new Promise<string>((r) => setTimeout(() => r('still open after 3 s'), 3000)),
      ]);
      assert.equal(got, `error ${Status.UNAVAILABLE}`);
    } finally {
      member.kill('SIGKILL');
      channel.close();
    }
  });
});
