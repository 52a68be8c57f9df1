// Server-sent events: bytes in, complete events out. A byte-level scanner (WHATWG "event stream
// interpretation"): lines end at CRLF, LF or CR, a blank line dispatches, `:` lines are comments,
// one leading BOM is skipped. It works on bytes rather than decoded text because decoding every
// chunk and re-splitting strings was most of the cost of a long answer (see README, BENCHMARKS):
// lines are found with the native byte search, and only the values that are used get decoded,
// so a UTF-8 character can never be split (no line end byte occurs inside a multi-byte character).
// tests/sse-unit.test.ts checks it against eventsource-parser on the same inputs.
import { CliError } from "../cli/errors.ts";
import { envTimeoutMs } from "./http-client.ts";

export interface SseEvent {
  /** The `event:` field, if the server sent one (Dify mostly puts the name inside the JSON). */
  event?: string;
  data: string;
}

/**
 * The bulk fast path. Called at an event boundary (no line or event open) with the bytes
 * b[start, limit) that follow; `limit` is before the next CR, so every line in the range ends in
 * LF. The handler may take whole events from `start` on, each exactly `data:` [space] <value> LF
 * LF, as if they had been dispatched as { data: <value> }, and returns the offset after the last
 * one it took (`start` when none). The bytes are only valid during the call.
 */
export type RawRunHandler = (bytes: Uint8Array, start: number, limit: number) => number;

/** One event or one line may not exceed this: a hostile or broken server must not exhaust memory. */
export const MAX_EVENT_BYTES = 16 << 20;

