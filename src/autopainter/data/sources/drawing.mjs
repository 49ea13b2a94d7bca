// Helpers shared by the character drawing scripts (characters.mjs here, and benchmarks/reference_pairs.mjs).

/** One JSON object per line on stdout: how the scripts answer Python. */
export function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** mulberry32: a small seeded generator, so choices never come from Math.random. */
export function rng(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string: a character's seed from its name. */
export function hash(text) {
  let h = 2166136261;
  for (const c of text) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

/** Every color (string leaf) of a nested palette object set to ``color``, in place. */
export function paint(node, color) {
  for (const k of Object.keys(node)) {
    if (typeof node[k] === "string") node[k] = color;
    else paint(node[k], color);
  }
}

/** A palette object put back to ``from`` (a deep copy taken before painting), in place. */
export function restore(node, from) {
  for (const k of Object.keys(from)) {
    if (typeof from[k] === "string") node[k] = from[k];
    else restore(node[k], from[k]);
  }
}
