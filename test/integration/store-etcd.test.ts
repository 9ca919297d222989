/**
 * The etcd store against a real etcd (Debian's etcd-server) that the tests
 * start on unix sockets: the shared KvStore contract, then what only a cluster
 * store must survive — failover between members, watches resuming across a
 * member's crash without losing or repeating events, compaction while a
 * watcher was away, no quorum failing fast and recovering by itself, TLS.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { hasCode } from '../../src/common/errors.js';
import { EtcdStore } from '../../src/store/etcd/etcd.js';
import { GrpcChannel } from '../../src/store/etcd/grpc.js';
import { watchCreateRequest } from '../../src/store/etcd/proto.js';
import { isCompacted } from '../../src/store/errors.js';
import type { KvStore, WatchEvent } from '../../src/store/types.js';
import { runStoreContract } from '../unit/store-contract.js';
import { EtcdCluster, makeTestPki, type TestPki } from '../helpers/etcd.js';
import { MutingProxy } from '../helpers/muting-proxy.js';
import { waitFor as waitUntil } from '../helpers/wait.js';

let single: EtcdCluster | undefined;
let n = 0;

before(async () => {
  single = await EtcdCluster.start(1);
});
after(async () => {
  await single?.destroy();
});

runStoreContract('etcd', async () =>
  EtcdStore.open({ endpoints: (single as EtcdCluster).endpoints(), prefix: `/contract/${++n}/` }),
);

/** The shared poller, with room for a member's failover (15 s unless told). */
const waitFor = (cond: () => boolean, what: string, ms = 15_000) => waitUntil(cond, what, ms);

/** Retries `fn` until it succeeds (the caller's part of "recovers by itself"). */
async function eventually<T>(fn: () => Promise<T>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Every change under `prefix` from `from` to `to`, as etcd's history has them. */
async function history(
  s: KvStore,
  prefix: string,
  from: number,
  to: number,
): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  const cancel = await s.watch(prefix, (ev) => out.push(ev), { fromRevision: from });
  try {
    await waitFor(() => (out.at(-1)?.revision ?? 0) >= to, `history up to ${to}`);
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    cancel();
  }
  return out.filter((e) => e.revision <= to);
}

