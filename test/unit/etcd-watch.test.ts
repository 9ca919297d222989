// One watch of the etcd store (src/store/etcd/watch.ts) over fake streams:
// what it asks etcd for, where it resumes after a broken stream, what it
// delivers. The real etcd's side is in integration/store-etcd.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { GrpcStream } from '../../src/store/etcd/grpc.js';
import { watchCreateRequest } from '../../src/store/etcd/proto.js';
import { EtcdWatch } from '../../src/store/etcd/watch.js';
import type { WatchEvent } from '../../src/store/types.js';
import { waitFor } from '../helpers/wait.js';

/** A stream as the watch uses it: records what is written, answers on demand. */
class FakeStream extends EventEmitter {
  readonly written: Buffer[] = [];
  closed = false;
  write(m: Buffer): void {
    this.written.push(m);
  }
  end(): void {
    this.closed = true;
  }
  cancel(): void {
    this.closed = true;
  }
  fail(reason: string): void {
    this.emit('error', new Error(reason));
  }
}

function varint(n: number): string {
  let out = '';
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte += 128;
    out += byte.toString(16).padStart(2, '0');
  } while (n > 0);
  return out;
}
const len = (hex: string): string => varint(hex.length / 2) + hex;
const str = (s: string): string => Buffer.from(s).toString('hex');
/** A WatchResponse: header (revision), created, events of puts (key, mod_revision). */
function response(revision: number, created: boolean, puts: [string, number][] = []): Buffer {
  let hex = '0a' + len('18' + varint(revision)) + (created ? '1801' : '');
  for (const [key, rev] of puts) {
    const kv = '0a' + len(str(key)) + '18' + varint(rev) + '2a' + len(str('v'));
    hex += '5a' + len('12' + len(kv));
  }
  return Buffer.from(hex, 'hex');
}

function watch(after: number | undefined) {
  const streams: FakeStream[] = [];
  const seen: WatchEvent[] = [];
  const w = new EtcdWatch({
    open: () => {
      const s = new FakeStream();
      streams.push(s);
      return s as unknown as GrpcStream;
    },
    key: Buffer.from('/p/a/'),
    rangeEnd: Buffer.from('/p/a0'),
    strip: 3,
    after,
    createTimeoutMs: 60_000,
    cb: (ev) => seen.push(ev),
    onError: undefined,
    onCallbackError: (e) => assert.fail(String(e)),
    done: () => undefined,
  });
  return { w, streams, seen };
}

const request = (startRevision: number): string =>
  watchCreateRequest({
    key: Buffer.from('/p/a/'),
    rangeEnd: Buffer.from('/p/a0'),
    startRevision,
  }).toString('hex');

describe('EtcdWatch', () => {
  it("from now asks for etcd's present (start_revision 0), then resumes after what it delivered", async () => {
    const { w, streams, seen } = watch(undefined);
    try {
      assert.equal(streams.length, 1);
      // Not a revision of its own: one taken before etcd creates the watch
      // would be in the past whenever a write came between, and etcd serves
      // such a watch only at its 100 ms resync.
      assert.deepEqual(
        streams[0]!.written.map((m) => m.toString('hex')),
        [request(0)],
      );
      // A create_request of key and range end only: start_revision 0 is left out.
      assert.equal(request(0), '0a' + len('0a05' + str('/p/a/') + '1205' + str('/p/a0')));
      streams[0]!.emit('message', response(300, true));
      await w.started(1000);
      streams[0]!.emit('message', response(301, false, [['/p/a/x', 301]]));
      streams[0]!.emit('error', new Error('member gone'));
      await waitFor(() => streams.length === 2, 'the reopened stream');
      assert.equal(streams[0]!.closed, true);
      assert.deepEqual(
        streams[1]!.written.map((m) => m.toString('hex')),
        [request(302)],
      );
      // A member may send again what the last one did: 301 is not repeated.
      streams[1]!.emit('message', response(303, true));
      streams[1]!.emit(
        'message',
        response(303, false, [
          ['/p/a/x', 301],
          ['/p/a/y', 303],
        ]),
      );
      assert.deepEqual(
        seen.map((e) => [e.type, e.key, e.revision]),
        [
          ['put', 'a/x', 301],
          ['put', 'a/y', 303],
        ],
      );
    } finally {
      w.cancel();
    }
  });

  it('from now, broken before any event, resumes after the revision etcd created it at', async () => {
    const { w, streams } = watch(undefined);
    try {
      streams[0]!.emit('message', response(50, true));
      streams[0]!.emit('error', new Error('member gone'));
      await waitFor(() => streams.length === 2, 'the reopened stream');
      assert.deepEqual(
        streams[1]!.written.map((m) => m.toString('hex')),
        [request(51)],
      );
    } finally {
      w.cancel();
    }
  });

  it('from a revision asks for exactly it', () => {
    const { w, streams } = watch(41);
    try {
      assert.deepEqual(
        streams[0]!.written.map((m) => m.toString('hex')),
        [request(42)],
      );
    } finally {
      w.cancel();
    }
  });
});
