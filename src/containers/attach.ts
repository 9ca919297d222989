/**
 * Attaching to a process under its shim (a container's or an exec's): the
 * service hands its clients (the API's hijacked streams, the builder's RUN
 * output) an opener, so no layer above src/containers touches the shim's
 * socket or state directory (decision 0001).
 */
import type { Socket } from 'node:net';
import { shimConnect } from '../kernel/runtime/runtime.js';

/** Which of the process's streams a connection carries. */
export interface AttachStreams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/**
 * Opens a connection to the process's attach socket: its output as
 * multiplexed frames (stream, 0,0,0, uint32 BE length), the connection's
 * bytes to its stdin, the end of the connection's input to its stdin's.
 */
export type OpenAttach = (streams: AttachStreams) => Promise<Socket>;

/** How long an opener retries a shim that has bound its socket but not yet listens. */
const ATTACH_RETRY_MS = 2000;

/** The opener of the shim whose state directory is `stateDir`. */
export function attachOpener(stateDir: string): OpenAttach {
  return (s) =>
    shimConnect(
      stateDir,
      `attach ${s.stdin ? 1 : 0} ${s.stdout ? 1 : 0} ${s.stderr ? 1 : 0}`,
      ATTACH_RETRY_MS,
    );
}
