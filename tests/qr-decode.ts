// Test helper: reads a QR code drawn with half blocks back (jsQR), for the unit and pty tests.
import jsQR from "jsqr";

/**
 * Turns half-block text back into pixels: a glyph half is a light module, a blank half a dark
 * one (see renderHalfBlocks), then decodes it with jsQR.
 */
export function decodeHalfBlocks(lines: string[]): string | null {
  const rows: boolean[][] = []; // true = dark
  for (const raw of lines) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, "");
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (const ch of line) {
      top.push(!(ch === "█" || ch === "▀"));
      bottom.push(!(ch === "█" || ch === "▄"));
    }
    rows.push(top, bottom);
  }
  const scale = 4;
  const pad = 8; // extra light margin around the drawn quiet zone
  const w = (Math.max(...rows.map((r) => r.length)) + 2 * pad) * scale;
  const h = (rows.length + 2 * pad) * scale;
  const px = new Uint8ClampedArray(w * h * 4).fill(255);
  rows.forEach((r, y) => r.forEach((dark, x) => {
    if (!dark) return;
    for (let dy = 0; dy < scale; dy++) {
      for (let dx = 0; dx < scale; dx++) {
        const i = (((y + pad) * scale + dy) * w + (x + pad) * scale + dx) * 4;
        px[i] = px[i + 1] = px[i + 2] = 0;
      }
    }
  }));
  return jsQR(px, w, h, { inversionAttempts: "dontInvert" })?.data ?? null;
}

