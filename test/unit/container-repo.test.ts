/**
 * ContainerRepo over the embedded store: a record exists from its insert to
 * its remove and never after (a late save cannot bring a removed container
 * back), and no two containers ever hold one name — also when the store
 * holds what a berthd without these checks left.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode } from '../../src/common/errors.js';
import { ContainerRepo } from '../../src/containers/repo.js';
import type { ContainerRecord } from '../../src/containers/types.js';
import { SqliteStore } from '../../src/store/embedded/sqlite.js';
import type { KvStore } from '../../src/store/types.js';

const root = mkdtempSync(join(tmpdir(), 'berth-repo-test-'));
let n = 0;
const open = (): KvStore => SqliteStore.open(join(root, `s${++n}`, 'berth.db'));

function record(id: string, name: string): ContainerRecord {
  return {
    Id: id.padEnd(64, '0'),
    Name: `/${name}`,
    State: { Status: 'exited' },
  } as unknown as ContainerRecord;
}

async function keys(kv: KvStore): Promise<string[]> {
  return (await kv.list('containers/')).map((e) => e.key);
}

describe('ContainerRepo', () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a save after the remove fails and writes nothing', async () => {
    const kv = open();
    const repo = new ContainerRepo(kv);
    const c = record('a', 'x1');
    await repo.insert(c);
    await repo.save(c);
    await repo.remove(c);
    c.State.Status = 'running';
    await assert.rejects(repo.save(c), (e) => hasCode(e, 'NOT_FOUND'));
    assert.deepEqual(await keys(kv), []);
    // A stale copy kept by a caller, too.
    await assert.rejects(repo.save({ ...c }), (e) => hasCode(e, 'NOT_FOUND'));
    await assert.rejects(repo.rename(c, { ...c, Name: '/x2' }, []), (e) => hasCode(e, 'NOT_FOUND'));
    assert.deepEqual(await keys(kv), []);
    await kv.close();
  });

  it('a save racing the remove loses: the record stays deleted', async () => {
    const kv = open();
    const repo = new ContainerRepo(kv);
    const c = record('b', 'x1');
    await repo.insert(c);
    // The remove begins first; the save comes while it is under way.
    const removing = repo.remove(c);
    const saving = repo.save(c);
    await removing;
    await assert.rejects(saving, (e) => hasCode(e, 'NOT_FOUND'));
    assert.deepEqual(await keys(kv), []);
    await kv.close();
  });

  it('a second container with a taken name is refused (409), the first keeps it', async () => {
    const kv = open();
    const repo = new ContainerRepo(kv);
    await repo.insert(record('c', 'x1'));
    await assert.rejects(repo.insert(record('d', 'x1')), (e) => hasCode(e, 'CONFLICT'));
    assert.equal((await kv.get('containers/names/x1'))?.value, record('c', '').Id);
    assert.deepEqual(await keys(kv), [
      'containers/by-id/' + record('c', '').Id,
      'containers/names/x1',
    ]);
    await kv.close();
  });

  it('load keeps out a record that does not own its name, and removing it frees nothing', async () => {
    const kv = open();
    const old = record('e', 'x1');
    const owner = record('f', 'x1');
    const lone = record('9', 'x2');
    // What berthd left before saves checked: a removed record written back
    // (no name key), then a new container that took its name.
    await kv.put(`containers/by-id/${old.Id}`, JSON.stringify(old));
    await kv.put(`containers/by-id/${owner.Id}`, JSON.stringify(owner));
    await kv.put('containers/names/x1', owner.Id);
    await kv.put(`containers/by-id/${lone.Id}`, JSON.stringify(lone));
    // And a name key whose record is gone.
    await kv.put('containers/names/x3', record('7', '').Id);
    const repo = new ContainerRepo(kv);
    await repo.load();
    assert.deepEqual(
      repo.all().map((c) => c.Id),
      [owner.Id],
    );
    assert.equal(repo.find('x1')?.Id, owner.Id);
    const strays = repo.takeStrays();
    assert.deepEqual(strays.map((c) => c.Id).sort(), [old.Id, lone.Id].sort());
    assert.deepEqual(repo.takeStrays(), []);
    for (const s of strays) await repo.removeStray(s);
    assert.deepEqual(await keys(kv), [`containers/by-id/${owner.Id}`, 'containers/names/x1']);
    // The stray's name was nobody's: it can be taken again.
    await repo.insert(record('8', 'x2'));
    await repo.insert(record('6', 'x3'));
    await kv.close();
  });
});
