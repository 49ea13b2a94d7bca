// Characters with exact line art, as SVG pairs, for `autopainter prepare characters`.
//
//   node characters.mjs SOURCE COUNT SEED      (run in a folder whose node_modules hold the pinned packages)
//
// Writes one JSON object per line to stdout: {"name", "color": SVG, "line": SVG, "parts": SVG, "partColors"}
// or {"name", "error"}.
// Each character comes from its own seed (SOURCE-SEED-INDEX), so the same arguments give the same set.
// The line SVG is the same character drawn again with every fill white (and its ink black), so the two
// line up exactly. The parts SVG is it drawn a third time with each color option in its own key color;
// partColors maps each key color (hex, lowercase, no #) to the part's name (skin, hair, eyes, clothing,
// accessory, background or ""), from which `prepare characters` makes the material map.
//
// SOURCE: dicebear-adventurer | dicebear-micah | bigheads
import { createRequire } from "node:module";

import { hash, out, paint, restore, rng } from "./drawing.mjs";

const require = createRequire(`${process.cwd()}/`);
const [source, countArg, seedArg] = process.argv.slice(2);
const count = Number.parseInt(countArg, 10);
const seed = Number.parseInt(seedArg, 10);

// Key colors of the parts render: saturated colors that the drawings do not use, far apart.
const KEYS = ["ff00ff", "00ffff", "00ff00", "ff0000", "0000ff", "ffff00", "ff8000", "8000ff", "00ff80", "ff0080",
  "80ff00", "0080ff"];

// A color option's name -> the part it colors.
function partOf(key) {
  const k = key.toLowerCase();
  if (k.startsWith("skin") || k.startsWith("base")) return "skin";
  if (k.startsWith("hair") || k.startsWith("facialhair") || k.startsWith("eyebrows")) return "hair";
  if (k.startsWith("eyes") || k.startsWith("eyeshadow")) return "eyes";
  if (k.startsWith("shirt") || k.startsWith("cloth") || k.startsWith("hat")) return "clothing";
  if (k.startsWith("earring") || k.startsWith("glasses") || k.startsWith("accessor")) return "accessory";
  if (k.startsWith("background") || k.startsWith("bg") || k.startsWith("circle")) return "background";
  return "";
}

async function dicebear(styleName) {
  const { createAvatar } = await import(require.resolve("@dicebear/core"));
  const collection = await import(require.resolve("@dicebear/collection"));
  const style = collection[styleName];
  const colorKeys = Object.keys(style.schema.properties).filter((k) => k.endsWith("Color"));
  // micah draws its eyes, brows, beard and glasses as fills: those are its ink
  const ink = new Set(["eyesColor", "eyebrowsColor", "facialHairColor", "glassesColor"]);
  const lineColors = Object.fromEntries(colorKeys.map((k) => [k, [ink.has(k) ? "000000" : "ffffff"]]));
  const partKeys = Object.fromEntries(colorKeys.map((k, i) => [k, [KEYS[i % KEYS.length]]]));
  const partColors = Object.fromEntries(colorKeys.map((k, i) => [KEYS[i % KEYS.length], partOf(k)]));
  for (let i = 0; i < count; i++) {
    const name = `${source}-${seed}-${i}`;
    try {
      const color = createAvatar(style, { seed: name }).toString();
      const line = createAvatar(style, { seed: name, ...lineColors }).toString();
      const parts = createAvatar(style, { seed: name, ...partKeys }).toString();
      out({ name, color, line, parts, partColors });
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
  // each palette of theme.colors in one key color (outline, white and tongue keep theirs)
  const palettes = { skin: "skin", hair: "hair", lipColors: "", clothing: "clothing", bgColors: "background" };
  const partColors = {};
  const pick = (r, obj) => {
    const keys = Object.keys(obj);
    return keys[Math.floor(r() * keys.length)];
  };
  const maps = ["eyesMap", "eyebrowsMap", "mouthsMap", "hairMap", "facialHairMap", "clothingMap", "accessoryMap",
    "graphicsMap", "hatMap", "bodyMap"];
  const propOf = { eyesMap: "eyes", eyebrowsMap: "eyebrows", mouthsMap: "mouth", hairMap: "hair",
    facialHairMap: "facialHair", clothingMap: "clothing", accessoryMap: "accessory", graphicsMap: "graphic",
    hatMap: "hat", bodyMap: "body" };
  for (let i = 0; i < count; i++) {
    const name = `${source}-${seed}-${i}`;
    try {
      const r = rng(hash(name));
      const props = { mask: false, faceMask: false, lashes: r() > 0.5 };
      for (const m of maps) if (core[m]) props[propOf[m]] = pick(r, core[m]);
      props.hat = r() < 0.75 ? "none" : props.hat; // hats hide the hair most of the time otherwise
      props.skinTone = pick(r, colors.skin);
      props.hairColor = pick(r, colors.hair);
      props.clothingColor = pick(r, colors.clothing);
      props.hatColor = pick(r, colors.clothing);
      props.lipColor = pick(r, colors.lipColors);
      props.circleColor = pick(r, colors.bgColors);
      props.faceMaskColor = pick(r, colors.clothing);
      const color = renderToStaticMarkup(React.createElement(BigHead, props));
      paint(colors, "#ffffff");
      colors.outline = "#000000";
      let line;
      try {
        line = renderToStaticMarkup(React.createElement(BigHead, props));
      } finally {
        restore(colors, original);
      }
      let parts;
      try {
        Object.keys(palettes).forEach((p, i) => {
          paint(colors[p], `#${KEYS[i]}`);
          partColors[KEYS[i]] = palettes[p];
        });
        parts = renderToStaticMarkup(React.createElement(BigHead, props));
      } finally {
        restore(colors, original);
      }
      out({ name, color, line, parts, partColors });
    } catch (e) {
      out({ name, error: String(e && e.message ? e.message : e).split("\n")[0] });
    }
  }
}

if (source === "dicebear-adventurer") await dicebear("adventurer");
else if (source === "dicebear-micah") await dicebear("micah");
else if (source === "bigheads") bigheads();
else {
  process.stderr.write(`unknown source ${source}\n`);
  process.exit(2);
}
