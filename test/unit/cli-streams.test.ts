import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { copyOutput, Demuxer, displayJSONMessages, StreamError } from '../../src/cli/streams.js';

function frame(stream: number, s: string): Buffer {
  const b = Buffer.from(s);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(b.length, 4);
  return Buffer.concat([h, b]);
}

test('demuxer reassembles frames split across chunks', () => {
  const all = Buffer.concat([
    frame(1, 'hello '),
    frame(2, 'oops\n'),
    frame(1, 'world\n'),
    frame(1, ''),
  ]);
  for (const size of [1, 3, 7, 8, 9, all.length]) {
    const d = new Demuxer();
    const got: string[] = [];
    for (let i = 0; i < all.length; i += size) {
      for (const f of d.push(all.subarray(i, i + size)))
        got.push(`${f.stream}:${f.data.toString()}`);
    }
    assert.deepEqual(got, ['1:hello ', '2:oops\n', '1:world\n', '1:'], `chunk size ${size}`);
    assert.equal(d.pending, 0);
  }
});

test('copyOutput routes stdout/stderr and fails on a daemon error frame', async () => {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d));
  err.on('data', (d: Buffer) => (e += d));
  await copyOutput(
    Readable.from([
      Buffer.concat([frame(1, 'a'), frame(2, 'b')]).subarray(0, 5),
      Buffer.concat([frame(1, 'a'), frame(2, 'b')]).subarray(5),
    ]),
    false,
    out,
    err,
  );
  assert.equal(o, 'a');
  assert.equal(e, 'b');
  await assert.rejects(
    copyOutput(Readable.from([frame(3, 'boom')]), false, out, err),
    new StreamError('error from daemon in stream: boom'),
  );
  o = '';
  await copyOutput(Readable.from([Buffer.from('raw tty bytes')]), true, out, err);
  assert.equal(o, 'raw tty bytes');
});

test('JSON message stream: statuses and streams printed, progress skipped, error line fails', async () => {
  const out = new PassThrough();
  let o = '';
  out.on('data', (d: Buffer) => (o += d));
  const lines = [
    { status: 'Pulling from library/x', id: 'latest' },
    {
      status: 'Downloading',
      id: 'abc',
      progressDetail: { current: 5, total: 10 },
      progress: '[=>  ]',
    },
    { stream: 'Loaded image: busybox:latest\n' },
    { status: 'sha256:abc' },
  ];
  await displayJSONMessages(
    Readable.from([lines.map((l) => JSON.stringify(l)).join('\r\n') + '\r\n']),
    out,
  );
  assert.equal(o, 'latest: Pulling from library/x\nLoaded image: busybox:latest\nsha256:abc\n');
  const bad = JSON.stringify({ errorDetail: { message: 'no registry' }, error: 'no registry' });
  await assert.rejects(
    displayJSONMessages(Readable.from([bad + '\n']), out),
    new StreamError('no registry'),
  );
});

test('on a terminal, each layer keeps a line that its later messages rewrite, with the bar', async () => {
  let o = '';
  const out = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
  out.on('data', (d: Buffer) => (o += d.toString()));
  const lines = [
    { status: 'Pulling from library/redis', id: 'latest' },
    { status: 'Pulling fs layer', progressDetail: {}, id: 'aaa' },
    {
      status: 'Extracting',
      progressDetail: { current: 500000, total: 1000000 },
      progress: 'ignored',
      id: 'aaa',
    },
    { status: 'Pull complete', progressDetail: {}, id: 'aaa' },
    { status: 'Status: Downloaded newer image for redis:latest' },
  ];
  await displayJSONMessages(Readable.from([lines.map((l) => JSON.stringify(l)).join('\n')]), out);
  const bar = `[${'='.repeat(25)}>${' '.repeat(25)}]    500kB/1MB`;
  assert.equal(
    o,
    'latest: Pulling from library/redis\n' +
      '\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B' +
      `\x1b[1A\x1b[2K\raaa: Extracting ${bar}\r\x1b[1B` +
      '\x1b[1A\x1b[2K\raaa: Pull complete \r\x1b[1B' +
      'Status: Downloaded newer image for redis:latest\n',
  );
});