describe('EtcdStore on a three-member cluster', () => {
  let c: EtcdCluster;
  const stores: KvStore[] = [];
  const open = async (endpoints: string[], prefix: string): Promise<KvStore> => {
    // One deadline covers a call and its failover: a write just after the
    // leader died waits for the election (etcd's election timeout is 1-2 s).
    const s = await EtcdStore.open({ endpoints, prefix, requestTimeoutMs: 4000 });
    stores.push(s);
    return s;
  };
  before(async () => {
    c = await EtcdCluster.start(3);
  });
  after(async () => {
    for (const s of stores) await s.close();
    await c?.destroy();
  });

  it('fails over when a member dies; without quorum calls fail fast; then it recovers', async () => {
    const s = await open(c.endpoints(), '/failover/');
    const start = await s.revision();
    const seen: WatchEvent[] = [];
    await s.watch('', (ev) => seen.push(ev));
    await s.put('before', '0');
    await c.stop(0);
    for (let i = 0; i < 20; i++) await s.put(`k/${i}`, `${i}`);
    assert.equal((await s.list('k/')).length, 20);
    const lease = await s.grantLease(30);
    await s.put('leased', 'x', { lease });

    await c.stop(1);
    const t0 = Date.now();
    await assert.rejects(s.put('no-quorum', 'x'), (e) => {
      assert.ok(hasCode(e, 'UNAVAILABLE'), String(e));
      assert.match(String(e), /cluster store \(etcd\) unavailable/);
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took < 5000, `no-quorum put failed after ${took} ms`);

    await c.restart(0);
    await c.restart(1);
    const rAfter = await eventually(() => s.put('after', '1'));
    assert.equal((await s.get('after'))?.value, '1');
    assert.equal((await s.get('leased'))?.lease, lease);
    await waitFor(() => seen.some((e) => e.key === 'after'), 'the watch to deliver after recovery');
    await new Promise((r) => setTimeout(r, 100));
    const truth = await history(s, '', start + 1, rAfter);
    assert.deepEqual(seen, truth, 'the watch saw exactly the history');
    // The put that timed out without quorum has no known outcome: when the
    // member left alone was the leader it had the entry in its log, and the
    // cluster commits it once quorum is back (any etcd client sees this).
    assert.ok(seen.filter((e) => e.key === 'no-quorum').length <= 1);
    assert.equal(seen.filter((e) => e.key !== 'no-quorum').length, 23);
  });

  it('a watch resumes after its member crashes: nothing lost, nothing repeated', async () => {
    const watcher = await open([c.endpoint(0)], '/resume/');
    const writer = await open([c.endpoint(1), c.endpoint(2)], '/resume/');
    const start = await writer.revision();
    const seen: WatchEvent[] = [];
    const errors: unknown[] = [];
    await watcher.watch('w/', (ev) => seen.push(ev), { onError: (e) => errors.push(e) });
    for (let i = 0; i < 10; i++) await writer.put(`w/${i}`, `a${i}`);
    await waitFor(() => seen.length === 10, 'ten events');

    await c.stop(0);
    for (let i = 0; i < 10; i++) await writer.put(`w/${i}`, `b${i}`);
    await writer.txn(
      [],
      [
        { type: 'put', key: 'w/new', value: 'n' },
        { type: 'delete', key: 'w/3' },
      ],
    );
    await writer.txn([], [{ type: 'deletePrefix', prefix: 'w/5' }]);
    await new Promise((r) => setTimeout(r, 500));
    await c.restart(0);
    let last = 0;
    for (let i = 0; i < 10; i++) last = await writer.put(`w/x${i}`, `c${i}`);

    const truth = await history(writer, 'w/', start + 1, last);
    assert.equal(truth.length, 10 + 10 + 2 + 1 + 10);
    await waitFor(() => seen.length >= truth.length, `${truth.length} events`);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen, truth);
    assert.deepEqual(errors, []);
  });

  it('drops a connection whose member stopped answering, and its watch resumes on another', async () => {
    // SIGSTOP: the connection stays up and says nothing, as across a cut link.
    const watcher = await open([c.endpoint(0), c.endpoint(1)], '/silent/');
    const writer = await open([c.endpoint(1), c.endpoint(2)], '/silent/');
    const seen: WatchEvent[] = [];
    await watcher.watch('', (ev) => seen.push(ev));
    await writer.put('a', '1');
    await waitFor(() => seen.length === 1, 'the first event');
    // Connected to member 0 before it goes silent; it starts a watch after.
    const late = await open([c.endpoint(0), c.endpoint(1)], '/silent/');
    // And one that renews a lease after.
    const renewer = await open([c.endpoint(0), c.endpoint(1)], '/silent/');
    const lease = await renewer.grantLease(30);
    const pid = c.pid(0)!;
    process.kill(pid, 'SIGSTOP');
    try {
      const lateSeen: WatchEvent[] = [];
      const t1 = Date.now();
      await late.watch('', (ev) => lateSeen.push(ev));
      // Not accepted in half the call deadline (2 of 4 s): started on member 1.
      assert.ok(Date.now() - t1 < 4000, `the watch started after ${Date.now() - t1} ms`);
      // A renewal likewise: member 1 renews it within the one call.
      const t2 = Date.now();
      assert.ok((await renewer.keepAlive(lease)) > 0);
      assert.ok(Date.now() - t2 < 4000, `renewed after ${Date.now() - t2} ms`);
      const t0 = Date.now();
      const r = await writer.put('b', '2');
      // The keepalive ping (every 10 s, 5 s to answer) finds the silent member.
      await waitFor(() => seen.length === 2, 'the event after the member went silent', 25_000);
      assert.deepEqual(seen[1], { type: 'put', key: 'b', value: '2', revision: r });
      assert.deepEqual(lateSeen, [seen[1]]);
      assert.ok(Date.now() - t0 < 20_000, `resumed after ${Date.now() - t0} ms`);
      // Calls move on too: the silent member does not hold them to the deadline.
      assert.equal((await watcher.get('b'))?.value, '2');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('a member left without a leader ends its watch streams, for their owner to open again', async () => {
    // The client's own stream, as the store's watch opens it, on member 2 only.
    const channel = new GrpcChannel([c.endpoint(2)], undefined);
    const stream = channel.stream('/etcdserverpb.Watch/Watch');
    const ended = new Promise<string>((resolve) => {
      stream.on('error', (e: Error) => resolve(e.message));
      stream.on('end', () => resolve('end'));
    });
    const created = new Promise((resolve) => stream.once('message', resolve));
    const key = Buffer.from('/leaderless/');
    stream.write(
      watchCreateRequest({ key, rangeEnd: Buffer.from('/leaderless0'), startRevision: 0 }),
    );
    await created;
    const others = [c.pid(0)!, c.pid(1)!];
    for (const pid of others) process.kill(pid, 'SIGSTOP');
    try {
      // Member 2 ends it a few election timeouts (1 s each here) after it lost its leader.
      const got = await Promise.race([
        ended,
        new Promise<string>((r) => setTimeout(() => r('still open after 15 s'), 15_000)),
      ]);
      assert.match(got, /no leader/);
    } finally {
      for (const pid of others) process.kill(pid, 'SIGCONT');
      stream.cancel();
      channel.close();
    }
    // And the cluster serves again (the next tests use it).
    await eventually(async () => (await open(c.endpoints(), '/leaderless/')).put('k', 'back'));
  });

  it('a watch whose history was compacted while it was away says so; the caller resyncs', async () => {
    const watcher = await open([c.endpoint(0)], '/compact/');
    const writer = await open([c.endpoint(1), c.endpoint(2)], '/compact/');
    const seen: WatchEvent[] = [];
    const errors: unknown[] = [];
    await watcher.watch('', (ev) => seen.push(ev), { onError: (e) => errors.push(e) });
    await writer.put('a', '1');
    await waitFor(() => seen.length === 1, 'the first event');
    await c.stop(0);
    await writer.put('b', '2');
    const r = await writer.put('a', '3');
    await writer.compact(r);
    await c.restart(0);
    await waitFor(() => errors.length === 1, 'the compacted error');
    assert.ok(isCompacted(errors[0]), String(errors[0]));
    assert.equal(seen.length, 1, 'nothing after the gap is delivered');
    const snap = await watcher.listWithRevision('');
    assert.deepEqual(
      snap.entries.map((e) => [e.key, e.value]),
      [
        ['a', '3'],
        ['b', '2'],
      ],
    );
    const resumed: WatchEvent[] = [];
    await watcher.watch('', (ev) => resumed.push(ev), { fromRevision: snap.revision + 1 });
    const r2 = await writer.put('c', '4');
    await waitFor(() => resumed.length === 1, 'the live event after resync');
    assert.deepEqual(resumed, [{ type: 'put', key: 'c', value: '4', revision: r2 }]);
  });
});

describe('EtcdStore over TLS', () => {
  let pki: TestPki;
  let c: EtcdCluster;
  before(async () => {
    pki = makeTestPki();
    c = await EtcdCluster.start(1, {
      caFile: pki.ca,
      certFile: pki.serverCert,
      keyFile: pki.serverKey,
      clientCertAuth: true,
    });
  });
  after(async () => {
    await c?.destroy();
    pki?.cleanup();
  });

  it('talks mutual TLS with dockerd-named files, and refuses what does not verify', async () => {
    const s = await EtcdStore.open({
      endpoints: c.endpoints(),
      prefix: '/tls/',
      tls: { caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey },
    });
    const r = await s.put('k', JSON.stringify({ secure: true }));
    assert.equal((await s.get('k'))?.modRevision, r);
    await s.close();

    const refused = async (opts: Parameters<typeof EtcdStore.open>[0], what: string) => {
      await assert.rejects(EtcdStore.open({ ...opts, requestTimeoutMs: 2000 }), (e) => {
        assert.ok(hasCode(e, 'UNAVAILABLE'), `${what}: ${String(e)}`);
        return true;
      });
    };
    await refused({ endpoints: c.endpoints(), tls: { caFile: pki.ca } }, 'no client certificate');
    await refused(
      {
        endpoints: c.endpoints(),
        tls: { caFile: pki.otherCa, certFile: pki.clientCert, keyFile: pki.clientKey },
      },
      'a server certificate from another CA',
    );
    await refused({ endpoints: c.endpoints() }, 'plain text to a TLS member');
    await assert.rejects(
      EtcdStore.open({ endpoints: c.endpoints(), tls: { caFile: '/nonexistent/ca.pem' } }),
      (e) => hasCode(e, 'INVALID_ARGUMENT') && /CA certificate/.test(String(e)),
    );
  });
});

describe('EtcdStore with a member that never answered', () => {
  it('sends writes and reads to the next member, and streams too', async () => {
    const dead = `unix://${(single as EtcdCluster).endpoint(0)}-gone`.replace(
      'unix://unix://',
      'unix://',
    );
    const s = await EtcdStore.open({
      endpoints: [dead, ...(single as EtcdCluster).endpoints()],
      prefix: '/next-member/',
      requestTimeoutMs: 2000,
    });
    try {
      const seen: WatchEvent[] = [];
      await s.watch('', (ev) => seen.push(ev));
      const r = await s.put('k', 'v');
      const t = await s.txn(
        [{ key: 'k', modRevision: r }],
        [{ type: 'put', key: 'k', value: 'w' }],
      );
      assert.equal(t.succeeded, true);
      assert.equal((await s.get('k'))?.value, 'w');
      await waitFor(() => seen.length === 2, 'both writes watched');
    } finally {
      await s.close();
    }
  });
});

describe('EtcdStore writes whose answer was lost', () => {
  // The first member is a proxy to the second that, once muted, passes
  // requests on and drops the answers: the write is applied, its answer
  // never comes, and the call is retried on the second member, where its
  // compare fails on the write itself. `before` runs while it still answers.
  interface Case {
    name: string;
    before?: (s: EtcdStore) => Promise<number | string>;
    write: (s: EtcdStore, got: number | string) => Promise<void>;
    /** Another client's write, made once the answer is lost and before the retry. */
    meanwhile?: (other: EtcdStore) => Promise<unknown>;
  }
  const cases: Case[] = [
    {
      name: 'a transaction is applied once and reported applied, not as a conflict',
      write: async (s) => {
        const t = await s.txn(
          [{ key: 'a', modRevision: 0 }],
          [
            { type: 'put', key: 'a', value: 'mine' },
            { type: 'put', key: 'b', value: 'mine too' },
            { type: 'delete', key: 'gone' },
          ],
        );
        assert.equal(t.succeeded, true);
        assert.equal((await s.get('a'))?.modRevision, t.revision);
        assert.equal((await s.get('b'))?.modRevision, t.revision);
        assert.equal(await s.get('gone'), undefined);
      },
    },
    {
      name: 'a transaction whose shared put another writer overwrote meanwhile is reported applied',
      write: async (s) => {
        const t = await s.txn(
          [{ key: 'e', modRevision: 0 }],
          [
            { type: 'put', key: 'e', value: 'mine' },
            { type: 'put', key: 'gen', value: 'mine', shared: true },
          ],
        );
        assert.equal(t.succeeded, true);
        assert.equal((await s.get('e'))?.modRevision, t.revision);
        assert.equal((await s.get('gen'))?.value, 'theirs');
      },
      meanwhile: (other) => other.put('gen', 'theirs'),
    },
    {
      name: 'a conditional put returns its revision',
      write: async (s) => {
        const rev = await s.put('c', 'mine', { ifModRevision: 0 });
        assert.equal((await s.get('c'))?.modRevision, rev);
      },
    },
    {
      name: 'a conditional delete says it deleted',
      before: async (s) => (await s.get('gone'))?.modRevision ?? 0,
      write: async (s, rev) => {
        assert.equal(await s.delete('gone', { ifModRevision: Number(rev) }), true);
        assert.equal(await s.get('gone'), undefined);
      },
    },
    {
      name: 'a leased conditional put returns its revision',
      before: (s) => s.grantLease(30),
      write: async (s, lease) => {
        const rev = await s.put('l', 'mine', { ifModRevision: 0, lease: String(lease) });
        assert.equal((await s.get('l'))?.modRevision, rev);
      },
    },
    {
      name: 'a lease revoked is not reported missing',
      before: (s) => s.grantLease(30),
      write: async (s, lease) => {
        await s.revokeLease(String(lease));
        assert.equal(await s.leaseTimeToLive(String(lease)), undefined);
      },
    },
    {
      name: 'a compare that failed on another key is a conflict, though the value is there',
      before: async (s) => {
        await s.put('x', 'theirs');
        return s.put('y', 'mine');
      },
      write: async (s) => {
        const t = await s.txn(
          [{ key: 'x', modRevision: 0 }],
          [{ type: 'put', key: 'y', value: 'mine' }],
        );
        assert.equal(t.succeeded, false);
      },
    },
    {
      name: "another writer's value is still a conflict",
      before: (s) => s.put('d', 'theirs'),
      write: async (s) => {
        const t = await s.txn(
          [{ key: 'd', modRevision: 0 }],
          [{ type: 'put', key: 'd', value: 'mine' }],
        );
        assert.equal(t.succeeded, false);
        assert.equal((await s.get('d'))?.value, 'theirs');
      },
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const etcd = single as EtcdCluster;
      const target = etcd.endpoint(0).slice('unix://'.length);
      const proxy = await MutingProxy.start(join(etcd.dir, `muting-${++n}`), target);
      const prefix = `/lost-answer/${n}/`;
      const s = await EtcdStore.open({
        endpoints: [`unix://${proxy.path}`, etcd.endpoint(0)],
        prefix,
        requestTimeoutMs: 2000,
      });
      const other = await EtcdStore.open({ endpoints: [etcd.endpoint(0)], prefix });
      let written: Promise<unknown> | undefined;
      if (c.meanwhile) proxy.onDrop = () => (written = c.meanwhile!(other));
      try {
        await s.put('gone', 'x');
        const got = (await c.before?.(s)) ?? 0;
        proxy.mute = true;
        await c.write(s, got);
        assert.ok(proxy.dropped > 0, 'no answer was dropped: the case did not happen');
        await written;
      } finally {
        await s.close();
        await other.close();
        await proxy.close();
      }
    });
  }
});

describe('EtcdStore lease renewals', () => {
  it("renew without counting as failures: several at once do not open the client's circuit breaker", async () => {
    const s = await EtcdStore.open({
      endpoints: (single as EtcdCluster).endpoints(),
      prefix: '/renew/',
    });
    try {
      const lease = await s.grantLease(30);
      for (let i = 0; i < 3; i++) {
        const ttls = await Promise.all(Array.from({ length: 4 }, () => s.keepAlive(lease)));
        assert.ok(
          ttls.every((t) => t >= 29),
          ttls.join(' '),
        );
      }
      await new Promise((r) => setTimeout(r, 100));
      // Three failures in a row open it for 5 s: this call would fail at once.
      await s.put('after', 'x');
      assert.equal((await s.get('after'))?.value, 'x');
    } finally {
      await s.close();
    }
  });
});

describe('EtcdStore watches that come and go', () => {
  it("close without counting as failures: many in a row do not open the client's circuit breaker", async () => {
    const s = await EtcdStore.open({
      endpoints: (single as EtcdCluster).endpoints(),
      prefix: '/watches/',
    });
    try {
      // The convergence wait opens and drops a watch on many joins; a
      // successful call between them would reset the breaker's count.
      const stops = [];
      for (let i = 0; i < 6; i++) stops.push(await s.watch('w/', () => undefined));
      for (const stop of stops) stop();
      await new Promise((r) => setTimeout(r, 100));
      // Three failures in a row open it for 5 s: these calls would fail at once.
      for (let i = 0; i < 5; i++) await s.put('after', String(i));
      assert.equal((await s.get('after'))?.value, '4');
    } finally {
      await s.close();
    }
  });
});
