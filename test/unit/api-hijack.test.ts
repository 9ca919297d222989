// The head of a hijacked stream goes out alone (src/api/hijack.ts): on a
// unix socket the stream waits until the client has read the head, so a
// client that reads the head with a buffered reader and the stream from the
// raw socket (docker-py) loses none of it, however late it reads.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headAlone } from '../../src/api/hijack.js';
import { unreadBySocketPeer } from '../../src/kernel/sys/libc.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-hijack-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('headAlone', () => {
  it('on a unix socket, sends the stream only once a late client has read the head', async () => {
    const path = join(dir, 'api.sock');
    const HEAD = 'HTTP/1.1 101 UPGRADED\r\n\r\n';
    const server = createServer((sock) => {
      void headAlone(sock, HEAD, unreadBySocketPeer).then(() => sock.end('the logs'));
    });
    await new Promise<void>((r) => server.listen(path, r));
    let client: Socket | undefined;
    try {
      client = createConnection(path);
      // The client reads nothing for 100 ms (a loaded machine), then reads.
      client.pause();
      await new Promise((r) => setTimeout(r, 100));
      const chunks: string[] = [];
      client.on('data', (d: Buffer) => chunks.push(d.toString()));
      const ended = new Promise((r) => client!.on('end', r));
      client.resume();
      await ended;
      assert.equal(chunks[0], HEAD, 'its first read has the head alone');
      assert.equal(chunks.join(''), HEAD + 'the logs');
    } finally {
      client?.destroy();
      server.close();
    }
  });
});
