/**
 * A real etcd cluster for tests (Debian's etcd-server 3.4), listening on unix
 * sockets only: each member runs in a network namespace of its own with no
 * interfaces up (`unshare --net`), clients and peers talk through socket files
 * in one temp dir (etcd names a unix listener `unix://HOST:PORT` after the file
 * HOST:PORT in its working directory). Members are stopped by PID; destroy()
 * kills what is left and removes the dir, also from a process exit hook.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { messageOf } from '../../src/common/errors.js';
import { EtcdStore } from '../../src/store/etcd/etcd.js';

/** Server TLS for the client listeners (PEM files). */
export interface EtcdServerTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Require client certificates signed by caFile. */
  clientCertAuth: boolean;
}

interface Member {
  name: string;
  proc: ChildProcess | undefined;
}

/** Removes a temp tree, never crossing into another file system. */
function rmTree(dir: string): void {
  spawnSync('rm', ['-rf', '--one-file-system', dir]);
}

const live = new Set<EtcdCluster>();
process.on('exit', () => {
  for (const c of live) c.destroySync();
});

export class EtcdCluster {
  readonly dir: string;
  private readonly members: Member[];

  private constructor(
    n: number,
    private readonly tls: EtcdServerTls | undefined,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'berth-etcd-'));
    this.members = Array.from({ length: n }, (_, i) => ({ name: `m${i}`, proc: undefined }));
    live.add(this);
  }

  /** Starts `n` members and waits until the cluster serves requests. */
  static async start(n = 1, tls?: EtcdServerTls): Promise<EtcdCluster> {
    const c = new EtcdCluster(n, tls);
    try {
      for (let i = 0; i < n; i++) c.spawn(i, 'new');
      for (let i = 0; i < n; i++) await c.waitReady(i);
      return c;
    } catch (e) {
      c.destroySync();
      throw e;
    }
  }

  /** The client URL of member `i`, for the store's endpoints. */
  endpoint(i: number): string {
    return `unix://${join(this.dir, `${this.name(i)}:2379`)}`;
  }

  endpoints(): string[] {
    return this.members.map((_, i) => this.endpoint(i));
  }

  /** The PID of member `i` while it runs. */
  pid(i: number): number | undefined {
    return this.members[i]?.proc?.pid;
  }

  /** Stops member `i` (SIGKILL by default: a crash) and waits for it to exit. */
  async stop(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const m = this.member(i);
    const p = m.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid as number, signal);
    await exited;
    m.proc = undefined;
  }

  /** Starts member `i` again on its data dir and waits until it answers. */
  async restart(i: number): Promise<void> {
    if (this.member(i).proc) throw new Error(`member ${i} is running`);
    // A killed etcd leaves its socket files behind; binding them again fails.
    for (const port of [2379, 2380])
      rmSync(join(this.dir, `${this.name(i)}:${port}`), { force: true });
    this.spawn(i, 'existing');
    await this.waitReady(i);
  }

  /** Kills every member and removes the directory. */
  async destroy(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.stop(i);
    this.destroySync();
  }

  /** The synchronous part of destroy, for exit hooks. */
  destroySync(): void {
    for (const m of this.members) {
      const pid = m.proc?.pid;
      if (pid !== undefined && m.proc?.exitCode === null && m.proc.signalCode === null) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      m.proc = undefined;
    }
    rmTree(this.dir);
    live.delete(this);
  }

  /** The log of member `i`, for failure messages. */
  log(i: number): string {
    const f = join(this.dir, `${this.name(i)}.log`);
    return existsSync(f) ? spawnSync('tail', ['-n', '30', f], { encoding: 'utf8' }).stdout : '';
  }

  private name(i: number): string {
    return this.member(i).name;
  }

  private member(i: number): Member {
    const m = this.members[i];
    if (!m) throw new Error(`no member ${i}`);
    return m;
  }

  private spawn(i: number, state: 'new' | 'existing'): void {
    const name = this.name(i);
    const scheme = this.tls ? 'unixs' : 'unix';
    const cluster = this.members.map((m) => `${m.name}=unix://${m.name}:2380`).join(',');
    const args = [
      '--net',
      'etcd',
      '--name',
      name,
      '--data-dir',
      `${name}.data`,
      '--listen-client-urls',
      `${scheme}://${name}:2379`,
      '--advertise-client-urls',
      `${scheme}://${name}:2379`,
      '--listen-peer-urls',
      `unix://${name}:2380`,
      '--initial-advertise-peer-urls',
      `unix://${name}:2380`,
      '--initial-cluster',
      cluster,
      '--initial-cluster-state',
      state,
      '--initial-cluster-token',
      'berth-test',
      '--logger',
      'zap',
    ];
    if (this.tls) {
      args.push(
        '--cert-file',
        this.tls.certFile,
        '--key-file',
        this.tls.keyFile,
        '--trusted-ca-file',
        this.tls.caFile,
      );
      if (this.tls.clientCertAuth) args.push('--client-cert-auth');
    }
    const log = openSync(join(this.dir, `${name}.log`), 'a');
    try {
      const proc = spawn('unshare', args, { cwd: this.dir, stdio: ['ignore', log, log] });
      proc.on('error', () => undefined);
      this.member(i).proc = proc;
    } finally {
      closeSync(log);
    }
  }

  /**
   * Waits until member `i` serves a linearizable read (so its cluster has a
   * quorum), asked through the store's own client: over TLS that is also the
   * check that the member's certificate verifies for the name the store uses.
   * (etcdctl, asked before, verifies a unix endpoint's certificate against the
   * socket's path, which no certificate of a temp dir can name.) With client
   * certificate auth the member's own certificate, made for serverAuth and
   * clientAuth, is the client's.
   */
  private async waitReady(i: number): Promise<void> {
    const deadline = Date.now() + 20_000;
    const tls = this.tls && {
      caFile: this.tls.caFile,
      certFile: this.tls.certFile,
      keyFile: this.tls.keyFile,
    };
    for (;;) {
      const p = this.member(i).proc;
      if (!p || p.exitCode !== null) throw new Error(`etcd ${i} exited:\n${this.log(i)}`);
      let failure: unknown;
      try {
        const s = await EtcdStore.open({
          endpoints: [this.endpoint(i)],
          prefix: '/health/',
          requestTimeoutMs: 1000,
          ...(tls && { tls }),
        });
        await s.close();
        return;
      } catch (e) {
        failure = e;
      }
      if (Date.now() > deadline) {
        throw new Error(`etcd ${i} not healthy (${messageOf(failure)}):\n${this.log(i)}`);
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

/** A throwaway CA, a server certificate for "localhost" and a client certificate. */
export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second CA that signed nothing of the above. */
  otherCa: string;
  cleanup(): void;
}

/** Makes a PKI with openssl in a temp dir. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'berth-pki-'));
  const f = (n: string): string => join(dir, n);
  const ssl = (...args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ca = (name: string): void =>
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.pem`),
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    );
  ca('ca');
  ca('other-ca');
  const leaf = (name: string, ext: string): void => {
    ssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
      '-subj',
      `/CN=${name}`,
    );
    writeFileSync(f(`${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.pem`),
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
    );
  };
  leaf(
    'server',
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    otherCa: f('other-ca.pem'),
    cleanup: () => rmTree(dir),
  };
}
