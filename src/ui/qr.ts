// A small QR Code encoder (ISO/IEC 18004) for one job: drawing the device-page URL with the user
// code in the terminal so a phone can approve the sign-in. Byte mode, error correction L or M,
// versions 1–10 (up to 271 bytes) — a Dify device URL is ~60 bytes. Written here instead of
// adding a dependency: it is ~200 lines, has no runtime cost unless a terminal login draws it,
// and bun build --compile needs nothing special for it. Structure follows Project Nayuki's
// reference encoder (MIT), cut down to what is used.

export type Ecl = "L" | "M";

const MAX_VERSION = 10;
const ECL_FORMAT_BITS: Record<Ecl, number> = { L: 1, M: 0 };
// Index = version − 1 (ISO/IEC 18004 Table 9).
const ECC_PER_BLOCK: Record<Ecl, number[]> = { L: [7, 10, 15, 20, 26, 18, 20, 24, 30, 18], M: [10, 16, 26, 18, 24, 16, 18, 22, 22, 26] };
const NUM_BLOCKS: Record<Ecl, number[]> = { L: [1, 1, 1, 1, 1, 2, 2, 2, 2, 4], M: [1, 1, 1, 2, 2, 4, 4, 4, 5, 5] };

export interface QrCode {
  version: number;
  ecl: Ecl;
  mask: number;
  size: number;
  /** modules[y][x], true = dark */
  modules: boolean[][];
}

function rawDataModules(ver: number): number {
  let r = (16 * ver + 128) * ver + 64;
  if (ver >= 2) {
    const n = Math.floor(ver / 7) + 2;
    r -= (25 * n - 10) * n - 55;
    if (ver >= 7) r -= 36;
  }
  return r;
}

function dataCodewords(ver: number, ecl: Ecl): number {
  return Math.floor(rawDataModules(ver) / 8) - ECC_PER_BLOCK[ecl][ver - 1] * NUM_BLOCKS[ecl][ver - 1];
}

// ── Reed–Solomon over GF(2^8), polynomial 0x11D ──────────────────────────────────────────────

function gfMul(x: number, y: number): number {
  let z = 0;
  for (let i = 7; i >= 0; i--) {
    z = (z << 1) ^ ((z >>> 7) * 0x11d);
    z ^= ((y >>> i) & 1) * x;
  }
  return z & 0xff;
}

function rsDivisor(degree: number): number[] {
  const r = new Array<number>(degree).fill(0);
  r[degree - 1] = 1;
  let root = 1;
  for (let i = 0; i < degree; i++) {
    for (let j = 0; j < degree; j++) {
      r[j] = gfMul(r[j], root);
      if (j + 1 < degree) r[j] ^= r[j + 1];
    }
    root = gfMul(root, 0x02);
  }
  return r;
}

function rsRemainder(data: number[], divisor: number[]): number[] {
  const r = divisor.map(() => 0);
  for (const b of data) {
    const factor = b ^ (r.shift() as number);
    r.push(0);
    for (let i = 0; i < divisor.length; i++) r[i] ^= gfMul(divisor[i], factor);
  }
  return r;
}

/** Splits the data into blocks, appends each block's ECC and interleaves them (ISO/IEC 18004 §7.6). */
function withEcc(data: number[], ver: number, ecl: Ecl): number[] {
  const nb = NUM_BLOCKS[ecl][ver - 1];
  const ecLen = ECC_PER_BLOCK[ecl][ver - 1];
  const raw = Math.floor(rawDataModules(ver) / 8);
  const numShort = nb - (raw % nb);
  const shortLen = Math.floor(raw / nb);
  const div = rsDivisor(ecLen);
  const blocks: number[][] = [];
  for (let i = 0, k = 0; i < nb; i++) {
    const dat = data.slice(k, k + shortLen - ecLen + (i < numShort ? 0 : 1));
    k += dat.length;
    const ecc = rsRemainder(dat, div);
    if (i < numShort) dat.push(0); // placeholder so every block has the same length while interleaving
    blocks.push(dat.concat(ecc));
  }
  const out: number[] = [];
  for (let i = 0; i < blocks[0].length; i++) {
    blocks.forEach((b, j) => { if (i !== shortLen - ecLen || j >= numShort) out.push(b[i]); });
  }
  return out;
}

// ── Matrix ───────────────────────────────────────────────────────────────────────────────────

class Matrix {
  readonly size: number;
  readonly modules: boolean[][];
  readonly isFunction: boolean[][];

  constructor(readonly version: number) {
    this.size = version * 4 + 17;
    this.modules = Array.from({ length: this.size }, () => new Array<boolean>(this.size).fill(false));
    this.isFunction = Array.from({ length: this.size }, () => new Array<boolean>(this.size).fill(false));
  }

  private setFn(x: number, y: number, dark: boolean): void {
    this.modules[y][x] = dark;
    this.isFunction[y][x] = true;
  }

