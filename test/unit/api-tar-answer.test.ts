/**
 * sendAllButLast (src/api/tar-answer.ts) over a real HTTP server on a unix
 * socket: the last chunk is kept for the caller to send, and a tar that
 * fails part-way cuts the answer off instead of ending it as a whole one.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sendAllButLast } from '../../src/api/tar-answer.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-tar-answer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function* chunks(parts: string[], failAfter?: number): AsyncGenerator<Buffer> {
  for (const [i, p] of parts.entries()) {
    if (i === failAfter) throw new Error('read failed');
    yield Buffer.from(p);
  }
}

/** Serves one request with `handle`; resolves to what the client saw. */
async function exchange(
  handle: (res: ServerResponse) => Promise<void>,
): Promise<{ body: string; ended: boolean }> {
  const sock = join(dir, `s${Math.random().toString(36).slice(2)}`);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    handle(res).catch(() => undefined);
  });
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    return await new Promise((resolve) => {
      let body = '';
      request({ socketPath: sock, path: '/' }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ body, ended: true }));
        res.on('error', () => resolve({ body, ended: false }));
      })
        .on('error', () => resolve({ body, ended: false }))
        .end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe('a tar answer whose end waits', () => {
  it('sends all but the last chunk, which the caller sends when it is ready', async () => {
    let kept: string | undefined;
    const seen = await exchange(async (res) => {
      const last = await sendAllButLast(chunks(['a', 'b', 'END']), res);
      kept = last?.toString();
      res.end(last);
    });
    assert.equal(kept, 'END');
    assert.deepEqual(seen, { body: 'abEND', ended: true });
  });

  it('cuts the answer off when the tar fails part-way, and rejects', async () => {
    let failure: unknown;
    const seen = await exchange(async (res) => {
      try {
        await sendAllButLast(chunks(['a', 'b', 'c', 'END'], 3), res);
      } catch (e) {
        failure = e;
        // What the server's error handler does once headers were sent.
        res.end();
      }
    });
    assert.match(String(failure), /read failed/);
    assert.equal(seen.ended, false, 'a cut archive must not end as a whole one');
  });
});
