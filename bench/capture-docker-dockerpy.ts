/**
 * Runs the project's docker-py suite (test/compat/docker-py, Debian's
 * python3-docker 5.0.3) against a real Docker 20.10 (Debian docker.io) in a
 * lab host, to prove the suite asserts what dockerd does: every case must pass
 * here. Writes a markdown transcript (kept as
 * docs/reference/docker-20.10-dockerpy.md) with each case's outcome and
 * unittest's output; exits 1 when a case fails or cleanup left something.
 *
 *   [BERTH_LAB_NAME=NAME] node dist/bench/capture-docker-dockerpy.js [--out DIR] [-k PATTERN ...]
 *
 * The same suite runs against Berth in test/compat/docker-py.test.ts.
 */
import { runDockerPy } from '../test/helpers/docker-py.js';
import { runCapture } from './lib/capture-run.js';

runCapture({
  name: 'capture-docker-dockerpy',
  title: 'Docker 20.10 and docker-py 5.0.3: the project suite against a reference dockerd',
  hosts: 1,
  notes: ['docker-py: Debian python3-docker 5.0.3 under /usr/bin/python3'],
  options: ['-k'],
  steps: async ({ cap, dockerd, opts }) => {
    const ref = await dockerd(0);
    cap.sec('The engine');
    cap.docker(['version', '--format', 'server {{.Server.Version}} API {{.Server.APIVersion}}']);
    cap.sec('docker-py suite');
    const r = await runDockerPy(ref.env.DOCKER_HOST, 'docker', {
      patterns: opts['-k']!,
      echo: true,
    });
    const counts = new Map<string, number>();
    for (const c of r.cases) counts.set(c.outcome, (counts.get(c.outcome) ?? 0) + 1);
    cap.note(
      `cases (${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}; runner exit ${r.status})`,
      r.cases.map((c) => `${c.outcome.padEnd(5)} ${c.id} (${c.seconds}s)`).join('\n'),
    );
    cap.note(`DOCKER_HOST=<dockerd> ${r.argv.slice(0, 2).join(' ')}`, r.output);
    cap.sec('Left behind by the suite');
    cap.docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
    cap.docker(['network', 'ls', '--format', '{{.Name}}']);
    cap.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    if (r.status !== 0 || r.cases.length === 0) {
      throw new Error(`docker-py suite failed against dockerd (exit ${r.status})`);
    }
  },
});
