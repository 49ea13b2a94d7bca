// Same-character drawings for benchmarks/reference_pairs.py: each character drawn twice, the second time
// with another expression and/or accessories but the same colors, hair and clothes.
//
//   node reference_pairs.mjs STYLE COUNT SEED      (run in a folder whose node_modules hold the pinned packages,
//                                                   as src/autopainter/data/sources/characters.mjs)
//
// Writes one JSON object per line to stdout:
//   {"name", "ref": {"color", "line"}, "new": {"color", "line"}, "changed": {option: [ref, new]},
//    "colors": {"ref": {...}, "new": {...}}}   or {"name", "error"}
// STYLE: adventurer | micah | bigheads. Character i is seeded with its name STYLE-sSEED-i; what changes in
// its second drawing comes from a generator seeded with the name too, so the same arguments give the same set.
// Colors are pinned: DiceBear reports the choices its seed made (toJson().extra); every *Color option and
// every part is fixed to them, and only the face parts and accessories of the second drawing are changed.
// BigHeads takes every choice as a prop already. "colors" holds the color choices of both drawings
// (they must be equal). Line art: every fill white and the ink black, as characters.mjs draws it (but for
// micah's black mouth, kept as ink here).
import { createRequire } from "node:module";

import { hash, out, paint, restore, rng } from "../src/autopainter/data/sources/drawing.mjs";

const require = createRequire(`${process.cwd()}/`);
const [style, countArg, seedArg] = process.argv.slice(2);
const count = Number.parseInt(countArg, 10);
const seed = Number.parseInt(seedArg, 10);

const choice = (r, list) => list[Math.floor(r() * list.length)];
const other = (r, list, current) => {
  const rest = list.filter((v) => v !== current);
  return choice(r, rest.length ? rest : list);
};

function diff(a, b) {
  const changed = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) changed[k] = [a[k] ?? null, b[k] ?? null];
  }
  return changed;
}

// Face parts that make an expression, and accessories that may be toggled, per DiceBear style
const FACE = ["eyes", "mouth", "eyebrows"];
const TOGGLE = ["glasses", "earrings"];

