// SSE bodies for POST /apps/<id>/run: `data: {json}\n\n` frames and `event: ping\n\n`.

import type { App } from "./fixtures";
import { newUuid, sleep } from "./util";

export const PING = "event: ping\n\n";
export const sseData = (obj: unknown): string => `data: ${JSON.stringify(obj)}\n\n`;

export const SSE_HEADERS: Record<string, string> = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache",
  "X-Accel-Buffering": "no",
};

export interface RunContext {
  app: App;
  query: string | undefined;
  inputs: Record<string, unknown>;
  conversationId: string | null; // null for completion / workflow
  now: number; // epoch ms from the injected clock
  /** the files the run received (file inputs and the chat `files` list), as the server resolved them */
  files?: Record<string, unknown>[];
}

function words(s: string): string[] {
  return s.split(/(?<=\s)/).filter((w) => w.length > 0);
}

function usage(prompt: number, completion: number) {
  return {
    prompt_tokens: prompt,
    prompt_unit_price: "0.001",
    prompt_price_unit: "0.001",
    prompt_price: "0.0000",
    completion_tokens: completion,
    completion_unit_price: "0.002",
    completion_price_unit: "0.001",
    completion_price: "0.0000",
    total_tokens: prompt + completion,
    total_price: "0.0000",
    currency: "USD",
    latency: 0.42,
  };
}

/** The deterministic answer an app gives; exported so tests can assert the folded text. */
export function answerFor(app: App, query: string | undefined, inputs: Record<string, unknown>): string {
  const q = (query ?? "").trim();
  switch (app.name) {
    case "Support Chat":
      return inputs.tone === "formal"
        ? `Thank you for your enquiry regarding "${q}". We will assist you shortly.`
        : `Thanks for asking about "${q}"! Here is what I found.`;
    case "Blog Writer":
      return `# ${String(inputs.topic)}\n\n${String(inputs.topic)} is a fascinating subject${inputs.audience ? ` for ${String(inputs.audience)}` : ""}. Here are three things to know.`;
    case "Alice Notes":
      return `Here is your note as prose: ${String(inputs.note)}`;
    case "Helpdesk Flow":
      return `Helpdesk ticket created for: ${q}`;
    case "Research Agent":
      return `After some research: the answer to "${q}" is 42.`;
    case "Flaky Chat":
      return "Let me think about that ";
    default:
      return `Echo from ${app.name}: ${q || JSON.stringify(inputs)}`;
  }
}

export function summarize(inputs: Record<string, unknown>): { summary: string; word_count: number } {
  const text = String(inputs.text ?? "");
  const all = text.split(/\s+/).filter(Boolean);
  const count = typeof inputs.count === "number" ? inputs.count : 5;
  const kept = all.slice(0, Math.max(0, count));
  return { summary: kept.join(" ") + (all.length > kept.length ? " …" : ""), word_count: all.length };
}

