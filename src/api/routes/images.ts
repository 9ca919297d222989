/** /images routes: list, inspect, history, tag, remove, import, load, and pull (of builtins only). */
import type { ServerResponse } from 'node:http';
import { invalid, messageOf } from '../../common/errors.js';
import { normalizeRef } from '../../containers/names.js';
import { empty, json, type Router } from '../server.js';
import { parseFilters, qBool } from '../../common/validate.js';
import type { Services } from './services.js';

export function imageRoutes(r: Router, s: Services): void {
  const { images } = s;

  r.on('GET', '/images/json', async ({ res, query }) => {
    json(
      res!,
      200,
      images.list({
        all: qBool(query.get('all')),
        filters: Object.fromEntries(parseFilters(query.get('filters'))),
      }),
    );
  });

  r.on('GET', '/images/*/json', async ({ res, params }) => {
    await images.ensureImage(params[0]!); // a builtin's first reference makes it present
    json(res!, 200, images.inspect(params[0]!));
  });

  r.on('GET', '/images/*/history', async ({ res, params }) => {
    json(res!, 200, images.history(params[0]!));
  });

  r.on('POST', '/images/*/tag', async ({ res, params, query }) => {
    const repo = query.get('repo');
    if (!repo) throw invalid('repository name must have at least one component');
    await images.tag(params[0]!, repo, query.get('tag') || 'latest');
    empty(res!, 201);
  });

  r.on('DELETE', '/images/*', async ({ res, params, query }) => {
    const ref = params[0]!;
    json(
      res!,
      200,
      await images.remove(ref, {
        force: qBool(query.get('force')),
        noPrune: qBool(query.get('noprune')),
      }),
    );
  });

  r.on('POST', '/images/create', async ({ req, res, query }) => {
    const fromSrc = query.get('fromSrc');
    const fromImage = query.get('fromImage');
    if (fromSrc === '-') {
      const repo = query.get('repo') ?? undefined;
      const tag = query.get('tag') ?? undefined;
      const changes = query.getAll('changes');
      res!.writeHead(200, { 'Content-Type': 'application/json' });
      try {
        const id = await images.importTar(req, {
          repo: repo || undefined,
          tag: tag || undefined,
          changes,
          message: query.get('message') ?? undefined,
        });
        res!.end(JSON.stringify({ status: id }) + '\n');
      } catch (e) {
        res!.end(
          JSON.stringify({ errorDetail: { message: messageOf(e) }, error: messageOf(e) }) + '\n',
        );
      }
      return;
    }
    if (fromSrc)
      throw invalid(
        'importing from a URL is not supported: Berth has no network access to fetch images; download the tarball and use `docker import FILE`',
      );
    if (!fromImage) throw invalid('fromImage or fromSrc is required');
    // Drain the (empty) body, then answer with a stream: a builtin's progress, or an error line.
    req.resume();
    const tag = query.get('tag');
    const name = fromImage.replace(/^(docker\.io\/)?(library\/)?/, '');
    const ref =
      tag && !/[:@]/.test(name.split('/').pop() ?? '') ? `${name}:${tag}` : normalizeRef(name);
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    if (await pullBuiltin(res!, ref)) return;
    const msg = `pull access denied for ${ref}: Berth has no registry. Import the image instead: \`docker import rootfs.tar ${ref}\`, \`docker load -i image.tar\` or \`berth image import\`; busybox, redis and python are built in`;
    res!.end(JSON.stringify({ errorDetail: { message: msg }, error: msg }) + '\n');
  });

  /** Answers a pull of a builtin with Docker's progress lines; false when `ref` names none. */
  async function pullBuiltin(res: ServerResponse, ref: string): Promise<boolean> {
    const line = (o: object) => res.write(JSON.stringify(o) + '\n');
    try {
      // Layer lines carry progressDetail, empty but for the bytes of Extracting.
      const r = await images.pullBuiltin(ref, (p) =>
        line(
          p.id === undefined || p.status.startsWith('Pulling from')
            ? p
            : { progressDetail: {}, ...p },
        ),
      );
      if (!r) return false;
      line({
        status:
          r === 'downloaded'
            ? `Status: Downloaded newer image for ${ref}`
            : `Status: Image is up to date for ${ref}`,
      });
    } catch (e) {
      line({ errorDetail: { message: messageOf(e) }, error: messageOf(e) });
    }
    res.end();
    return true;
  }

  r.on('POST', '/images/load', async ({ req, res, query }) => {
    const quiet = qBool(query.get('quiet'));
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    try {
      // Each layer's bytes unless quiet (the docker client asks for quiet when not on a terminal).
      const lines = await images.load(
        req,
        quiet ? undefined : (p) => res!.write(JSON.stringify(p) + '\n'),
      );
      for (const l of lines) res!.write(JSON.stringify({ stream: `${l}\n` }) + '\n');
      res!.end();
    } catch (e) {
      res!.end(
        JSON.stringify({ errorDetail: { message: messageOf(e) }, error: messageOf(e) }) + '\n',
      );
    }
  });
}
