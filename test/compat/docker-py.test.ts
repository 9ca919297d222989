/**
 * docker-py (the Python SDK, and what is built on it: docker-compose 1.29,
 * Ansible's docker modules) drives a lab berthd unchanged. The cases are
 * Python (test/compat/docker-py, plain unittest) and run under Debian's
 * /usr/bin/python3 with Debian's python3-docker 5.0.3 (scripts/setup.sh; PyPI
 * is not reachable here). Each case is reported here by name, with its
 * traceback when it fails. The same cases pass against a real Docker 20.10:
 * bench/capture-docker-dockerpy.ts, docs/reference/docker-20.10-dockerpy.md.
 *
 * DOCKERPY_K=pattern (repeatable with commas) runs only matching cases;
 * BERTH_LAB_NAME names the lab.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { dockerPyMissing, runDockerPy, type PyRun } from '../helpers/docker-py.js';

const missing = dockerPyMissing();

describe('docker-py against berthd', { skip: missing }, () => {
  let lab: Lab | undefined;
  let daemon: LabDaemon;
  let run: PyRun;

  before(async () => {
    lab = await Lab.create({ hosts: 1, name: process.env.BERTH_LAB_NAME });
    daemon = await lab.startDaemon(lab.hosts[0]!);
    const patterns = process.env.DOCKERPY_K?.split(',').filter(Boolean);
    run = await runDockerPy(daemon.env.DOCKER_HOST, 'berth', { patterns });
  });
  after(async () => {
    await lab?.destroy();
  });

  it('runs every docker-py case', async (t) => {
    assert.ok(
      run.cases.length > 0,
      `the Python runner reported no case (exit ${run.status}):\n${run.output}`,
    );
    for (const c of run.cases) {
      await t.test(c.id.replace(/^test_dockerpy\./, ''), () => {
        if (c.outcome === 'FAIL' || c.outcome === 'ERROR') {
          assert.fail(`${c.outcome}\n${c.detail}`);
        }
      });
    }
    assert.equal(run.status, 0, `docker-py suite failed:\n${run.output}`);
  });
});
