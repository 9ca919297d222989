/**
 * What the builtin Debian images are made of: the packages of the shared base
 * layer and of each image's own layer, the files Berth writes itself (users,
 * name service config, an entrypoint), the tags, and the runtime config, as
 * close to Docker Hub's official images as a Debian host allows. Pure.
 */
import type { ContainerConfig } from '../types.js';
import {
  dirEntry as dir,
  fileEntry as file,
  symlinkEntry as symlink,
  type LayerEntry,
} from './layer.js';
import type { PackageDb } from './packages.js';

/**
 * Bumped whenever this file, layer.ts or the way layers are assembled changes
 * what a layer contains: it is part of every cache key.
 */
export const RECIPE_VERSION = 1;

/** The userland both images share: Debian's essential tools, dash as /bin/sh, bash. */
export const BASE_PACKAGES = [
  'base-files',
  'bash',
  'coreutils',
  'dash',
  'debianutils',
  'diffutils',
  'findutils',
  'grep',
  'gzip',
  'hostname',
  'libc-bin',
  'mawk',
  'ncurses-base',
  'sed',
  'tar',
];

/**
 * Packages whose Depends exist for maintainer scripts (package installation,
 * users, init scripts) and that nothing in a container runs: they are neither
 * included nor followed. Without them a base layer is ~25 MB smaller.
 */
export const NOT_AT_RUNTIME = [
  'adduser',
  'debconf',
  'dpkg',
  'init-system-helpers',
  'lsb-base',
  'passwd',
  'perl-base',
  'sysvinit-utils',
  'usr-is-merged',
];

/** Layer paths left out of every layer: documentation and translations. */
export const EXCLUDED_PATHS = [
  'usr/share/doc',
  'usr/share/info',
  'usr/share/locale',
  'usr/share/man',
];

export const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** One builtin image built from Debian packages. */
export interface DebianRecipe {
  /** The familiar name (`redis`); the repository is `docker.io/library/<name>`. */
  name: string;
  /** Packages of the image's own layer (their dependencies outside the base are added). */
  packages: string[];
  /** The package whose upstream version gives the version tags. */
  versionFrom: string;
  /** Tags the image answers to besides the version tags. */
  fixedTags: string[];
  /** The runtime config, given the upstream version. */
  config(version: string): ContainerConfig;
  /** Files and links the recipe adds to the image's layer. */
  files(): LayerEntry[];
}

/** `5:7.0.15-1~deb12u10` → `7.0.15` (epoch and Debian revision dropped). */
export function upstreamVersion(debVersion: string): string {
  return debVersion.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
}

/** The tags of a recipe: its fixed tags, then `X`, `X.Y`, `X.Y.Z` of the installed version. */
export function tagsOf(recipe: DebianRecipe, db: PackageDb): string[] {
  const p = db.byName.get(recipe.versionFrom);
  const tags = [...recipe.fixedTags];
  if (!p) return tags;
  const parts = upstreamVersion(p.version).split('.');
  for (let i = 1; i <= Math.min(parts.length, 3); i++) {
    const t = parts.slice(0, i).join('.');
    if (/^[\w][\w.-]{0,127}$/.test(t) && !tags.includes(t)) tags.push(t);
  }
  return tags;
}

/** Debian's base-passwd users, as /etc/passwd of debian:bookworm. */
const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'bin:x:2:2:bin:/bin:/usr/sbin/nologin',
  'sys:x:3:3:sys:/dev:/usr/sbin/nologin',
  'sync:x:4:65534:sync:/bin:/bin/sync',
  'games:x:5:60:games:/usr/games:/usr/sbin/nologin',
  'man:x:6:12:man:/var/cache/man:/usr/sbin/nologin',
  'lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin',
  'mail:x:8:8:mail:/var/mail:/usr/sbin/nologin',
  'news:x:9:9:news:/var/spool/news:/usr/sbin/nologin',
  'uucp:x:10:10:uucp:/var/spool/uucp:/usr/sbin/nologin',
  'proxy:x:13:13:proxy:/bin:/usr/sbin/nologin',
  'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
  'backup:x:34:34:backup:/var/backups:/usr/sbin/nologin',
  'list:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin',
  'irc:x:39:39:ircd:/run/ircd:/usr/sbin/nologin',
  '_apt:x:42:65534::/nonexistent:/usr/sbin/nologin',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
];