  drawFunctionPatterns(ecl: Ecl): void {
    const n = this.size;
    for (let i = 0; i < n; i++) {
      this.setFn(6, i, i % 2 === 0);
      this.setFn(i, 6, i % 2 === 0);
    }
    this.drawFinder(3, 3);
    this.drawFinder(n - 4, 3);
    this.drawFinder(3, n - 4);
    const pos = alignmentPositions(this.version, n);
    const k = pos.length;
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const nearFinder = (i === 0 && j === 0) || (i === 0 && j === k - 1) || (i === k - 1 && j === 0);
        if (!nearFinder) this.drawAlignment(pos[i], pos[j]);
      }
    }
    this.drawFormat(ecl, 0); // reserves the area; redrawn once the mask is chosen
    this.drawVersion();
  }

  private drawFinder(x: number, y: number): void {
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const d = Math.max(Math.abs(dx), Math.abs(dy));
        const xx = x + dx, yy = y + dy;
        if (xx >= 0 && xx < this.size && yy >= 0 && yy < this.size) this.setFn(xx, yy, d !== 2 && d !== 4);
      }
    }
  }

  private drawAlignment(x: number, y: number): void {
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) this.setFn(x + dx, y + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
  }

  drawFormat(ecl: Ecl, mask: number): void {
    const data = (ECL_FORMAT_BITS[ecl] << 3) | mask;
    let rem = data;
    for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
    const bits = ((data << 10) | rem) ^ 0x5412;
    const bit = (i: number) => ((bits >>> i) & 1) !== 0;
    const n = this.size;
    for (let i = 0; i <= 5; i++) this.setFn(8, i, bit(i));
    this.setFn(8, 7, bit(6));
    this.setFn(8, 8, bit(7));
    this.setFn(7, 8, bit(8));
    for (let i = 9; i < 15; i++) this.setFn(14 - i, 8, bit(i));
    for (let i = 0; i < 8; i++) this.setFn(n - 1 - i, 8, bit(i));
    for (let i = 8; i < 15; i++) this.setFn(8, n - 15 + i, bit(i));
    this.setFn(8, n - 8, true); // the dark module
  }

  private drawVersion(): void {
    if (this.version < 7) return;
    let rem = this.version;
    for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
    const bits = (this.version << 12) | rem;
    for (let i = 0; i < 18; i++) {
      const dark = ((bits >>> i) & 1) !== 0;
      const a = this.size - 11 + (i % 3);
      const b = Math.floor(i / 3);
      this.setFn(a, b, dark);
      this.setFn(b, a, dark);
    }
  }

  /** The zig-zag placement of ISO/IEC 18004 §7.7.3, two columns at a time from the bottom right. */
  drawCodewords(data: number[]): void {
    const n = this.size;
    let i = 0;
    for (let right = n - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5; // skip the vertical timing column
      for (let vert = 0; vert < n; vert++) {
        for (let j = 0; j < 2; j++) {
          const x = right - j;
          const upward = ((right + 1) & 2) === 0;
          const y = upward ? n - 1 - vert : vert;
          if (!this.isFunction[y][x] && i < data.length * 8) {
            this.modules[y][x] = ((data[i >>> 3] >>> (7 - (i & 7))) & 1) !== 0;
            i++;
          }
        }
      }
    }
  }

  applyMask(mask: number): void {
    for (let y = 0; y < this.size; y++) {
      for (let x = 0; x < this.size; x++) {
        if (!this.isFunction[y][x] && maskBit(mask, x, y)) this.modules[y][x] = !this.modules[y][x];
      }
    }
  }
}

function alignmentPositions(ver: number, size: number): number[] {
  if (ver === 1) return [];
  const n = Math.floor(ver / 7) + 2;
  const step = Math.floor((ver * 8 + n * 3 + 5) / (n * 4 - 4)) * 2;
  const r = [6];
  for (let pos = size - 7; r.length < n; pos -= step) r.splice(1, 0, pos);
  return r;
}

