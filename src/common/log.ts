/** The daemon's log: one line per event on stderr, with a level filter. */
const LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'] as const;
export type Level = (typeof LEVELS)[number];

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function isLevel(s: string): s is Level {
  return (LEVELS as readonly string[]).includes(s);
}

export function createLogger(
  level: Level = 'info',
  out: NodeJS.WritableStream = process.stderr,
): Logger {
  const min = LEVELS.indexOf(level);
  const line = (l: Level) => (msg: string) => {
    if (LEVELS.indexOf(l) >= min)
      out.write(`time="${new Date().toISOString()}" level=${l} msg=${JSON.stringify(msg)}\n`);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
