/**
 * `berthd --web` (issue 16 item 3, decision 0034) in a real headless
 * browser: Debian's chromium driven by playwright-core, run inside the lab
 * host's network namespace (a wrapper nsenters it) so it reaches the
 * daemon's loopback listener there. The page shows every container of the
 * lab inside its bridge's box, shows a container started after it loaded
 * within two seconds, shows a container's inspect data on a click, draws a
 * leaked veth in red; the screenshot is written and its element boxes are
 * checked. The web port serves nothing of the Engine API, and without
 * --web the daemon listens on no TCP port.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { KERNEL_POLL_MS } from '../../src/api/web/live.js';
import { makeCerts } from '../helpers/certs.js';
import { eventually, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

const PORT = 8088;
const URL_ = `http://127.0.0.1:${PORT}/`;
const LOOP = 'while true; do sleep 3600; done';
const LEAK = 'vethfeedbee';

let env: LabEnv;
let tmp: string;
let browser: Browser | undefined;
let page: Page;

const ok = (r: { status: number | null; stdout: string; stderr: string }): string => {
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

const inside = (a: Box, b: Box): boolean =>
  a.x >= b.x && a.y >= b.y && a.x + a.width <= b.x + b.width && a.y + a.height <= b.y + b.height;

/** Every container of the lab with its networks and addresses, as docker inspect says. */
function containers(): Array<{ name: string; nets: Record<string, string> }> {
  const ids = ok(env.docker(['ps', '-q']))
    .trim()
    .split('\n')
    .filter(Boolean);
  const out = JSON.parse(ok(env.docker(['inspect', ...ids]))) as Array<{
    Name: string;
    NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
  }>;
  return out.map((c) => ({
    name: c.Name.slice(1),
    nets: Object.fromEntries(
      Object.entries(c.NetworkSettings.Networks).map(([n, e]) => [n, e.IPAddress]),
    ),
  }));
}

/** The bridge row of network `net` and the card of container `name` in it. */
function card(net: string, name: string) {
  const row = page.locator(`section.net[data-network="${net}"]`);
  return { row, card: row.locator(`.card.container[data-name="${name}"]`) };
}

/** A curl from inside the lab host: the status code. */
function status(method: string, path: string, host?: string): string {
  return ok(
    env.inHost([
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-X',
      method,
      ...(host ? ['-H', `Host: ${host}`] : []),
      `http://127.0.0.1:${PORT}${path}`,
    ]),
  );
}

/** The lab host's listening TCP sockets but Berth's DNS (port 53). */
function tcpListeners(): string[] {
  return ok(env.inHost(['ss', '-Htln']))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/)[3]!)
    .filter((a) => !a.endsWith(':53'));
}