/** Yields the raw SSE frames of one run. */
export function* runFrames(ctx: RunContext): Generator<string> {
  const { app, now } = ctx;
  const taskId = newUuid();
  const messageId = newUuid();
  const createdAt = Math.floor(now / 1000);
  const conv = ctx.conversationId;
  const msgBase = () => ({
    task_id: taskId,
    id: messageId,
    message_id: messageId,
    ...(conv ? { conversation_id: conv } : {}),
    created_at: createdAt,
  });
  yield PING;

  if (app.behaviour === "firehose") {
    const n = typeof ctx.inputs.events === "number" ? ctx.inputs.events : (app.firehose?.events ?? 1000);
    const size = typeof ctx.inputs.chunk_size === "number" ? ctx.inputs.chunk_size : (app.firehose?.chunkSize ?? 64);
    const filler = "x".repeat(size);
    for (let i = 0; i < n; i++) {
      if (i > 0 && i % 500 === 0) yield PING;
      const answer = `${String(i).padStart(8, "0")}:${filler}`.slice(0, size);
      yield sseData({ event: "message", ...msgBase(), answer, from_variable_selector: null });
    }
    yield sseData({ event: "message_end", ...msgBase(), metadata: { usage: usage(10, n), retriever_resources: [] }, files: null });
    return;
  }

  if (app.behaviour === "think") {
    yield* thinkFrames(ctx, taskId, msgBase);
    return;
  }

  if (app.mode === "workflow") {
    const runId = newUuid();
    const workflowId = newUuid();
    const wf = (event: string, data: Record<string, unknown>) => sseData({ event, task_id: taskId, workflow_run_id: runId, data });
    const { summary, word_count } = summarize(ctx.inputs);
    const outputs: Record<string, unknown> = ctx.files ? { summary, word_count, files: ctx.files } : { summary, word_count };
    yield wf("workflow_started", { id: runId, workflow_id: workflowId, inputs: ctx.inputs, created_at: createdAt });
    const nodes = [
      { node_id: "start", node_type: "start", title: "Start", outputs: ctx.inputs },
      { node_id: "llm", node_type: "llm", title: "Summarise", outputs: { text: summary } },
      { node_id: "end", node_type: "end", title: "End", outputs },
    ];
    let index = 0;
    for (const n of nodes) {
      index++;
      const execId = newUuid();
      yield wf("node_started", { id: execId, node_id: n.node_id, node_type: n.node_type, title: n.title, index, predecessor_node_id: null, inputs: null, created_at: createdAt });
      if (n.node_id === "llm") {
        for (const w of words(summary)) yield wf("text_chunk", { text: w, from_variable_selector: ["llm", "text"] });
      }
      yield wf("node_finished", {
        id: execId, node_id: n.node_id, node_type: n.node_type, title: n.title, index, predecessor_node_id: null,
        inputs: null, outputs: n.outputs, status: "succeeded", error: null, elapsed_time: 0.01,
        execution_metadata: null, created_at: createdAt, finished_at: createdAt,
      });
    }
    yield wf("workflow_finished", {
      id: runId, workflow_id: workflowId, status: "succeeded", outputs, error: null, elapsed_time: 0.05,
      total_tokens: 42, total_steps: nodes.length, created_by: {}, created_at: createdAt, finished_at: createdAt, files: [],
    });
    return;
  }

  const answer = answerFor(app, ctx.query, ctx.inputs) + (ctx.files?.length ? ` (files: ${ctx.files.map((f) => String(f.filename)).join(", ")})` : "");
  const pieces = words(answer);
  const promptTokens = 20 + words(ctx.query ?? "").length;

  if (app.behaviour === "error_midstream") {
    for (const p of pieces) yield sseData({ event: "message", ...msgBase(), answer: p, from_variable_selector: null });
    yield sseData({
      event: "error",
      task_id: taskId,
      message_id: messageId,
      ...(conv ? { conversation_id: conv } : {}),
      status: 400,
      code: "completion_request_error",
      message: "[fake] model provider error: upstream connection reset",
    });
    return;
  }

  if (app.mode === "advanced-chat") {
    const runId = newUuid();
    const workflowId = newUuid();
    const top = { task_id: taskId, workflow_run_id: runId, conversation_id: conv, message_id: messageId };
    yield sseData({ event: "workflow_started", ...top, data: { id: runId, workflow_id: workflowId, inputs: ctx.inputs, created_at: createdAt } });
    for (const p of pieces) yield sseData({ event: "message", ...msgBase(), answer: p, from_variable_selector: ["llm", "text"] });
    yield sseData({
      event: "workflow_finished", ...top,
      data: { id: runId, workflow_id: workflowId, status: "succeeded", outputs: { answer }, error: null, elapsed_time: 0.05, total_tokens: promptTokens + pieces.length, total_steps: 3, created_at: createdAt, finished_at: createdAt },
    });
    yield sseData({ event: "message_end", ...msgBase(), metadata: { usage: usage(promptTokens, pieces.length), retriever_resources: [] }, files: null });
    return;
  }

  if (app.mode === "agent-chat") {
    const thoughtId = newUuid();
    const thought = (observation: string) => sseData({
      event: "agent_thought", id: thoughtId, task_id: taskId, message_id: messageId, position: 1,
      thought: "I should look this up.", observation, tool: "web_search", tool_labels: {}, tool_input: JSON.stringify({ q: ctx.query ?? "" }),
      created_at: createdAt, message_files: [], ...(conv ? { conversation_id: conv } : {}),
    });
    yield thought("");
    yield thought("Found 3 results.");
    for (const p of pieces) yield sseData({ event: "agent_message", ...msgBase(), answer: p });
    yield sseData({ event: "message_end", ...msgBase(), metadata: { usage: usage(promptTokens, pieces.length), retriever_resources: [] }, files: null });
    return;
  }

  // chat / completion
  let i = 0;
  for (const p of pieces) {
    yield sseData({ event: "message", ...msgBase(), answer: p, from_variable_selector: null });
    if (++i === 2) yield PING;
  }
  yield sseData({ event: "message_end", ...msgBase(), metadata: { usage: usage(promptTokens, pieces.length), retriever_resources: [] }, files: null });
}

