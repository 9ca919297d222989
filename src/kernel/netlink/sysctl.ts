/**
 * Sysctls through /proc/sys. Files under /proc/sys/net belong to the network
 * namespace of the thread that OPENS them, whatever namespace later writes
 * to them; so a sysctl of another namespace is opened (and written, and
 * closed) while the thread is switched in, in one synchronous call.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { inNetns } from '../sys/libc.js';

/**
 * The /proc/sys path of a key: `net.ipv4.ip_forward` (dots) or
 * `net/ipv4/conf/eth0.10/forwarding` (slashes, for names that contain dots).
 */
export function sysctlPath(key: string): string {
  const rel = key.includes('/') ? key : key.replace(/\./g, '/');
  const parts = rel.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new Error(`invalid sysctl key: ${JSON.stringify(key)}`);
  }
  return `/proc/sys/${rel}`;
}

function write(path: string, value: string): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

function read(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString('utf8', 0, n).trim();
  } finally {
    closeSync(fd);
  }
}

/** Writes a sysctl, here or inside the namespace bound at `netns`. */
export function writeSysctl(key: string, value: string | number, netns?: string): void {
  const path = sysctlPath(key);
  const v = String(value);
  if (netns === undefined) write(path, v);
  else inNetns(netns, () => write(path, v));
}

/** Reads a sysctl (trimmed), here or inside the namespace bound at `netns`. */
export function readSysctl(key: string, netns?: string): string {
  const path = sysctlPath(key);
  return netns === undefined ? read(path) : inNetns(netns, () => read(path));
}
