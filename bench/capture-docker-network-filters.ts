/**
 * Captures how a real Docker 20.10 (Debian docker.io) filters networks:
 * `network ls --filter dangling=...` and `network prune --filter` with
 * until, label, label! and a filter prune does not take. One dockerd in lab
 * host 1. Writes a markdown transcript and the same as JSON; the findings are
 * in docs/reference/docker-20.10-networking.md ("Network filters").
 *
 *   node dist/bench/capture-docker-network-filters.js [--out DIR]
 *
 * Everything is removed in `finally`, and the machine's own namespace is
 * compared before and after.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_ROOT, Lab } from '../src/lab/lab.js';
import { run } from '../src/lab/proc.js';
import {
  captureOutDir,
  CLI_2010,
  DockerdSlot,
  finishCapture,
  Capture,
  stopOnSignals,
} from './lib/capture.js';
import { importBusybox } from './lib/image.js';
import { snapshotMachine } from './lib/machine.js';
import { startRefDockerd } from './lib/refdockerd.js';

async function main(argv: string[]): Promise<number> {
  const outDir = captureOutDir('capture-docker-network-filters', argv);
  stopOnSignals();
  const started = new Date().toISOString();
  const before = snapshotMachine(LAB_ROOT);
  const lab = await Lab.create({ hosts: 1 });
  let cap: Capture | undefined;
  let failed = false;
  const problems: string[] = [];
  const dockerd = new DockerdSlot(before, problems);
  try {
    const cli = join(lab.dir, 'docker-cli');
    mkdirSync(cli, { recursive: true });
    cap = new Capture(lab, undefined, cli);
    const host = lab.hosts[0]!;
    const ref = await startRefDockerd(lab, host, {
      dns: lab.world.ip,
      preexisting: before.paths,
      spawned: dockerd.spawned,
    });
    cap.use(ref);
    await importBusybox(ref, cli, host.dir);
    const c = cap;
    c.sec('Networks: keepme (label keep=yes), unused, used (a container on it)');
    c.docker(['network', 'create', '--label', 'keep=yes', 'keepme']);
    c.docker(['network', 'create', 'unused']);
    c.docker(['network', 'create', 'used']);
    c.docker(['network', 'create', 'stopped']);
    c.docker(['run', '-d', '--name', 'user', '--network', 'used', 'busybox', 'sleep', '600']);
    c.docker(['create', '--name', 'idle', '--network', 'stopped', 'busybox', 'true']);
    const fmt = ['--format', '{{.Name}}'];
    c.sec('network ls --filter dangling');
    for (const v of ['true', '1', 'false', '0', 'maybe']) {
      c.docker(['network', 'ls', '--filter', `dangling=${v}`, ...fmt]);
    }
    await c.api('GET', '/networks?filters=' + encodeURIComponent('{"dangling":["true","false"]}'));
    c.sec('network prune --filter');
    c.docker(['network', 'prune', '-f', '--filter', 'until=1h']);
    c.docker(['network', 'prune', '-f', '--filter', 'until=yesterday']);
    c.docker(['network', 'prune', '-f', '--filter', 'until=1h', '--filter', 'until=2h']);
    c.docker(['network', 'prune', '-f', '--filter', 'name=unused']);
    c.docker(['network', 'prune', '-f', '--filter', 'dangling=true']);
    c.docker(['network', 'prune', '-f', '--filter', 'label!=keep=yes']);
    c.docker(['network', 'ls', ...fmt]);
    c.docker(['network', 'prune', '-f']);
    c.docker(['network', 'ls', ...fmt]);
  } catch (e) {
    failed = true;
    console.error(`capture failed: ${(e as Error).stack ?? (e as Error).message}`);
  } finally {
    await dockerd.stop().catch((e: unknown) => problems.push(String(e)));
  }
  return finishCapture({
    lab,
    before,
    problems,
    failed,
    cap,
    outDir,
    info: {
      title: 'Docker 20.10 network filters: raw capture',
      script: 'bench/capture-docker-network-filters.ts',
      started,
      notes: [`20.10 CLI: ${CLI_2010} (${run([CLI_2010, '--version']).stdout.trim()})`],
    },
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
