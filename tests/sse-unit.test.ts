import { describe, expect, test } from "bun:test";
import { CliError } from "../src/cli/errors.ts";
import { createSseDecoder, readSse, type SseEvent } from "../src/http/sse.ts";
import { Rng } from "./stress/lib.ts";

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
    // Only at the very start: later it is part of a field name ("\uFEFFdata" is no field).
    expect(decodeAllWays("data: a\n\n\uFEFFdata: b\n\ndata: c\n\n")).toEqual([{ data: "a" }, { data: "c" }]);
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

describe("SSE decoding agrees with a reference reading of the spec", () => {
  /**
   * The WHATWG event-stream rules read as plainly as possible, on the whole input at once: an
   * independent oracle for the streaming decoder (which is eventsource-parser behind a byte decoder).
   */
  function reference(bytes: Uint8Array): SseEvent[] {
    const lines = new TextDecoder().decode(bytes).split(/\r\n|\r|\n/); // the decoder drops one leading BOM
    lines.pop(); // the text after the last line end is no line
    const out: SseEvent[] = [];
    let data: string[] = [];
    let event = "";
    for (const line of lines) {
      if (line === "") {
        if (data.length) out.push(event ? { event, data: data.join("\n") } : { data: data.join("\n") });
        data = [];
        event = "";
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
    }
    return out;
  }

  test("the reference itself, on fixed vectors", () => {
    expect(reference(enc.encode("data: a\r\ndata:b\r\revent: e\ndata\n\n: c\nid: 1\nretry: x\n\ndata: cut"))).toEqual([{ data: "a\nb" }, { event: "e", data: "" }]);
  });

  // Streams built line by line: a field (or not), a value made of a few pieces, a line end.
  const fields = ["data: ", "data: ", "data: ", "data:", "data", "event: ", "event:", "event", "id: ", "retry: ", ": ", ":", "foo: ", "", "dat", "Data: "];
  const values = ["x", "{\"event\":\"message\",\"answer\":\"hi\"}", " ", ":", "é", "你", "🙂", "ping", "\u0000", "data: ", "\uFEFF"];
  const ends = ["\n", "\n", "\r\n", "\r"];
  // Bytes that are not UTF-8: a lone continuation byte, a cut 3-byte character, an invalid lead.
  const badBytes = [[0x80], [0xe4, 0xbd], [0xff], [0xf0, 0x9f, 0x99]];

  test("on 5000 random streams, in random chunkings", () => {
    const rng = new Rng(12345);
    const rnd = (n: number) => rng.int(n);
    for (let run = 0; run < 5000; run++) {
      const parts: Uint8Array[] = [];
      if (rnd(10) === 0) parts.push(new Uint8Array([0xef, 0xbb, 0xbf]));
      const lines = 1 + rnd(12);
      for (let i = 0; i < lines; i++) {
        if (rnd(3) === 0) { parts.push(enc.encode(ends[rnd(ends.length)])); continue; } // a blank line: dispatch
        parts.push(enc.encode(fields[rnd(fields.length)]));
        for (let k = rnd(3); k > 0; k--) parts.push(rnd(12) === 0 ? new Uint8Array(badBytes[rnd(badBytes.length)]) : enc.encode(values[rnd(values.length)]));
        parts.push(enc.encode(ends[rnd(ends.length)]));
      }
      const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
      const size = [1, 2, 3, 5, 8, 64, 1000, 1000][rnd(8)];
      const s = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      expect({ s, size, events: decode(bytes, size) }).toEqual({ s, size, events: reference(bytes) });
    }
  });

  test("a stream cut at every byte gives the same events", () => {
    const tricky = enc.encode("data: one\n\ndata: data: two\n\n:data: c\n\nevent: e\r\ndata: three\r\n\r\ndata: é🙂\r\r");
    for (let cut = 0; cut <= tricky.length; cut++) {
      const events: SseEvent[] = [];
      const d = createSseDecoder((e) => events.push(e));
      d.push(tricky.subarray(0, cut));
      d.push(tricky.subarray(cut));
      d.end();
      expect({ cut, events }).toEqual({ cut, events: [{ data: "one" }, { data: "data: two" }, { event: "e", data: "three" }, { data: "é🙂" }] });
    }
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
