import { describe, expect, test } from "bun:test";
import { createParser } from "eventsource-parser";
import { CliError } from "../src/cli/errors.ts";
import { createSseDecoder, readSse, type SseEvent } from "../src/http/sse.ts";
import { Rng } from "./stress/lib.ts";

const enc = new TextEncoder();

/**
 * A RawRunHandler as the contract allows it: takes whole `data:` [space] <value> LF LF events from
 * `start`, within `limit`, and records what it took. With `alternate`, every other call takes nothing.
 */
function rawRunTaker(out: SseEvent[], mode: "take" | "alternate") {
  let calls = 0;
  const text = new TextDecoder("utf-8", { ignoreBOM: true });
  return (b: Uint8Array, start: number, limit: number): number => {
    if (mode === "alternate" && calls++ % 2) return start;
    let p = start;
    for (;;) {
      const end = b.indexOf(10, p);
      if (end === -1 || end + 1 >= limit || b[end + 1] !== 10) return p;
      const line = text.decode(b.subarray(p, end));
      if (!line.startsWith("data:")) return p;
      out.push({ data: line.slice(line.startsWith("data: ") ? 6 : 5) });
      p = end + 2;
    }
  };
}

/** Decodes `bytes` fed in pieces of `size` bytes (1 = the worst case). */
function decode(input: string | Uint8Array, size: number, max?: number, raw?: "take" | "alternate"): SseEvent[] {
  const bytes = typeof input === "string" ? enc.encode(input) : input;
  const out: SseEvent[] = [];
  // With `raw`, the bulk fast path is offered too: it takes all it may, or every other time nothing.
  const d = createSseDecoder((e) => out.push(e), max, raw ? rawRunTaker(out, raw) : undefined);
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
    // Only at the very start: later it is part of a field name ("\uFEFFdata" is no field), fast path or not.
    for (const raw of [undefined, "take"] as const) {
      expect(decode("data: a\n\n\uFEFFdata: b\n\ndata: c\n\n", 1000, undefined, raw)).toEqual([{ data: "a" }, { data: "c" }]);
    }
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

describe("SSE decoding agrees with eventsource-parser", () => {
  // The same inputs through the well-kept parser (decoded as text, in the same chunks) and ours.
  function reference(bytes: Uint8Array, size: number): SseEvent[] {
    const out: SseEvent[] = [];
    const p = createParser({ onEvent: (e) => out.push(e.event === undefined ? { data: e.data } : { event: e.event, data: e.data }) });
    const text = new TextDecoder();
    let lastCR = false;
    for (let i = 0; i < bytes.length; i += size) {
      const s = text.decode(bytes.subarray(i, i + size), { stream: true });
      if (s) { p.feed(s); lastCR = s.endsWith("\r"); }
    }
    if (lastCR) p.feed("\n"); // it holds a final CR back in case LF follows; at the end it is a line end
    return out;
  }

  // Streams built line by line: a field (or not), a value made of a few pieces, a line end.
  const fields = ["data: ", "data: ", "data: ", "data:", "data", "event: ", "event:", "event", "id: ", "retry: ", ": ", ":", "foo: ", "", "dat", "Data: "];
  const values = ["x", "{\"event\":\"message\",\"answer\":\"hi\"}", " ", ":", "é", "你", "🙂", "ping", "\u0000", "data: "];
  const ends = ["\n", "\n", "\r\n", "\r"];

  test("on 5000 random streams, in random chunkings", () => {
    const rng = new Rng(12345);
    const rnd = (n: number) => rng.int(n);
    for (let run = 0; run < 5000; run++) {
      let s = rnd(10) === 0 ? "\uFEFF" : "";
      const lines = 1 + rnd(12);
      for (let i = 0; i < lines; i++) {
        if (rnd(3) === 0) { s += ends[rnd(ends.length)]; continue; } // a blank line: dispatch
        s += fields[rnd(fields.length)];
        for (let k = rnd(3); k > 0; k--) s += values[rnd(values.length)];
        s += ends[rnd(ends.length)];
      }
      const bytes = enc.encode(s);
      const size = [1, 2, 3, 5, 8, 64, 1000, 1000][rnd(8)];
      const expected = reference(bytes, size);
      for (const raw of [undefined, "take", "alternate"] as const) {
        expect({ s, size, raw, events: decode(bytes, size, undefined, raw) }).toEqual({ s, size, raw, events: expected });
      }
    }
  });

  test("the bulk fast path is offered only at event boundaries, never past a CR or the size limit", () => {
    const input = "data: one\n\ndata: two\n\nevent: named\ndata: three\n\ndata: a\ndata: b\n\n: c\ndata: four\n\ndata: cr\r\n\r\ndata: five\n\n";
    for (const size of [1, 2, 5, 1000]) {
      const offers: string[] = [];
      const events: SseEvent[] = [];
      const take = rawRunTaker(events, "take");
      const d = createSseDecoder((e) => events.push(e), undefined, (b, start, limit) => {
        offers.push(new TextDecoder().decode(b.subarray(start, limit)));
        return take(b, start, limit);
      });
      const bytes = enc.encode(input);
      for (let i = 0; i < bytes.length; i += size) d.push(bytes.subarray(i, i + size));
      d.end();
      expect(events).toEqual([{ data: "one" }, { data: "two" }, { event: "named", data: "three" }, { data: "a\nb" }, { data: "four" }, { data: "cr" }, { data: "five" }]);
      // Offers stop before any CR, and none starts inside an event (after its name, or its first data line).
      expect(offers.filter((o) => o.includes("\r") || /^(data: three|data: b)/.test(o))).toEqual([]);
      expect(offers.some((o) => o.startsWith("data: "))).toBe(size === 1000);
    }
    // A line cut by a chunk boundary is never offered from the middle, even when the rest looks like a frame.
    const tricky = enc.encode("data: one\n\ndata: data: two\n\n:data: c\n\nevent: e\ndata: three\n\n");
    for (let cut = 0; cut <= tricky.length; cut++) {
      const events: SseEvent[] = [];
      const d = createSseDecoder((e) => events.push(e), undefined, rawRunTaker(events, "take"));
      d.push(tricky.subarray(0, cut));
      d.push(tricky.subarray(cut));
      expect({ cut, events }).toEqual({ cut, events: [{ data: "one" }, { data: "data: two" }, { event: "e", data: "three" }] });
    }
    // A handler may not take an event larger than the limit allows: the range ends there.
    const limits: number[] = [];
    const d = createSseDecoder(() => {}, 40, (_b, start, limit) => { limits.push(limit - start); return start; });
    d.push(enc.encode(`data: ${"x".repeat(30)}\n\ndata: ${"y".repeat(30)}\n\n`));
    expect(Math.max(...limits)).toBeLessThanOrEqual(40);
  });

  test("a caller that reuses its chunk buffer does not corrupt an event still open", () => {
    const out: SseEvent[] = [];
    const d = createSseDecoder((e) => out.push(e));
    const buf = new Uint8Array(16);
    const feed = (s: string) => { buf.fill(0x7a); const b = enc.encode(s); buf.set(b); d.push(buf.subarray(0, b.length)); };
    feed("data: first\n"); // the line is complete, the event is not
    feed("\n");
    feed("data: x\ndata: ");
    feed("y\n\n");
    expect(out).toEqual([{ data: "first" }, { data: "x\ny" }]);
  });
});