function maskBit(mask: number, x: number, y: number): boolean {
  switch (mask) {
    case 0: return (x + y) % 2 === 0;
    case 1: return y % 2 === 0;
    case 2: return x % 3 === 0;
    case 3: return (x + y) % 3 === 0;
    case 4: return (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0;
    case 5: return ((x * y) % 2) + ((x * y) % 3) === 0;
    case 6: return (((x * y) % 2) + ((x * y) % 3)) % 2 === 0;
    default: return (((x + y) % 2) + ((x * y) % 3)) % 2 === 0;
  }
}

/** The four penalty rules of ISO/IEC 18004 §7.8.3; the mask with the lowest score is used. */
export function penaltyScore(m: boolean[][]): number {
  const n = m.length;
  let score = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (let a = 0; a < n; a++) {
      const line: boolean[] = [];
      let run = 0;
      let prev: boolean | null = null;
      for (let b = 0; b < n; b++) {
        const v = pass === 0 ? m[a][b] : m[b][a];
        line.push(v);
        if (v === prev) {
          run++;
          if (run === 5) score += 3;
          else if (run > 5) score++;
        } else {
          prev = v;
          run = 1;
        }
      }
      const light = (i: number) => i < 0 || i >= n || !line[i];
      for (let b = 0; b + 7 <= n; b++) {
        if (line[b] && !line[b + 1] && line[b + 2] && line[b + 3] && line[b + 4] && !line[b + 5] && line[b + 6]) {
          const before = light(b - 1) && light(b - 2) && light(b - 3) && light(b - 4);
          const after = light(b + 7) && light(b + 8) && light(b + 9) && light(b + 10);
          if (before || after) score += 40;
        }
      }
    }
  }
  let dark = 0;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (m[y][x]) dark++;
      if (y < n - 1 && x < n - 1 && m[y][x] === m[y][x + 1] && m[y][x] === m[y + 1][x] && m[y][x] === m[y + 1][x + 1]) score += 3;
    }
  }
  const total = n * n;
  score += (Math.ceil(Math.abs(dark * 20 - total * 10) / total) - 1) * 10;
  return score;
}

/**
 * Encodes text (UTF-8, byte mode) in the smallest version that holds it at level L, then raises
 * the level to M when M fits in that same version: more robustness for free. Null when the text
 * needs more than version 10 (too large to draw in 80 columns).
 */
export function encodeQr(text: string, opts: { forceMask?: number } = {}): QrCode | null {
  const bytes = new TextEncoder().encode(text);
  let version = 0;
  let needed = 0;
  for (let v = 1; v <= MAX_VERSION; v++) {
    needed = 4 + (v <= 9 ? 8 : 16) + bytes.length * 8;
    if (needed <= dataCodewords(v, "L") * 8) { version = v; break; }
  }
  if (!version) return null;
  const ecl: Ecl = needed <= dataCodewords(version, "M") * 8 ? "M" : "L";
  const capacity = dataCodewords(version, ecl) * 8;

  const bits: number[] = [];
  const push = (val: number, len: number) => { for (let i = len - 1; i >= 0; i--) bits.push((val >>> i) & 1); };
  push(0b0100, 4);
  push(bytes.length, version <= 9 ? 8 : 16);
  for (const b of bytes) push(b, 8);
  push(0, Math.min(4, capacity - bits.length));
  push(0, (8 - (bits.length % 8)) % 8);
  for (let pad = 0xec; bits.length < capacity; pad ^= 0xec ^ 0x11) push(pad, 8);
  const data: number[] = [];
  for (let i = 0; i < bits.length; i += 8) data.push(parseInt(bits.slice(i, i + 8).join(""), 2));

  const m = new Matrix(version);
  m.drawFunctionPatterns(ecl);
  m.drawCodewords(withEcc(data, version, ecl));
  let best = opts.forceMask ?? -1;
  if (best < 0) {
    let bestScore = Infinity;
    for (let mask = 0; mask < 8; mask++) {
      m.applyMask(mask);
      m.drawFormat(ecl, mask);
      const s = penaltyScore(m.modules);
      if (s < bestScore) { bestScore = s; best = mask; }
      m.applyMask(mask); // XOR again undoes it
    }
  }
  m.applyMask(best);
  m.drawFormat(ecl, best);
  return { version, ecl, mask: best, size: m.size, modules: m.modules };
}

/** Width in terminal columns of the half-block rendering (symbol plus quiet zone). */
export function renderedWidth(qr: QrCode, quiet = QUIET_ZONE): number {
  return qr.size + 2 * quiet;
}

// Two modules of quiet zone, not the standard four: the glyphs themselves draw the light area,
// phones read a 2-module margin reliably, and it saves two terminal lines.
export const QUIET_ZONE = 2;

/**
 * Draws the code with Unicode half blocks, two module rows per text line. Light modules are the
 * glyphs and dark modules the background, so that on the usual dark terminal the symbol comes out
 * dark-on-light as scanners expect; with `color` the foreground and background are also set
 * explicitly (bright white on black) so a light theme does not invert it.
 */
export function renderHalfBlocks(qr: QrCode, opts: { color?: boolean; quiet?: number } = {}): string[] {
  const quiet = opts.quiet ?? QUIET_ZONE;
  const n = qr.size;
  const light = (x: number, y: number) => x < 0 || y < 0 || x >= n || y >= n || !qr.modules[y][x];
  const lines: string[] = [];
  for (let y = -quiet; y < n + quiet; y += 2) {
    let line = "";
    for (let x = -quiet; x < n + quiet; x++) {
      const top = light(x, y);
      const bottom = y + 1 < n + quiet ? light(x, y + 1) : false;
      line += top && bottom ? "█" : top ? "▀" : bottom ? "▄" : " ";
    }
    lines.push(opts.color ? `\x1b[97;40m${line}\x1b[0m` : line);
  }
  return lines;
}
