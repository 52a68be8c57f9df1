// Server-sent events: bytes in, complete events out. The framing rules (CRLF/LF/CR, multi-line
// data, comments, BOM, frames split anywhere) are eventsource-parser's; this module adds the
// UTF-8 decoding across chunk boundaries, a memory cap and the read loop.
import { createParser } from "eventsource-parser";
import { CliError } from "./errors.ts";
import { envTimeoutMs } from "./http-client.ts";

export interface SseEvent {
  /** The `event:` field, if the server sent one (Dify mostly puts the name inside the JSON). */
  event?: string;
  data: string;
}

/** One event or one line may not exceed this: a hostile or broken server must not exhaust memory. */
export const MAX_EVENT_CHARS = 16 << 20;

export interface SseDecoder {
  /** Feeds raw bytes; every event completed by them is passed to onEvent before this returns. */
  push(bytes: Uint8Array): void;
  /** End of stream: an unterminated last event is dropped, as the SSE spec requires. */
  end(): void;
}

export function createSseDecoder(onEvent: (e: SseEvent) => void, maxEventChars = MAX_EVENT_CHARS): SseDecoder {
  // stream:true keeps a multi-byte character that straddles two chunks until its last byte arrives.
  // The default decoder also strips one leading BOM, as the SSE spec asks.
  const text = new TextDecoder("utf-8");
  let overflow = false;
  const parser = createParser({
    // The parser's own message object is passed on: one allocation less per event.
    onEvent,
    onError: (e) => { if (e.type === "max-buffer-size-exceeded") overflow = true; },
    maxBufferSize: maxEventChars,
  });
  const check = () => {
    if (overflow) throw new CliError("unknown", `the server sent an event larger than ${maxEventChars >> 20} MiB`);
  };
  let lastCR = false;
  const feed = (s: string) => {
    if (!s) return;
    parser.feed(s);
    lastCR = s.charCodeAt(s.length - 1) === 13;
    check();
  };
  return {
    push(bytes) {
      feed(text.decode(bytes, { stream: true }));
    },
    end() {
      feed(text.decode());
      // The parser holds a final \r back in case \n follows; at the end it is a line end.
      if (lastCR) feed("\n");
    },
  };
}

export interface ReadSseOptions {
  signal?: AbortSignal;
  /** No byte for this long → network_timeout (the header deadline no longer applies to a stream). */
  idleMs?: number;
  /** Called after each network chunk has been decoded: lets the caller batch its output per chunk. */
  onChunkDone?: () => void | Promise<void>;
}

/**
 * Reads a response body to its end, calling onEvent for every event. Ctrl-C (signal) becomes
 * `cancelled`; a dropped connection becomes `network_connection`.
 */
export async function readSse(body: ReadableStream<Uint8Array>, onEvent: (e: SseEvent) => void, o: ReadSseOptions = {}): Promise<void> {
  const decoder = createSseDecoder(onEvent);
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