/** Debian's base-passwd groups. */
const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'bin:x:2:',
  'sys:x:3:',
  'adm:x:4:',
  'tty:x:5:',
  'disk:x:6:',
  'lp:x:7:',
  'mail:x:8:',
  'news:x:9:',
  'uucp:x:10:',
  'man:x:12:',
  'proxy:x:13:',
  'kmem:x:15:',
  'dialout:x:20:',
  'fax:x:21:',
  'voice:x:22:',
  'cdrom:x:24:',
  'floppy:x:25:',
  'tape:x:26:',
  'sudo:x:27:',
  'audio:x:29:',
  'dip:x:30:',
  'www-data:x:33:',
  'backup:x:34:',
  'operator:x:37:',
  'list:x:38:',
  'irc:x:39:',
  'src:x:40:',
  'shadow:x:42:',
  'utmp:x:43:',
  'video:x:44:',
  'sasl:x:45:',
  'plugdev:x:46:',
  'staff:x:50:',
  'games:x:60:',
  'users:x:100:',
  'nogroup:x:65534:',
];

const lines = (l: string[]): string => l.join('\n') + '\n';

/** As Debian's /usr/share/libc-bin/nsswitch.conf: /etc/hosts before DNS. */
const NSSWITCH = lines([
  'passwd:         files',
  'group:          files',
  'shadow:         files',
  'gshadow:        files',
  '',
  'hosts:          files dns',
  'networks:       files',
  '',
  'protocols:      db files',
  'services:       db files',
  'ethers:         db files',
  'rpc:            db files',
  '',
  'netgroup:       nis',
]);

/** The base layer's own files: the top-level layout, users, name service config. */
export function baseFiles(): LayerEntry[] {
  return [
    ...['dev', 'etc', 'home', 'media', 'mnt', 'opt', 'run', 'srv'].map((d) => dir(d)),
    dir('proc', 0o555),
    dir('sys', 0o555),
    dir('root', 0o700),
    dir('tmp', 0o1777),
    dir('run/lock', 0o1777),
    ...['bin', 'etc', 'games', 'include', 'lib', 'sbin', 'share', 'src'].map((d) =>
      dir(`usr/local/${d}`),
    ),
    ...['backups', 'cache', 'lib', 'local', 'log', 'mail', 'opt', 'spool'].map((d) =>
      dir(`var/${d}`),
    ),
    dir('var/tmp', 0o1777),
    file('etc/passwd', lines(PASSWD)),
    file('etc/group', lines(GROUP)),
    file('etc/nsswitch.conf', NSSWITCH),
  ];
}

/**
 * The official image's docker-entrypoint.sh without its switch to the redis
 * user. Debian's redis-server keeps protected mode on (it refuses clients
 * from other addresses when no password is set); the official image builds
 * redis with it off, so without a config file it is turned off here, before
 * the user's own options (a later `--protected-mode yes` still wins).
 */
const REDIS_ENTRYPOINT = `#!/bin/sh
set -e

# first arg is \`-f\` or \`--some-option\`
# or first arg is \`something.conf\`
if [ "\${1#-}" != "$1" ] || [ "\${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

# without a config file, protected mode off as in the official image
if [ "$1" = 'redis-server' ] && { [ $# -eq 1 ] || [ "\${2#-}" != "$2" ]; }; then
	shift
	set -- redis-server --protected-mode no "$@"
fi

exec "$@"
`;

export const REDIS: DebianRecipe = {
  name: 'redis',
  packages: ['redis-server'],
  versionFrom: 'redis-server',
  fixedTags: ['latest'],
  config: (version) => ({
    Env: [PATH_ENV, `REDIS_VERSION=${version}`],
    Entrypoint: ['docker-entrypoint.sh'],
    Cmd: ['redis-server'],
    ExposedPorts: { '6379/tcp': {} },
    Volumes: { '/data': {} },
    WorkingDir: '/data',
  }),
  files: () => [
    dir('data'),
    file('usr/local/bin/docker-entrypoint.sh', REDIS_ENTRYPOINT, 0o755),
    file('etc/passwd', lines([...PASSWD, 'redis:x:999:999::/home/redis:/usr/sbin/nologin'])),
    file('etc/group', lines([...GROUP, 'redis:x:999:'])),
  ],
};

export const PYTHON: DebianRecipe = {
  name: 'python',
  packages: ['python3', 'python3-flask', 'python3-redis'],
  versionFrom: 'python3',
  fixedTags: ['latest'],
  config: (version) => ({
    Env: [PATH_ENV, 'LANG=C.UTF-8', `PYTHON_VERSION=${version}`],
    Cmd: ['python3'],
  }),
  files: () => [symlink('usr/local/bin/python', '/usr/bin/python3')],
};

/** The builtin Debian images, by familiar name. */
export const RECIPES: ReadonlyMap<string, DebianRecipe> = new Map(
  [REDIS, PYTHON].map((r) => [r.name, r]),
);
