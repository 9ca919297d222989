import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResponse } from '../../bench/lib/http1.js';

const b = (s: string) => Buffer.from(s, 'latin1');

test('a response with Content-Length ends after that many bytes', () => {
  const wire = 'HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\n{"a":HTTP/1.1 200 OK';
  const end = wire.indexOf('HTTP', 1);
  assert.equal(parseResponse(b(wire.slice(0, end - 1)), false), undefined);
  const r = parseResponse(b(wire), false);
  assert.equal(r?.status, 201);
  assert.equal(r?.body.toString(), '{"a":');
  assert.equal(r?.end, end);
});

test('a chunked response is complete only with its last chunk', () => {
  const wire =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n';
  for (let n = 0; n < wire.length; n++)
    assert.equal(parseResponse(b(wire.slice(0, n)), false), undefined);
  const r = parseResponse(b(wire), false);
  assert.equal(r?.body.toString(), 'abcde');
  assert.equal(r?.end, wire.length);
});

test('204, 304 and HEAD have no body; a body without a length is refused', () => {
  assert.equal(parseResponse(b('HTTP/1.1 204 No Content\r\n\r\n'), false)?.end, 27);
  assert.equal(
    parseResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n'), true)?.body.length,
    0,
  );
  assert.throws(() => parseResponse(b('HTTP/1.1 200 OK\r\n\r\nx'), false), /without a length/);
});
