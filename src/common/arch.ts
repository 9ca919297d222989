/** The machine's architecture in the names Docker's API and images use. Pure. */

/** Go's GOARCH for a Node `process.arch` (image platforms, seccomp `arches`, /version). */
export function goArch(nodeArch: string = process.arch): string {
  const m: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    ia32: '386',
    arm: 'arm',
    s390x: 's390x',
    ppc64: 'ppc64le',
  };
  return m[nodeArch] ?? nodeArch;
}

/** `uname -m`'s name (what /info's Architecture shows). */
export function unameMachine(nodeArch: string = process.arch): string {
  const m: Record<string, string> = {
    x64: 'x86_64',
    arm64: 'aarch64',
    ia32: 'i686',
    arm: 'armv7l',
    s390x: 's390x',
    ppc64: 'ppc64le',
  };
  return m[nodeArch] ?? nodeArch;
}
