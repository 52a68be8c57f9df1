// Server-sent events: bytes in, complete events out. Lines, fields, comments and dispatch are
// eventsource-parser's (a maintained WHATWG implementation); this module only decodes the bytes,
// bounds memory and maps transport failures to the CLI's error codes.
import { createParser, type EventSourceParser } from "eventsource-parser";
import { CliError } from "../cli/errors.ts";
import { envTimeoutMs } from "./http-client.ts";

export interface SseEvent {
  /** The `event:` field, if the server sent one (Dify mostly puts the name inside the JSON). */
  event?: string;
  data: string;
}

/** One event or one line may not exceed this: a hostile or broken server must not exhaust memory. */
export const MAX_EVENT_BYTES = 16 << 20;

export interface SseDecoder {
  /** Feeds raw bytes; every event completed by them is passed on before this returns. */
  push(bytes: Uint8Array): void;
  /** End of stream: an unterminated last event is dropped, as the SSE spec requires. */
  end(): void;
}

/**
 * `maxEventBytes` bounds what is held for one unfinished line plus the event's data (counted in
 * decoded UTF-16 units, never more than the bytes that made them).
 */
export function createSseDecoder(onEvent: (e: SseEvent) => void, maxEventBytes = MAX_EVENT_BYTES): SseDecoder {
  // The stream decoder keeps a character split across chunks whole, and drops the BOM a stream
  // may start with (the one place SSE allows it).
  const text = new TextDecoder("utf-8");
  let tooLarge = false;
  let endsWithCR = false;
  const parser: EventSourceParser = createParser({
    onEvent: (e) => onEvent(e.event === undefined ? { data: e.data } : { event: e.event, data: e.data }),
    onError: (e) => {
      // Unknown fields and bad `retry:` values are ignored, as a browser does; only size is fatal.
      if (e.type === "max-buffer-size-exceeded") tooLarge = true;
    },
    maxBufferSize: maxEventBytes,
  });
  const feed = (s: string) => {
    if (s === "") return;
    endsWithCR = s.charCodeAt(s.length - 1) === 13;
    parser.feed(s);
    if (tooLarge) throw new CliError("unknown", `the server sent an event larger than ${Math.max(1, maxEventBytes >> 20)} MiB`);
  };
  return {
    push: (bytes) => feed(text.decode(bytes, { stream: true })),
    end() {
      feed(text.decode());
      // The parser holds a final CR back in case an LF follows; at the end of the stream it ends a line.
      if (endsWithCR) feed("\n");
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
