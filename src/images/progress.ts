/**
 * Docker's per-layer progress for long image work (a builtin's layers, `load`):
 * the JSON lines dockerd's progressreader writes (`{"status": "Extracting",
 * "progressDetail": {"current": N, "total": M}, "progress": "[==>  ] …",
 * "id": "<12 hex>"}`), which the docker client draws as bars on a terminal
 * and leaves out when it is not one. The byte counts come from the stream
 * itself, updated every 512 KiB and at the end, as moby's progressreader.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { progressText } from '../common/units.js';

/** One line of Docker's progress stream. */
export interface ProgressLine {
  status: string;
  /** A short layer id, or the tag for the first line of a pull. */
  id?: string;
  progressDetail?: { current: number; total: number };
  progress?: string;
}

/** Bytes between two updates (moby's progressreader: 512 KiB). */
const UPDATE_EVERY = 512 * 1024;

/** A progress line with its numbers and text. */
export function progressLine(
  status: string,
  id: string,
  current: number,
  total: number,
): ProgressLine {
  return {
    status,
    id,
    progressDetail: { current, total },
    progress: progressText(current, total),
  };
}

/**
 * The file at `path`, read as a stream that reports `status` for `id` as
 * it goes (every 512 KiB and at the end). A no-op reporter reads it plainly.
 */
export async function reportedRead(
  path: string,
  status: string,
  id: string,
  report: ((p: ProgressLine) => void) | undefined,
): Promise<() => AsyncIterable<Buffer>> {
  if (!report) return () => createReadStream(path);
  const total = (await stat(path)).size;
  return async function* () {
    let current = 0;
    let last = 0;
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      current += chunk.length;
      if (current - last >= UPDATE_EVERY) {
        last = current;
        report(progressLine(status, id, current, total));
      }
      yield chunk;
    }
    if (current !== last || current === 0) report(progressLine(status, id, current, total));
  };
}
