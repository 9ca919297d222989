/**
 * POST /build: the classic builder. The query is checked and the context
 * unpacked and parsed before the answer starts, so those errors are plain
 * HTTP errors (the docker CLI prints `Error response from daemon: ...`);
 * then the answer is a stream of `{"stream": ...}` lines, `{"aux": {"ID": ...}}`
 * after each stage, and an `{"errorDetail", "error"}` line if a step fails.
 */
import type { ServerResponse } from 'node:http';
import { invalid, messageOf } from '../../common/errors.js';
import type { BuildRequest } from '../../build/builder.js';
import { StepError } from '../../build/steps.js';
import {
  parseNormalizedNamed,
  withDefaultTag,
  tagKeyOf,
  type NamedRef,
} from '../../images/reference.js';
import type { Router } from '../server.js';
import { qBool } from '../../common/validate.js';
import type { Services } from './services.js';

function jsonParam<T>(query: URLSearchParams, name: string, what: string): T | undefined {
  const v = query.get(name);
  if (!v) return undefined;
  try {
    return JSON.parse(v) as T;
  } catch (e) {
    throw invalid(`error reading ${what}: ${messageOf(e)}`);
  }
}

/** The `t` values as references (Docker's sanitizeRepoAndTags): latest by default, deduplicated. */
function tagsOf(values: string[]): NamedRef[] {
  const out = new Map<string, NamedRef>();
  for (const t of values) {
    if (t === '') continue;
    const ref = parseNormalizedNamed(t);
    if (ref.digest !== undefined) throw invalid('build tag cannot contain a digest');
    const tagged = withDefaultTag(ref);
    out.set(tagKeyOf(tagged), tagged);
  }
  return [...out.values()];
}

/** The build options of a `POST /build` query, as moby's newImageBuildOptions reads them. */
export function parseBuildQuery(query: URLSearchParams): BuildRequest {
  const version = query.get('version');
  if (version && version !== '1') {
    if (version === '2')
      throw invalid('BuildKit is not supported by Berth: use the classic builder');
    throw invalid(`invalid version "${version}"`);
  }
  if (query.get('remote')) {
    throw invalid(
      'remote build contexts are not supported: Berth has no network access; send the context',
    );
  }
  if (qBool(query.get('squash'))) throw invalid('squash is only supported with experimental mode');
  const forceRm = qBool(query.get('forcerm'));
  const rm =
    forceRm || query.get('rm') === null || query.get('rm') === '' || qBool(query.get('rm'));
  const buildArgs = jsonParam<Record<string, unknown>>(query, 'buildargs', 'build args') ?? {};
  for (const [k, v] of Object.entries(buildArgs)) {
    if (v !== null && typeof v !== 'string')
      throw invalid(`error reading build args: ${k} is not a string`);
  }
  const labels = jsonParam<Record<string, unknown>>(query, 'labels', 'labels') ?? {};
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string') throw invalid(`error reading labels: ${k} is not a string`);
  }
  const mode = query.get('networkmode') ?? '';
  return {
    dockerfile: query.get('dockerfile') || 'Dockerfile',
    tags: tagsOf(query.getAll('t')),
    buildArgs: buildArgs as Record<string, string | null>,
    labels: labels as Record<string, string>,
    target: query.get('target') ?? '',
    noCache: qBool(query.get('nocache')),
    rm,
    forceRm,
    networkMode: mode === '' ? 'default' : mode,
    extraHosts: query.getAll('extrahosts'),
  };
}

function line(res: ServerResponse, value: unknown): void {
  if (!res.destroyed) res.write(`${JSON.stringify(value)}\n`);
}

export function buildRoutes(r: Router, s: Services): void {
  r.on('POST', '/build', async ({ req, res, query }) => {
    let request: BuildRequest;
    let prepared;
    try {
      request = parseBuildQuery(query);
      prepared = await s.builder.prepare(req, request);
    } catch (e) {
      req.resume();
      throw e;
    }
    const quiet = qBool(query.get('q'));
    const held: unknown[] = [];
    const emit = (v: unknown): void => {
      if (quiet) held.push(v);
      else line(res!, v);
    };
    const ac = new AbortController();
    res!.on('close', () => {
      if (!res!.writableFinished) ac.abort();
    });
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    res!.flushHeaders();
    try {
      const id = await s.builder.run(
        prepared,
        request,
        {
          stdout: (text) => emit({ stream: text }),
          stderr: (text) => emit({ stream: `\u001b[91m${text}\u001b[0m` }),
          aux: (value) => emit({ aux: value }),
          progress: (p) => emit(p),
        },
        ac.signal,
      );
      if (quiet) line(res!, { stream: `${id}\n` });
    } catch (e) {
      for (const v of held) line(res!, v);
      const message = messageOf(e);
      const code = e instanceof StepError ? { code: e.exitCode } : {};
      line(res!, { errorDetail: { ...code, message }, error: message });
    }
    res!.end();
  });
}
