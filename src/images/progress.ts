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

/** go-units' HumanSize: decimal units, four significant digits ("1.455MB", "512B"). */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** The `progress` text dockerd sends beside the numbers: the 50-wide bar and the sizes. */
export function progressText(current: number, total: number): string {
  if (total <= 0) return current > 0 ? humanSize(current).padStart(8) : '';
  const filled = Math.min(50, Math.floor((current / total) * 100) / 2) | 0;
  const bar = `[${'='.repeat(filled)}>${' '.repeat(50 - filled)}] `;
  return `${bar}${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

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
