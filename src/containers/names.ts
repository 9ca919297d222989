/** Names: Docker-style generated container names, and image references as messages show them. */

/** Docker's reference normalisation, for messages: busybox → busybox:latest. */
export function normalizeRef(ref: string): string {
  if (ref.startsWith('sha256:') || /^[0-9a-f]{64}$/.test(ref)) return ref;
  const last = ref.split('/').pop() ?? ref;
  return last.includes(':') || ref.includes('@') ? ref : `${ref}:latest`;
}

const ADJ = [
  'admiring',
  'brave',
  'clever',
  'dreamy',
  'eager',
  'focused',
  'gallant',
  'happy',
  'jolly',
  'keen',
  'lucid',
  'nifty',
  'quirky',
  'serene',
  'vibrant',
  'zealous',
];
const NOUN = [
  'babbage',
  'curie',
  'darwin',
  'euler',
  'feynman',
  'galileo',
  'hopper',
  'kepler',
  'lovelace',
  'noether',
  'pasteur',
  'ritchie',
  'shannon',
  'tesla',
  'turing',
  'wozniak',
];

/** Docker-style "adjective_surname" names, derived from the ID. */
export function generatedName(id: string): string {
  const a = ADJ[parseInt(id.slice(0, 2), 16) % ADJ.length];
  const n = NOUN[parseInt(id.slice(2, 4), 16) % NOUN.length];
  return `${a}_${n}_${id.slice(4, 8)}`;
}