export interface SseDecoder {
  /** Feeds raw bytes; every event completed by them is passed on before this returns. */
  push(bytes: Uint8Array): void;
  /** End of stream: an unterminated last event is dropped, as the SSE spec requires. */
  end(): void;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;
// ignoreBOM: a U+FEFF at the start of a value is content; only the stream's first BOM is skipped (below).
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** b[s, e) starts with "data:". */
function isDataField(b: Uint8Array, s: number, e: number): boolean {
  return e - s >= 5 && b[s] === 100 && b[s + 1] === 97 && b[s + 2] === 116 && b[s + 3] === 97 && b[s + 4] === COLON;
}

/** A growable byte buffer: holds a line that arrives in pieces without quadratic copying. */
class ByteBuffer {
  bytes = new Uint8Array(256);
  length = 0;
  append(b: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (this.length + n > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(b.subarray(start, end), this.length);
    this.length += n;
  }
}

export function createSseDecoder(onEvent: (e: SseEvent) => void, maxEventBytes = MAX_EVENT_BYTES, onRawRun?: RawRunHandler): SseDecoder {
  const tooLarge = () => new CliError("unknown", `the server sent an event larger than ${Math.max(1, maxEventBytes >> 20)} MiB`);
  // The current event: its first data line is kept as bytes (it is usually the only one, and is
  // then decoded once, at dispatch); a second data line turns it into text.
  let lines = 0;
  let firstBytes: Uint8Array | null = null;
  let firstStart = 0;
  let firstEnd = 0;
  let text = "";
  let dataBytes = 0;
  let eventName: string | undefined;
  // A line that has not ended yet in the bytes seen so far.
  const partial = new ByteBuffer();
  let skipLF = false; // the last chunk ended with CR: an LF first in the next one belongs to it
  let atStart = true; // before the first line: a BOM may still be there

  const dispatch = () => {
    if (lines > 0) {
      const data = lines === 1 ? utf8.decode(firstBytes!.subarray(firstStart, firstEnd)) : text;
      onEvent(eventName === undefined ? { data } : { event: eventName, data });
    }
    lines = 0;
    firstBytes = null;
    text = "";
    dataBytes = 0;
    eventName = undefined;
  };

  /** The first data line outlives the buffer it was found in: copy it (once per chunk at most). */
  const keepFirst = () => {
    firstBytes = firstBytes!.slice(firstStart, firstEnd);
    firstStart = 0;
    firstEnd = firstBytes.length;
  };

  const line = (b: Uint8Array, s: number, e: number) => {
    if (atStart) {
      atStart = false;
      if (e - s >= 3 && b[s] === 0xef && b[s + 1] === 0xbb && b[s + 2] === 0xbf) s += 3;
    }
    if (s === e) return dispatch();
    if (b[s] === COLON) return; // a comment (keep-alive)
    // "data:" — nearly every line — is matched without looking for the colon.
    let v: number;
    let isData = false;
    if (isDataField(b, s, e) || (e - s === 4 && b[s] === 100 && b[s + 1] === 97 && b[s + 2] === 116 && b[s + 3] === 97)) {
      isData = true;
      v = s + 4;
    } else {
      v = s;
      while (v < e && b[v] !== COLON) v++;
    }
    const nameEnd = v;
    if (v < e) {
      v++; // the colon
      if (v < e && b[v] === SPACE) v++;
    }
    if (isData) {
      dataBytes += e - v + 1;
      if (dataBytes > maxEventBytes) throw tooLarge();
      if (lines === 0) {
        firstBytes = b;
        firstStart = v;
        firstEnd = e;
      } else {
        if (lines === 1) text = utf8.decode(firstBytes!.subarray(firstStart, firstEnd));
        text += "\n" + utf8.decode(b.subarray(v, e));
      }
      lines++;
      if (lines === 1 && b === partial.bytes) keepFirst(); // that buffer is reused for the next line
    } else if (nameEnd - s === 5 && b[s] === 101 && b[s + 1] === 118 && b[s + 2] === 101 && b[s + 3] === 110 && b[s + 4] === 116) {
      // event:
      const name = utf8.decode(b.subarray(v, e));
      eventName = name === "" ? undefined : name;
    }
    // id:, retry: and unknown fields do not matter to a stream that is never reconnected.
  };

  return {
    push(b) {
      scan(b);
      // An event still open keeps its first line: the caller may reuse this chunk's memory.
      if (lines === 1 && firstBytes === b) keepFirst();
    },
    end() {
      // An unterminated last line or event is dropped (SSE spec: only a blank line dispatches).
      partial.length = 0;
    },
  };

  function scan(b: Uint8Array): void {
    let p = 0;
    const n = b.length;
    if (skipLF && n > 0) {
      skipLF = false;
      if (b[0] === LF) p = 1;
    }
    // The next CR, looked up once and reused until passed: most streams have none at all.
    let cr = b.indexOf(CR, p);
    while (p < n) {
      if (cr !== -1 && cr < p) cr = b.indexOf(CR, p);
      if (onRawRun && partial.length === 0 && lines === 0 && eventName === undefined && !atStart) {
        // No event taken is larger than maxEventBytes: none reaches past start + maxEventBytes.
        const q = onRawRun(b, p, Math.min(cr === -1 ? n : cr, p + maxEventBytes));
        if (q > p) {
          p = q;
          continue;
        }
      }
      let end = b.indexOf(LF, p);
      if (cr !== -1 && (end === -1 || cr < end)) end = cr;
      if (end === -1) {
        if (partial.length + n - p > maxEventBytes) throw tooLarge();
        partial.append(b, p, n);
        return;
      }
      if (partial.length) {
        partial.append(b, p, end);
        const len = partial.length;
        partial.length = 0;
        line(partial.bytes, 0, len);
      } else if (b[end + 1] === LF && b[end] === LF && lines === 0 && eventName === undefined && !atStart && isDataField(b, p, end)) {
        // The frame nearly every event is: "data: …" LF LF, whole in this chunk. Same result as
        // line() then dispatch(), without the bookkeeping (measured: ~20% of a long answer).
        let v = p + 5;
        if (b[v] === SPACE) v++;
        if (end - v + 1 > maxEventBytes) throw tooLarge();
        onEvent({ data: utf8.decode(b.subarray(v, end)) });
        p = end + 2;
        continue;
      } else {
        line(b, p, end);
      }
      p = end + 1;
      if (b[end] === CR) {
        if (p < n) {
          if (b[p] === LF) p++;
        } else {
          skipLF = true;
        }
      }
    }
  }
}

export interface ReadSseOptions {
  signal?: AbortSignal;
  /** No byte for this long → network_timeout (the header deadline no longer applies to a stream). */
  idleMs?: number;
  /** Called after each network chunk has been decoded: lets the caller batch its output per chunk. */
  onChunkDone?: () => void | Promise<void>;
  /** See RawRunHandler. */
  onRawRun?: RawRunHandler;
}

/**
 * Reads a response body to its end, calling onEvent for every event. Ctrl-C (signal) becomes
 * `cancelled`; a dropped connection becomes `network_connection`.
 */
export async function readSse(body: ReadableStream<Uint8Array>, onEvent: (e: SseEvent) => void, o: ReadSseOptions = {}): Promise<void> {
  const decoder = createSseDecoder(onEvent, MAX_EVENT_BYTES, o.onRawRun);
  const reader = body.getReader();
  let idle = false;
  let last = Date.now();
  // One coarse timer instead of one per chunk: a fast stream pays nothing for the idle check.
  // DIFY_HTTP_TIMEOUT, when set, is also the longest silence a stream may keep.
  const idleMs = o.idleMs ?? envTimeoutMs() ?? 300_000;
  const timer = setInterval(() => {
    if (Date.now() - last >= idleMs) { idle = true; reader.cancel().catch(() => {}); }
  }, Math.min(idleMs, 1000));
  // Not every body is tied to the fetch signal (and Bun may end it quietly): cancel it ourselves.
  const onAbort = () => { reader.cancel().catch(() => {}); };
  o.signal?.addEventListener("abort", onAbort, { once: true });
  let finished = false;
  try {
    for (;;) {
      let r: { done: boolean; value?: Uint8Array };
      try {
        r = await reader.read();
      } catch (e) {
        if (o.signal?.aborted) throw new CliError("cancelled", "cancelled");
        if (idle) throw idleError(idleMs);
        if (e instanceof CliError) throw e;
        throw new CliError("network_connection", "the connection dropped during the stream", { hint: "try again" });
      }
      if (r.done || !r.value) { finished = true; break; }
      last = Date.now();
      decoder.push(r.value);
      if (o.onChunkDone) await o.onChunkDone();
    }
    if (o.signal?.aborted) throw new CliError("cancelled", "cancelled");
    if (idle) throw idleError(idleMs);
    decoder.end();
  } finally {
    clearInterval(timer);
    o.signal?.removeEventListener("abort", onAbort);
    // Stopped early (an error, or the caller gave up): close the connection instead of draining it.
    if (!finished) reader.cancel().catch(() => {});
    try { reader.releaseLock(); } catch { /* a pending read keeps the lock; nothing to release */ }
  }
}

function idleError(ms: number): CliError {
  return new CliError("network_timeout", `the server sent nothing for ${Math.round(ms / 1000)} s during the stream`, { hint: "check the network and the app's status in Dify" });
}
