// The cluster store's mirror (src/cluster/mirror.ts) over the embedded
// store: its watch comes before its list, and what the two both bring is
// applied once, in order, with nothing lost between them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mirror } from '../../src/cluster/mirror.js';
import { createLogger } from '../../src/common/log.js';
import type { KvStore } from '../../src/store/types.js';
import { tempStores } from '../helpers/temp-store.js';
import { waitFor } from '../helpers/wait.js';

const store = tempStores('mirror');

describe('Mirror', () => {
  it('applies a change its list already has once, and one that came after the list', async () => {
    const kv = await store();
    await kv.put('p/old', '"o"');
    let afterList = 0;
    // Writes land while the mirror starts: one after its watch is in place
    // and before its list (both bring it), one after the list was read (only
    // the watch brings it).
    const racing: KvStore = Object.create(kv) as KvStore;
    racing.listWithRevision = async (prefix) => {
      await kv.put('p/a', '"1"');
      const read = await kv.listWithRevision(prefix);
      afterList = await kv.put('p/b', '"2"');
      return read;
    };
    const m = new Mirror<string>(racing, 'p/', createLogger('error'));
    const changes: string[] = [];
    m.onChange((key) => changes.push(key));
    try {
      await m.loaded;
      await waitFor(() => m.revision >= afterList, 'the change after the list');
      assert.deepEqual([...m.all()].sort(), [
        ['a', '1'],
        ['b', '2'],
        ['old', 'o'],
      ]);
      // The list's keys (in key order), then the change after it: each once.
      assert.deepEqual(changes, ['a', 'old', 'b']);
      assert.equal(m.revisionOf('b'), afterList);
      // And after it, as any watch.
      const r = await kv.delete('p/a');
      assert.equal(r, true);
      await waitFor(() => m.get('a') === undefined, 'the delete');
      assert.deepEqual(changes, ['a', 'old', 'b', 'a']);
    } finally {
      m.close();
      await kv.close();
    }
  });
});
