/**
 * A tar answer whose end waits. A running container is frozen while the
 * daemon reads its files (containers/fsaccess.ts); `docker cp` and `docker
 * export` send the archive's last chunk (its end) only after the thaw, so a
 * client that has the whole archive (the docker CLI stops reading at its
 * end) finds the container running again.
 */
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Sends every chunk of `chunks` but the last, which it returns for the
 * caller's `res.end(last)`; the answer is left open. A tar that fails
 * part-way destroys the answer, as a piped one would: a cut archive must
 * not end as a whole one.
 */
export async function sendAllButLast(
  chunks: AsyncIterable<Buffer>,
  res: ServerResponse,
): Promise<Buffer | undefined> {
  let last: Buffer | undefined;
  async function* allButLast(): AsyncGenerator<Buffer> {
    for await (const c of chunks) {
      if (last) yield last;
      last = c;
    }
  }
  try {
    await pipeline(Readable.from(allButLast()), res, { end: false });
  } catch (e) {
    res.destroy(e as Error);
    throw e;
  }
  return last;
}
