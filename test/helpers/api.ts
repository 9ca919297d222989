/** One Engine API call on a daemon's unix socket, for tests that compare answers. */
import { request } from 'node:http';

export interface ApiAnswer {
  status: number;
  /** The parsed body; `{}` when it was empty or not JSON. */
  json: Record<string, unknown>;
  text: string;
}

/** `method path` (under /v1.41) with `body` as JSON on the socket of `dockerHost` (unix://…). */
export function apiCall(
  dockerHost: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: dockerHost.replace('unix://', ''),
        method,
        path: `/v1.41${path}`,
        headers: data === undefined ? {} : { 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // empty or not JSON: `text` has it
          }
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}