/** The reasoning a thinking app shows, and its answer; the tags are split across chunks on purpose. */
export const THINK = {
  chatChunks: (q: string) => ["<thi", "nk>The user asks about ", q, ". Let me reason.</th", "ink>", "The answer to \"", q, "\" is 42."],
  chatAnswer: (q: string) => `The answer to "${q}" is 42.`,
  flowChunks: ["<think>", "Weighing ", "options</thi", "nk>", "Use option B."],
  flowOutput: "<think>Weighing options</think>Use option B.",
} as const;

function* thinkFrames(ctx: RunContext, taskId: string, msgBase: () => Record<string, unknown>): Generator<string> {
  const createdAt = Math.floor(ctx.now / 1000);
  if (ctx.app.mode === "workflow") {
    const runId = newUuid();
    const wf = (event: string, data: Record<string, unknown>) => sseData({ event, task_id: taskId, workflow_run_id: runId, data });
    yield wf("workflow_started", { id: runId, workflow_id: ctx.app.id, inputs: ctx.inputs, created_at: createdAt, reason: "initial" });
    for (const t of THINK.flowChunks) yield wf("text_chunk", { text: t, from_variable_selector: ["llm", "text"] });
    yield wf("workflow_finished", {
      id: runId, workflow_id: ctx.app.id, status: "succeeded", outputs: { answer: THINK.flowOutput }, error: null, elapsed_time: 0.05,
      total_tokens: 12, total_steps: 3, created_by: {}, created_at: createdAt, finished_at: createdAt, files: [],
    });
    return;
  }
  for (const a of THINK.chatChunks((ctx.query ?? "").trim())) yield sseData({ event: "message", ...msgBase(), answer: a, from_variable_selector: null });
  yield sseData({ event: "message_end", ...msgBase(), metadata: { retriever_resources: [] }, files: null });
}

/** Stream frames from a generator, batching up to ~32 KiB per write. */
export function framesResponse(frames: Iterator<string>, headers: Record<string, string>, status = 200): Response {
  const enc = new TextEncoder();
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(controller) {
        let buf = "";
        while (buf.length < 32 * 1024) {
          const r = frames.next();
          if (r.done) {
            if (buf) controller.enqueue(enc.encode(buf));
            controller.close();
            return;
          }
          buf += r.value;
        }
        controller.enqueue(enc.encode(buf));
      },
    }),
    { status, headers: { ...SSE_HEADERS, ...headers } },
  );
}

/** Raw chunks with an optional delay between them (fault injection). */
export function rawChunksResponse(
  chunks: string[],
  opts: { chunkDelayMs?: number; status?: number; headers?: Record<string, string>; thenDrop?: boolean },
  signal: AbortSignal,
): Response {
  const enc = new TextEncoder();
  let i = 0;
  return new Response(
    new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (i > 0 && opts.chunkDelayMs) await sleep(opts.chunkDelayMs);
        if (signal.aborted) {
          controller.close();
          return;
        }
        if (i < chunks.length) {
          controller.enqueue(enc.encode(chunks[i++]!));
          return;
        }
        if (opts.thenDrop) {
          await sleep(10); // let the chunks already queued reach the socket first
          controller.error(undefined);
        } else controller.close();
      },
    }),
    { status: opts.status ?? 200, headers: { ...SSE_HEADERS, ...(opts.headers ?? {}) } },
  );
}
