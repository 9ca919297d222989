/**
 * `berthd --web ADDR` (decision 0034): off by default, an IP:PORT, a
 * loopback address unless TLS is on (--tls=false does not lift it); and the
 * page's script is valid JavaScript allowed by the CSP's hash.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags } from '../../src/daemon/flags.js';
import { PAGE_SCRIPT, PAGE_STYLE, pageHtml } from '../../src/api/web/page.js';

describe('berthd --web', () => {
  it('is off unless given', () => {
    assert.equal(parseFlags([]).web, undefined);
  });

  it('takes IP:PORT, [v6]:PORT or localhost:PORT', () => {
    assert.deepEqual(parseFlags(['--web', '127.0.0.1:8088']).web, {
      host: '127.0.0.1',
      port: 8088,
    });
    assert.deepEqual(parseFlags(['--web=[::1]:9000']).web, { host: '::1', port: 9000 });
    assert.deepEqual(parseFlags(['--web', 'localhost:8088']).web, {
      host: 'localhost',
      port: 8088,
    });
    assert.deepEqual(parseFlags(['--web', ':8088']).web, { host: '127.0.0.1', port: 8088 });
    for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'unix:///x', '/tmp/x']) {
      assert.throws(() => parseFlags(['--web', bad]), /invalid argument .* for "--web" flag/);
    }
    assert.throws(() => parseFlags(['--web']), /flag needs an argument: --web/);
  });

  it('refuses a network address without TLS, even with --tls=false', () => {
    for (const argv of [
      ['--web', '0.0.0.0:8088'],
      ['--web', '192.168.205.10:8088', '--tls=false'],
      ['--web', 'myhost:8088'],
    ]) {
      assert.throws(
        () => parseFlags(argv),
        /refusing to serve the live view on .* without TLS: .*inspect data.*--tlsverify/s,
      );
    }
    const f = parseFlags(['--web', '0.0.0.0:8088', '--tlsverify']);
    assert.deepEqual(f.web, { host: '0.0.0.0', port: 8088 });
    assert.equal(f.tls, true);
    assert.equal(parseFlags(['--web', '10.0.0.1:443', '--tls']).web?.port, 443);
  });
});

describe('the live view page', () => {
  it('carries its script and style inline, and the script parses', () => {
    const html = pageHtml();
    assert.ok(html.includes(`<script>${PAGE_SCRIPT}</script>`));
    assert.ok(html.includes(`<style>${PAGE_STYLE}</style>`));
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\//);
    assert.doesNotThrow(() => new Function(PAGE_SCRIPT));
  });
});
