/**
 * `berth lab ...`: manage labs by hand (demo, debugging, cleaning up after a
 * killed test run). The berth CLI passes the arguments after `lab`.
 */
import { spawnSync } from 'node:child_process';
import { messageOf } from '../common/errors.js';
import { Lab } from './lab.js';
import { which } from './proc.js';

const USAGE = `Usage: berth lab COMMAND

Commands:
  up [--name NAME] [--hosts N] [--cluster [--etcd-members K]] [--no-daemon] [-- DAEMON-ARGS...]
                              create a lab and start berthd on every host; --cluster:
                              an underlay switch (192.168.205.0/24), an etcd member per
                              host (or on h1..hK), berthd with the cluster flags
  down NAME                   remove a lab and everything in it
  clean [--all]               remove labs whose owner process is gone (--all: every lab)
  exec NAME[/hN|/world] -- CMD...
                              run CMD in a host's (default h1) or the world's namespace
  ls                          list labs`;

function fail(msg: string): number {
  process.stderr.write(`berth lab: ${msg}\n`);
  return 1;
}

/** Splits argv at the first `--`. */
function splitDashes(argv: string[]): [string[], string[]] {
  const i = argv.indexOf('--');
  return i < 0 ? [argv, []] : [argv.slice(0, i), argv.slice(i + 1)];
}

async function up(argv: string[]): Promise<number> {
  const [own, daemonArgs] = splitDashes(argv);
  let name: string | undefined;
  let hosts = 1;
  let daemon = true;
  let cluster = false;
  let etcdMembers: number | undefined;
  let hostsGiven = false;
  for (let i = 0; i < own.length; i++) {
    const a = own[i];
    if (a === '--name') name = own[++i];
    else if (a?.startsWith('--name=')) name = a.slice('--name='.length);
    else if (a === '--hosts') [hosts, hostsGiven] = [Number(own[++i]), true];
    else if (a?.startsWith('--hosts=')) [hosts, hostsGiven] = [Number(a.slice(8)), true];
    else if (a === '--cluster') cluster = true;
    else if (a === '--etcd-members') etcdMembers = Number(own[++i]);
    else if (a?.startsWith('--etcd-members=')) etcdMembers = Number(a.slice(15));
    else if (a === '--no-daemon') daemon = false;
    else return fail(`unknown option ${a}\n${USAGE}`);
  }
  if (etcdMembers !== undefined && !cluster) return fail('--etcd-members needs --cluster');
  // A cluster has two hosts unless told otherwise.
  if (cluster && !hostsGiven) hosts = 2;
  const lab = await Lab.create({ name, hosts, detached: true, cluster, etcdMembers });
  const lines = [`lab ${lab.name}: ${lab.hosts.length} host(s), world ${lab.world.ip}`];
  if (lab.cluster) lines.push(`# etcd ${lab.etcdEndpoints().join(',')}`);
  try {
    for (const h of lab.hosts) {
      if (!daemon) {
        lines.push(`# ${h.name} ${h.ip}`);
        continue;
      }
      const args = lab.cluster ? [...lab.clusterArgs(h), ...daemonArgs] : daemonArgs;
      const d = await lab.startDaemon(h, { args });
      lines.push(`# ${h.name} ${h.ip} berthd pid ${d.pid}, log ${d.log}`);
      lines.push(`export DOCKER_HOST=${d.env.DOCKER_HOST}`);
    }
  } catch (e) {
    await lab.destroy().catch(() => undefined);
    throw e;
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

async function clean(argv: string[]): Promise<number> {
  const all = argv.includes('--all');
  const bad = argv.find((a) => a !== '--all');
  if (bad) return fail(`unknown option ${bad}`);
  const r = await Lab.clean({ all });
  for (const n of r.removed) process.stdout.write(`removed ${n}\n`);
  for (const n of r.kept) process.stdout.write(`kept ${n} (in use; --all removes it)\n`);
  for (const f of r.failed) process.stderr.write(`failed ${f.name}: ${f.leftovers.join(', ')}\n`);
  return r.failed.length > 0 ? 1 : 0;
}

function exec(argv: string[]): number {
  const [own, cmd] = splitDashes(argv);
  const [ref, ...extra] = own;
  if (!ref || extra.length > 0 || cmd.length === 0)
    return fail(`usage: berth lab exec NAME[/hN|/world] -- CMD...`);
  const [name = '', target = 'h1'] = ref.split('/');
  const lab = Lab.open(name);
  const r = spawnSync(which('nsenter') ?? 'nsenter', [`--net=${lab.netns(target)}`, '--', ...cmd], {
    stdio: 'inherit',
  });
  if (r.error) return fail(r.error.message);
  return r.status ?? 1;
}

function ls(): number {
  const rows = [['NAME', 'HOSTS', 'DAEMONS', 'OWNER', 'CREATED']];
  for (const l of Lab.list()) {
    const owner = l.ownerPid === null ? (l.hosts ? 'detached' : '?') : `pid ${l.ownerPid}`;
    rows.push([
      l.name,
      String(l.hosts),
      String(l.daemons),
      owner + (l.orphan ? ' (gone)' : ''),
      l.created,
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) {
    process.stdout.write(
      r
        .map((v, c) => v.padEnd(widths[c]! + 3))
        .join('')
        .trimEnd() + '\n',
    );
  }
  return 0;
}

/** Runs `berth lab ARGV...` and returns the exit code. */
export async function labCommand(argv: string[]): Promise<number> {
  const args = argv[0] === 'lab' ? argv.slice(1) : argv;
  const [cmd, ...rest] = args;
  try {
    switch (cmd) {
      case 'up':
        return await up(rest);
      case 'down': {
        const name = rest[0];
        if (rest.length !== 1 || !name) return fail('usage: berth lab down NAME');
        if (!Lab.exists(name)) return fail(`no lab named ${name}`);
        await Lab.remove(name);
        process.stdout.write(`removed ${name}\n`);
        return 0;
      }
      case 'clean':
        return await clean(rest);
      case 'exec':
        return exec(rest);
      case 'ls':
        return ls();
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 1 : 0;
      default:
        return fail(`unknown command ${cmd}\n${USAGE}`);
    }
  } catch (e) {
    return fail(messageOf(e));
  }
}
