import { describe, expect, test } from "bun:test";
import { CliError } from "../src/errors.ts";
import { createSseDecoder, readSse, type SseEvent } from "../src/sse.ts";

const enc = new TextEncoder();

/** Decodes `bytes` fed in pieces of `size` bytes (1 = the worst case). */
function decode(input: string | Uint8Array, size: number, max?: number): SseEvent[] {
  const bytes = typeof input === "string" ? enc.encode(input) : input;
  const out: SseEvent[] = [];
  const d = createSseDecoder((e) => out.push(e), max);
  for (let i = 0; i < bytes.length; i += size) d.push(bytes.subarray(i, i + size));
  d.end();
  return out;
}

/** Every chunking gives the same events: whole, 1-byte, 2, 3, 7 bytes. */
function decodeAllWays(input: string): SseEvent[] {
  const whole = decode(input, 1 << 30);
  for (const size of [1, 2, 3, 7]) expect(decode(input, size)).toEqual(whole);
  return whole;
}

describe("SSE decoding", () => {
  test("LF frames, in any chunking", () => {
    const evs = decodeAllWays('data: {"event":"message","answer":"a"}\n\ndata: {"event":"message_end"}\n\n');
    expect(evs).toEqual([{ data: '{"event":"message","answer":"a"}' }, { data: '{"event":"message_end"}' }]);
  });

  test("CRLF and lone CR line endings", () => {
    expect(decodeAllWays("data: one\r\n\r\ndata: two\r\n\r\n")).toEqual([{ data: "one" }, { data: "two" }]);
    expect(decodeAllWays("data: one\r\rdata: two\r\r")).toEqual([{ data: "one" }, { data: "two" }]);
    // A CRLF split exactly between \r and \n must not count as two line ends.
    expect(decode("data: x\r\ndata: y\r\n\r\n", 8)).toEqual([{ data: "x\ny" }]);
  });

  test("multi-line data joins with \\n", () => {
    expect(decodeAllWays("data: {\"a\":\ndata: 1}\n\n")).toEqual([{ data: '{"a":\n1}' }]);
    expect(decodeAllWays("data:no-space\ndata:  two-spaces\n\n")).toEqual([{ data: "no-space\n two-spaces" }]);
  });

  test("comments are ignored, also between fields", () => {
    expect(decodeAllWays(": keep-alive\n\ndata: a\n: in the middle\ndata: b\n\n")).toEqual([{ data: "a\nb" }]);
  });

  test("event: lines name the event; an event without data (ping) is not dispatched", () => {
    expect(decodeAllWays("event: ping\n\nevent: message_end\ndata: {}\n\n")).toEqual([{ event: "message_end", data: "{}" }]);
  });

  test("a frame split at every possible point gives the same event", () => {
    const frame = 'event: x\r\ndata: {"answer":"héllo"}\r\n\r\n';
    const bytes = enc.encode(frame);
    for (let cut = 1; cut < bytes.length; cut++) {
      const out: SseEvent[] = [];
      const d = createSseDecoder((e) => out.push(e));
      d.push(bytes.subarray(0, cut));
      d.push(bytes.subarray(cut));
      d.end();
      expect(out).toEqual([{ event: "x", data: '{"answer":"héllo"}' }]);
    }
  });

  test("a UTF-8 character split across chunks is decoded whole (2, 3 and 4-byte characters)", () => {
    const text = "é 你好 🙂 ok";
    const evs = decode(`data: ${text}\n\n`, 1);
    expect(evs).toEqual([{ data: text }]);
    expect(evs[0].data).not.toContain("\uFFFD");
  });

  test("a byte-order mark at the start is skipped", () => {
    expect(decode(new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode("data: a\n\n")]), 1)).toEqual([{ data: "a" }]);
  });

  test("an unterminated last event is dropped (SSE spec)", () => {
    expect(decode("data: a\n\ndata: cut-off", 1)).toEqual([{ data: "a" }]);
  });

  test("an oversized event is an error, not unbounded memory", () => {
    expect(() => decode(`data: ${"x".repeat(5000)}\n\n`, 512, 1000)).toThrow(CliError);
  });
});

function streamOf(chunks: (string | Error)[], delayMs = 0): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (delayMs) await Bun.sleep(delayMs);
      if (i >= chunks.length) return c.close();
      const x = chunks[i++];
      if (x instanceof Error) c.error(x);
      else c.enqueue(enc.encode(x));
    },
  });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return e instanceof CliError ? e.code : `not a CliError: ${e}`; }
  return "no error";
}

describe("readSse", () => {
  test("reads to the end and calls onChunkDone once per network chunk", async () => {
    const seen: string[] = [];
    let chunks = 0;
    await readSse(streamOf(["data: a\n\nda", "ta: b\n\n", "data: c\n\n"]), (e) => seen.push(e.data), { onChunkDone: () => { chunks++; } });
    expect(seen).toEqual(["a", "b", "c"]);
    expect(chunks).toBe(3);
  });

  test("a dropped connection is network_connection", async () => {
    expect(await codeOf(readSse(streamOf(["data: a\n\n", new Error("reset")]), () => {}))).toBe("network_connection");
  });

  test("abort (Ctrl-C) is cancelled", async () => {
    const ac = new AbortController();
    const p = readSse(streamOf(["data: a\n\n", "data: b\n\n", "data: c\n\n"], 50), () => ac.abort(), { signal: ac.signal });
    expect(await codeOf(p)).toBe("cancelled");
  });

  test("silence longer than idleMs is network_timeout", async () => {
    const body = new ReadableStream<Uint8Array>({ start(c) { c.enqueue(enc.encode("data: a\n\n")); } }); // never closes
    expect(await codeOf(readSse(body, () => {}, { idleMs: 50 }))).toBe("network_timeout");
  });
});
