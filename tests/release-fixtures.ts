// Small stand-ins for release binaries: the release tests hash, archive and sign these instead of
// building eight 100 MB binaries.
// @ts-ignore -- plain .mjs build script
import { sign } from "../scripts/macho-sign.mjs";

const CPU = { x64: 0x01000007, arm64: 0x0100000c } as const;

/**
 * A minimal 64-bit Mach-O with __TEXT (random bytes, `pages` pages of 4 KiB), __LINKEDIT and an
 * LC_CODE_SIGNATURE at the end of the file, signed ad hoc by scripts/macho-sign.mjs: what the
 * signature gate expects of a darwin binary, in a few KiB.
 */
export function tinyMachO(arch: keyof typeof CPU = "arm64", pages = 3): Buffer {
  const textSize = pages * 4096;
  const buf = Buffer.alloc(textSize + 16);
  crypto.getRandomValues(buf.subarray(512, textSize));
  buf.writeUInt32LE(0xfeedfacf, 0);
  buf.writeUInt32LE(CPU[arch], 4);
  buf.writeUInt32LE(2, 12); // MH_EXECUTE
  buf.writeUInt32LE(3, 16);
  buf.writeUInt32LE(72 + 72 + 16, 20);
  const segment = (off: number, name: string, fileoff: number, filesize: number, vmaddr: number) => {
    buf.writeUInt32LE(0x19, off);
    buf.writeUInt32LE(72, off + 4);
    buf.write(name, off + 8, 16, "latin1");
    buf.writeBigUInt64LE(BigInt(vmaddr), off + 24);
    buf.writeBigUInt64LE(BigInt(Math.ceil(filesize / 4096) * 4096), off + 32);
    buf.writeBigUInt64LE(BigInt(fileoff), off + 40);
    buf.writeBigUInt64LE(BigInt(filesize), off + 48);
  };
  segment(32, "__TEXT", 0, textSize, 0x100000000);
  segment(104, "__LINKEDIT", textSize, 16, 0x100000000 + textSize);
  buf.writeUInt32LE(0x1d, 176);
  buf.writeUInt32LE(16, 180);
  buf.writeUInt32LE(textSize, 184);
  buf.writeUInt32LE(16, 188);
  return sign(buf, "difyctl");
}
