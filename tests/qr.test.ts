import { describe, expect, test } from "bun:test";
import { encodeQr, penaltyScore, renderHalfBlocks, renderedWidth } from "../src/ui/qr.ts";
import { decodeHalfBlocks } from "./qr-decode.ts";

function roundTrip(text: string): string | null {
  const qr = encodeQr(text);
  if (!qr) return null;
  return decodeHalfBlocks(renderHalfBlocks(qr));
}

describe("QR encoder", () => {
  test("a device URL with the user code decodes back exactly, in a small symbol", () => {
    const url = "https://dify.example.com/device?user_code=ABCD-1234";
    const qr = encodeQr(url)!;
    expect(qr.version).toBeLessThanOrEqual(4);
    expect(roundTrip(url)).toBe(url);
  });

  test("every version 1–10 and both EC levels decode (lengths chosen to hit each version)", () => {
    const seen = new Set<string>();
    for (let len = 1; len <= 271; len += 7) {
      const text = Array.from({ length: len }, (_, i) => "abcdefghijklmnopqrstuvwxyz0123456789:/?=&-._~"[(i * 7 + len) % 45]).join("");
      const qr = encodeQr(text)!;
      expect(qr).not.toBeNull();
      seen.add(`${qr.version}${qr.ecl}`);
      expect(roundTrip(text)).toBe(text);
    }
    for (let v = 1; v <= 10; v++) expect([...seen].some((s) => s.startsWith(String(v)) && s.length === String(v).length + 1)).toBe(true);
    expect([...seen].some((s) => s.endsWith("M"))).toBe(true);
    expect([...seen].some((s) => s.endsWith("L"))).toBe(true);
  });

  test("all eight masks produce a decodable symbol", () => {
    const url = "https://dify.internal/device?user_code=WXYZ-9876";
    for (let mask = 0; mask < 8; mask++) {
      const qr = encodeQr(url, { forceMask: mask })!;
      expect(qr.mask).toBe(mask);
      expect(decodeHalfBlocks(renderHalfBlocks(qr))).toBe(url);
    }
  });

  test("mask selection picks the lowest penalty", () => {
    const url = "https://dify.internal/device?user_code=WXYZ-9876";
    const chosen = encodeQr(url)!;
    for (let mask = 0; mask < 8; mask++) {
      expect(penaltyScore(chosen.modules)).toBeLessThanOrEqual(penaltyScore(encodeQr(url, { forceMask: mask })!.modules));
    }
  });

  test("UTF-8 text survives (byte mode)", () => {
    expect(roundTrip("https://dify.example/设备?c=ÄÖ")).toBe("https://dify.example/设备?c=ÄÖ");
  });

  test("too long for version 10 → null; the largest symbol fits 80 columns", () => {
    expect(encodeQr("x".repeat(272))).toBeNull();
    const big = encodeQr("x".repeat(271))!;
    expect(big.version).toBe(10);
    expect(renderedWidth(big)).toBeLessThanOrEqual(80);
    for (const line of renderHalfBlocks(big)) expect([...line].length).toBeLessThanOrEqual(80);
  });

  test("colour mode wraps each line in SGR and resets; plain mode has no escapes", () => {
    const qr = encodeQr("https://a.example/device?user_code=AB12")!;
    for (const l of renderHalfBlocks(qr, { color: true })) expect(l).toMatch(/^\x1b\[97;40m[█▀▄ ]+\x1b\[0m$/);
    for (const l of renderHalfBlocks(qr)) expect(l).not.toContain("\x1b");
  });
});