async function dicebear(styleName) {
  const { createAvatar } = await import(require.resolve("@dicebear/core"));
  const collection = await import(require.resolve("@dicebear/collection"));
  const st = collection[styleName];
  const props = st.schema.properties;
  const colorKeys = Object.keys(props).filter((k) => k.endsWith("Color"));
  // micah draws its eyes, brows, beard and glasses as fills: those are its ink (as characters.mjs), and so is
  // its mouth (black; characters.mjs whitens it, which leaves most mouths out of the line art)
  const ink = new Set(["eyesColor", "eyebrowsColor", "facialHairColor", "glassesColor", "mouthColor"]);
  const lineColors = Object.fromEntries(colorKeys.map((k) => [k, [ink.has(k) ? "000000" : "ffffff"]]));
  const parts = Object.keys(props).filter((k) => props[k].type === "array" && props[k].items && props[k].items.enum);
  const colorsOf = (extra) => Object.fromEntries(colorKeys.map((k) => [k, extra[k]]));
  const partsOf = (extra) => Object.fromEntries(parts.map((k) => [k, extra[k] ?? null]));

  // options that draw exactly what the seed chose: every part and color pinned
  function pin(extra) {
    const opts = {};
    for (const k of parts) {
      const p = `${k}Probability`;
      if (extra[k] !== undefined) {
        opts[k] = [extra[k]];
        if (p in props) opts[p] = 100;
      } else if (p in props) opts[p] = 0;
    }
    for (const k of colorKeys) {
      const c = extra[k];
      // a color a hook derived (micah's mouth over a beard: #ffffff33) is derived again from the pinned rest
      if (c === "transparent" || /^#[0-9a-fA-F]{6}$/.test(c)) opts[k] = [c === "transparent" ? c : c.slice(1)];
    }
    return opts;
  }

  for (let i = 0; i < count; i++) {
    const name = `${styleName}-s${seed}-${i}`;
    try {
      const first = createAvatar(st, { seed: name });
      const extra = first.toJson().extra;
      const refOpts = pin(extra);
      const ref = createAvatar(st, { seed: name, ...refOpts });
      if (ref.toString() !== first.toString()) throw new Error("pinned options do not redraw the seed's drawing");
      const r = rng(hash(`${name}/new`));
      const newOpts = JSON.parse(JSON.stringify(refOpts));
      for (const k of FACE) {
        // eyes and mouth always change, eyebrows half the time: a clearly different expression
        if (k !== "eyebrows" || r() < 0.5) newOpts[k] = [other(r, props[k].items.enum, extra[k])];
      }
      for (const k of TOGGLE) {
        if (!(k in props) || r() >= 0.35) continue;
        const on = extra[k] === undefined;
        newOpts[`${k}Probability`] = on ? 100 : 0;
        if (on) newOpts[k] = [choice(r, props[k].items.enum)];
      }
      const drawn = createAvatar(st, { seed: name, ...newOpts });
      const newExtra = drawn.toJson().extra;
      out({
        name,
        ref: { color: ref.toString(), line: createAvatar(st, { seed: name, ...refOpts, ...lineColors }).toString() },
        new: { color: drawn.toString(), line: createAvatar(st, { seed: name, ...newOpts, ...lineColors }).toString() },
        changed: diff(partsOf(extra), partsOf(newExtra)),
        colors: { ref: colorsOf(extra), new: colorsOf(newExtra) },
      });
    } catch (e) {
      out({ name, error: String(e && e.message ? e.message : e).split("\n")[0] });
    }
  }
}

function bigheads() {
  const React = require("react");
  const { renderToStaticMarkup } = require("react-dom/server");
  const core = require("@bigheads/core");
  const { BigHead, theme } = core;
  const colors = theme.colors;
  const original = JSON.parse(JSON.stringify(colors));
  const draw = (props) => renderToStaticMarkup(React.createElement(BigHead, props));
  const line = (props) => {
    paint(colors, "#ffffff");
    colors.outline = "#000000";
    try {
      return draw(props);
    } finally {
      restore(colors, original);
    }
  };
  const keys = (obj) => Object.keys(obj);
  const maps = { eyes: "eyesMap", eyebrows: "eyebrowsMap", mouth: "mouthsMap", hair: "hairMap",
    facialHair: "facialHairMap", clothing: "clothingMap", accessory: "accessoryMap", graphic: "graphicsMap",
    hat: "hatMap", body: "bodyMap" };
  const colorProps = ["skinTone", "hairColor", "clothingColor", "hatColor", "lipColor", "circleColor", "faceMaskColor"];
  const glasses = keys(core.accessoryMap).filter((k) => k !== "none");
  for (let i = 0; i < count; i++) {
    const name = `bigheads-s${seed}-${i}`;
    try {
      // the character: as characters.mjs picks it
      const r = rng(hash(name));
      const props = { mask: false, faceMask: false, lashes: r() > 0.5 };
      for (const [prop, m] of Object.entries(maps)) if (core[m]) props[prop] = choice(r, keys(core[m]));
      props.hat = r() < 0.75 ? "none" : props.hat; // hats hide the hair most of the time otherwise
      props.skinTone = choice(r, keys(colors.skin));
      props.hairColor = choice(r, keys(colors.hair));
      props.clothingColor = choice(r, keys(colors.clothing));
      props.hatColor = choice(r, keys(colors.clothing));
      props.lipColor = choice(r, keys(colors.lipColors));
      props.circleColor = choice(r, keys(colors.bgColors));
      props.faceMaskColor = choice(r, keys(colors.clothing));
      // its second drawing: another expression, glasses toggled now and then
      const q = rng(hash(`${name}/new`));
      const next = { ...props };
      next.eyes = other(q, keys(core.eyesMap), props.eyes);
      next.mouth = other(q, keys(core.mouthsMap), props.mouth);
      if (q() < 0.5) next.eyebrows = other(q, keys(core.eyebrowsMap), props.eyebrows);
      if (q() < 0.35) next.accessory = props.accessory === "none" ? choice(q, glasses) : "none";
      const pick = (p) => Object.fromEntries(colorProps.map((k) => [k, p[k]]));
      out({
        name,
        ref: { color: draw(props), line: line(props) },
        new: { color: draw(next), line: line(next) },
        changed: diff(props, next),
        colors: { ref: pick(props), new: pick(next) },
      });
    } catch (e) {
      out({ name, error: String(e && e.message ? e.message : e).split("\n")[0] });
    }
  }
}

if (style === "adventurer" || style === "micah") await dicebear(style);
else if (style === "bigheads") bigheads();
else {
  process.stderr.write(`unknown style ${style}\n`);
  process.exit(2);
}