describe('the live view (berthd --web) in a headless browser', () => {
  before(async () => {
    env = await labWithDaemons({ args: ['--web', `127.0.0.1:${PORT}`] });
    tmp = mkdtempSync(join(tmpdir(), 'berth-web-'));
    // The browser runs where the daemon listens: the lab host's namespace.
    const wrapper = join(tmp, 'chromium');
    writeFileSync(
      wrapper,
      `#!/bin/sh\nexec nsenter --net=${env.lab.netns(1)} -- /usr/bin/chromium "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    ok(env.docker(['network', 'create', 'webnet']));
    ok(env.docker(['run', '-d', '--name', 'one', 'busybox', '/bin/sh', '-c', LOOP]));
    ok(env.docker(['run', '-d', '--name', 'two', '--network', 'webnet', 'busybox', 'sleep', '1d']));
    browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  after(async () => {
    await browser?.close().catch(() => undefined);
    env?.inHost(['ip', 'link', 'del', LEAK]);
    await env?.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('shows every container of the lab inside its bridge, and one run later within two seconds', async () => {
    await page.goto(URL_);
    await page.waitForSelector('body[data-updated]', { timeout: 5000 });
    const all = containers();
    assert.equal(all.length, 2);
    for (const c of all) {
      for (const [net, ip] of Object.entries(c.nets)) {
        const { row, card: k } = card(net, c.name);
        await k.waitFor({ timeout: 2000 });
        assert.match(await k.innerText(), new RegExp(`${ip.replace(/\./g, '\\.')}/\\d+`));
        assert.ok(inside((await k.boundingBox())!, (await row.boundingBox())!));
      }
    }
    assert.equal(
      await page.locator('section.net[data-network="bridge"]').getAttribute('data-bridge'),
      'berth0',
    );
    ok(env.docker(['run', '-d', '--name', 'three', 'busybox', '/bin/sh', '-c', LOOP]));
    const t0 = Date.now();
    await card('bridge', 'three').card.waitFor({ timeout: 2000 });
    const took = Date.now() - t0;
    assert.ok(took < 2000, `took ${took} ms`);
    console.log(`# the new container showed ${took} ms after docker run returned`);
    assert.equal(await page.locator('.card.container').count(), 3);
  });

  it('shows a clicked container’s inspect data', async () => {
    const ip = containers().find((c) => c.name === 'two')!.nets.webnet!;
    await card('webnet', 'two').card.click();
    await page.waitForSelector('aside#inspect[data-loaded="true"]', { timeout: 3000 });
    const text = await page.locator('aside#inspect').innerText();
    assert.match(text, /^two$/m);
    assert.match(text, new RegExp(`webnet\\s+${ip.replace(/\./g, '\\.')}\\b`));
    assert.match(text, /"Image": "busybox"/);
    if (process.env.BERTH_ARTIFACTS)
      await page.screenshot({ path: join(process.env.BERTH_ARTIFACTS, 'live-view-inspect.png') });
    assert.equal(
      await card('webnet', 'two').card.evaluate((e) => e.classList.contains('selected')),
      true,
    );
  });

  it('draws a leaked veth on berth0 in red by itself (no event, no reload) and lists it; the screenshot holds the boxes', async () => {
    ok(env.inHost(['ip', 'link', 'add', LEAK, 'type', 'veth', 'peer', 'name', 'vethfeedbef']));
    ok(env.inHost(['ip', 'link', 'set', LEAK, 'master', 'berth0']));
    const leak = page.locator(
      `section.net[data-network="bridge"] .card.link.bad[data-link="${LEAK}"]`,
    );
    // Only the kernel changed: the daemon's poll of the graph finds it.
    await leak.waitFor({ timeout: KERNEL_POLL_MS + 2000 });
    assert.equal(await leak.evaluate((e) => getComputedStyle(e).borderColor), 'rgb(204, 0, 0)');
    const problems = await page.locator('#problems li').allInnerTexts();
    assert.ok(
      problems.some((p) => p.startsWith('leak:') && p.includes(LEAK) && p.includes('berth0')),
      problems.join('\n'),
    );
    const shot = join(tmp, 'live-view.png');
    await page.screenshot({ path: shot, fullPage: true });
    // BERTH_ARTIFACTS: a directory to keep the screenshot in (CI uploads it).
    if (process.env.BERTH_ARTIFACTS)
      copyFileSync(shot, join(process.env.BERTH_ARTIFACTS, 'live-view.png'));
    assert.ok(statSync(shot).size > 1000);
    const viewport = { x: 0, y: 0, ...page.viewportSize()! };
    for (const c of containers()) {
      for (const net of Object.keys(c.nets)) {
        const { row, card: k } = card(net, c.name);
        const [rb, kb] = [(await row.boundingBox())!, (await k.boundingBox())!];
        assert.ok(inside(kb, rb), `${c.name} outside ${net}'s box`);
        assert.ok(inside(kb, viewport), `${c.name} outside the screenshot`);
        assert.ok(kb.width > 50 && kb.height > 20);
      }
    }
    // The rows do not overlap: one under the other.
    const rows = await page.locator('section.net').all();
    const boxes = await Promise.all(rows.map(async (r) => (await r.boundingBox())!));
    for (let i = 1; i < boxes.length; i++)
      assert.ok(boxes[i]!.y >= boxes[i - 1]!.y + boxes[i - 1]!.height);
  });

  it('serves nothing of the Engine API on the web port, and only to loopback names', () => {
    assert.equal(status('GET', '/berth/graph?format=text'), '200');
    assert.equal(status('POST', '/containers/create'), '404');
    assert.equal(status('GET', '/containers/json'), '404');
    assert.equal(status('GET', '/v1.41/version'), '404');
    assert.equal(status('POST', '/containers/one/kill'), '404');
    assert.equal(status('DELETE', '/containers/one'), '404');
    assert.equal(status('POST', '/containers/one/json'), '405');
    assert.equal(status('GET', '/containers/one/json'), '200');
    assert.equal(status('GET', '/', 'evil.example:8088'), '403');
    assert.equal(status('GET', '/', `localhost:${PORT}`), '200');
    ok(env.docker(['inspect', 'one']));
  });

  it('without --web, nothing listens on TCP', async () => {
    assert.deepEqual(tcpListeners(), [`127.0.0.1:${PORT}`]);
    await env.daemons[0]!.stop();
    const d = await env.lab.startDaemon(1);
    env.daemons[0] = d;
    await eventually(() => ok(env.docker(['version'])), 10_000);
    assert.deepEqual(tcpListeners(), []);
    assert.equal(env.inHost(['curl', '-s', `http://127.0.0.1:${PORT}/`]).status, 7);
  });

  it("on a network address only with TLS: HTTPS with the API's certificate and client check", async () => {
    const ip = env.lab.hosts[0]!.ip;
    const web = `${ip}:8443`;
    const dir = join(tmp, 'certs');
    mkdirSync(dir);
    makeCerts(dir, ip);
    const tls = [
      ...['--tlsverify', '--tlscacert', join(dir, 'ca.pem')],
      ...['--tlscert', join(dir, 'server-cert.pem'), '--tlskey', join(dir, 'server-key.pem')],
    ];
    await env.daemons[0]!.stop();
    env.daemons[0] = await env.lab.startDaemon(1, { args: ['--web', web, ...tls] });
    await eventually(() => ok(env.docker(['version'])), 10_000);
    assert.deepEqual(tcpListeners(), [web]);
    const curl = (...args: string[]) =>
      env.inHost(['curl', '-s', '--cacert', join(dir, 'ca.pem'), ...args]);
    const graph = curl(
      ...['--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem')],
      `https://${web}/berth/graph?format=text`,
    );
    assert.equal(graph.status, 0, graph.stderr);
    assert.match(graph.stdout, /berth0/);
    // No client certificate: refused in the handshake; plain HTTP: not spoken.
    assert.notEqual(curl(`https://${web}/berth/graph`).status, 0);
    assert.notEqual(
      env.inHost(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${web}/`]).stdout,
      '200',
    );
  });
});
