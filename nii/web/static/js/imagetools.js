// X-ray workstation image tools on RGBA pixels: material stripping (from the dual-energy material
// map when the case has one, else from the false-colour hue), edge enhancement, and one look-up
// table for brightness, contrast, gamma and invert.

export const DEFAULT_TOOLS = Object.freeze({
  brightness: 0, // added after contrast, in [−0.5, 0.5] of full scale
  contrast: 1, // gain around mid-grey
  gamma: 1, // output = input^(1/gamma); > 1 brightens the darks
  invert: false,
  edges: false,
  material: 'all', // 'all' | 'organic' | 'inorganic' | 'metal'
});

export function isDefault(t) {
  return Object.entries(DEFAULT_TOOLS).every(([k, v]) => t[k] === v);
}

export function buildLut(t) {
  const lut = new Uint8ClampedArray(256);
  for (let v = 0; v < 256; v++) {
    let x = (v / 255 - 0.5) * t.contrast + 0.5 + t.brightness;
    x = Math.min(1, Math.max(0, x)) ** (1 / t.gamma);
    lut[v] = Math.round((t.invert ? 1 - x : x) * 255);
  }
  return lut;
}

// Material of a false-colour pixel: 0 background, 1 organic (orange), 2 inorganic (green), 3 metal (blue).
// Scanners colour by effective atomic number; palettes vary, so the hue bands are wide.
export function materialOf(r, g, b) {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const v = max / 255;
  const sat = max === 0 ? 0 : (max - min) / max;
  if (sat < 0.15) {
    if (v > 0.9) return 0;
    return v < 0.35 ? 3 : 2; // grey: dense and dark reads as metal, else mixed
  }
  let h;
  const d = max - min;
  if (max === r) h = ((g - b) / d) % 6;
  else if (max === g) h = (b - r) / d + 2;
  else h = (r - g) / d + 4;
  h *= 60;
  if (h < 0) h += 360;
  if (h < 70 || h >= 330) return 1;
  if (h < 170) return 2;
  return 3;
}

const MATERIAL_CODE = { organic: 1, inorganic: 2, metal: 3 };
export const MATERIAL_GREY = 85; // grey level per code in GET /v1/scans/{id}/materials

// Material codes (Uint8Array [H * W], the codes of materialOf) from the RGBA pixels of the service's
// grey material map.
export function materialCodes(mapData) {
  const px = mapData.data;
  const codes = new Uint8Array(mapData.width * mapData.height);
  for (let p = 0, i = 0; p < codes.length; p++, i += 4) codes[p] = Math.round(px[i] / MATERIAL_GREY);
  return codes;
}

// A new ImageData with the tools applied to `src` (never modified); `materials`, when given, holds
// the code of each pixel from the dual-energy channels and replaces the hue for material stripping.
export function applyTools(src, t, materials = null) {
  const { width, height } = src;
  let px = new Uint8ClampedArray(src.data);
  if (t.material !== 'all') {
    const keep = MATERIAL_CODE[t.material];
    for (let i = 0, p = 0; i < px.length; i += 4, p++) {
      const code = materials ? materials[p] : materialOf(px[i], px[i + 1], px[i + 2]);
      if (code !== keep) { px[i] = 255; px[i + 1] = 255; px[i + 2] = 255; }
    }
  }
  if (t.edges) px = sharpen(px, width, height);
  if (t.brightness !== 0 || t.contrast !== 1 || t.gamma !== 1 || t.invert) {
    const lut = buildLut(t);
    for (let i = 0; i < px.length; i += 4) {
      px[i] = lut[px[i]]; px[i + 1] = lut[px[i + 1]]; px[i + 2] = lut[px[i + 2]];
    }
  }
  return new ImageData(px, width, height);
}

// Laplacian sharpening, 3x3: 5c − n − s − e − w per colour channel (borders kept).
export function sharpen(px, width, height) {
  const out = new Uint8ClampedArray(px);
  const row = width * 4;
  for (let y = 1; y < height - 1; y++) {
    let i = y * row + 4;
    for (let x = 1; x < width - 1; x++, i += 4) {
      out[i] = 5 * px[i] - px[i - 4] - px[i + 4] - px[i - row] - px[i + row];
      out[i + 1] = 5 * px[i + 1] - px[i - 3] - px[i + 5] - px[i + 1 - row] - px[i + 1 + row];
      out[i + 2] = 5 * px[i + 2] - px[i - 2] - px[i + 6] - px[i + 2 - row] - px[i + 2 + row];
    }
  }
  return out;
}
