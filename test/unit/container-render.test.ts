/**
 * Container inspect's HostConfig has every field dockerd 20.10 shows, with
 * its zero value (docs/reference/docker-20.10-inspect.json, captured by
 * bench/capture-docker-inspect.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseCreate } from '../../src/containers/config.js';
import { hostConfigView } from '../../src/containers/render.js';

const ref = JSON.parse(
  readFileSync(
    new URL('../../../docs/reference/docker-20.10-inspect.json', import.meta.url),
    'utf8',
  ),
) as { containers: Record<string, { HostConfig: Record<string, unknown> }> };

/** What Berth stores for a create body, with the runtime the service fills in. */
function stored(body: object): ReturnType<typeof parseCreate>['hostConfig'] {
  const hc = parseCreate({ Image: 'busybox', Cmd: ['true'], ...body }).hostConfig;
  hc.Runtime = 'runc';
  return hc;
}

describe('container inspect HostConfig', () => {
  it('has the fields of dockerd 20.10, in its order, for the smallest create body', () => {
    const view = hostConfigView(stored({}));
    // dockerd fills Runtime in at the first start; the running container has it.
    assert.deepEqual(Object.keys(view), Object.keys(ref.containers.running!.HostConfig));
  });

  it('shows the zero values dockerd shows when the body left the fields out', () => {
    const view = hostConfigView(stored({}));
    const want = ref.containers.running!.HostConfig;
    for (const k of [
      'LogConfig',
      'Runtime',
      'IpcMode',
      'CgroupnsMode',
      'Isolation',
      'MaskedPaths',
      'ReadonlyPaths',
      'ShmSize',
      'ConsoleSize',
      'Binds',
      'VolumesFrom',
      'Ulimits',
      'PidsLimit',
      'MemorySwappiness',
      'RestartPolicy',
      'AutoRemove',
      'NetworkMode',
    ]) {
      assert.deepEqual(view[k], want[k], k);
    }
    assert.deepEqual(view.LogConfig, { Type: 'json-file', Config: {} });
  });

  it('fills in the defaults for the empty strings the CLI sends, keeps what was set', () => {
    const view = hostConfigView(
      stored({
        HostConfig: {
          LogConfig: { Type: '', Config: null },
          IpcMode: '',
          CgroupnsMode: '',
          Dns: [],
          Privileged: true,
        },
      }),
    );
    assert.deepEqual(view.LogConfig, { Type: 'json-file', Config: {} });
    assert.equal(view.IpcMode, 'private');
    assert.equal(view.CgroupnsMode, 'host');
    assert.deepEqual(view.Dns, []);
    // dockerd masks nothing in a privileged container and shows null.
    assert.equal(view.MaskedPaths, null);
    assert.equal(view.ReadonlyPaths, null);
  });
});
