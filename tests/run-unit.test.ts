import { describe, expect, test } from "bun:test";
import { ACCOUNT_CMDS, appError, checkAppId, describeApp, fetchPages } from "../src/apps/app-api.ts";
import { listFlags, shortDate } from "../src/apps/app-list.ts";
import { checkRunShape, streamRun, type OutputMode } from "../src/apps/app-run.ts";
import { appDetail } from "../src/apps/app-view.ts";
import type { Ctx } from "../src/cli/context.ts";
import { CliError } from "../src/cli/errors.ts";
import { checkInputs, inputsError, readInputs, schemaFields } from "../src/apps/input-schema.ts";
import { RunFold, streamLine, toDifyEvent } from "../src/apps/run-fold.ts";
import { MAX_JSON_DEPTH, nestedDeeperThan, parseServerJson } from "../src/http/bounded-json.ts";
import { HttpClient } from "../src/http/http-client.ts";
import { createSseDecoder } from "../src/http/sse.ts";
import { cleanCell, cleanText, renderTable } from "../src/ui/table.ts";
import { createFixtures, IDS, inputSchema, type App } from "./fake/fixtures.ts";
import { answerFor, PING as PING_FRAME, runFrames, summarize } from "./fake/sse.ts";
import { Rng } from "./stress/lib.ts";

const apps = createFixtures().apps;
const app = (id: string) => apps.find((a) => a.id === id)!;
const CONV = "11111111-2222-4333-8444-555555555555";
const enc = new TextEncoder();

/** The fake server's frames for one run, through the real decoder in 1-byte chunks, folded. */
function foldRun(a: App, query: string | undefined, inputs: Record<string, unknown>, conv: string | null = null): RunFold {
  const text = [...runFrames({ app: a, query, inputs, conversationId: conv, now: Date.UTC(2026, 0, 1) })].join("");
  const fold = new RunFold();
  const d = createSseDecoder((e) => { const ev = toDifyEvent(e); if (ev) fold.push(ev); });
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i++) d.push(bytes.subarray(i, i + 1));
  d.end();
  return fold;
}

const ev = (data: Record<string, unknown>, event?: string) => toDifyEvent({ data: JSON.stringify(data), ...(event ? { event } : {}) })!;

describe("folding run events", () => {
  test("chat: answer, ids and usage; pings ignored", () => {
    const a = app(IDS.apps.supportChat);
    const r = foldRun(a, "reset password", {}, CONV).result();
    expect(r).toMatchObject({ status: "succeeded", answer: answerFor(a, "reset password", {}), conversation_id: CONV, usage: { total_tokens: expect.any(Number) } });
    expect(r.message_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.outputs).toBeUndefined();
  });

  test("completion: answer without a conversation", () => {
    const a = app(IDS.apps.blogWriter);
    const r = foldRun(a, undefined, { topic: "llamas" }).result();
    expect(r.status).toBe("succeeded");
    expect(r.answer).toBe(answerFor(a, undefined, { topic: "llamas" }));
    expect(r.conversation_id).toBeUndefined();
  });

  test("workflow: outputs, run id and status from workflow_finished", () => {
    const inputs = { text: "one two three four five six seven", count: 3 };
    const f = foldRun(app(IDS.apps.summarizer), undefined, inputs);
    const r = f.result();
    expect(r).toMatchObject({ status: "succeeded", outputs: summarize(inputs), usage: { total_tokens: 42 } });
    expect(r.answer).toBeUndefined();
    expect(r.workflow_run_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(f.streamedText).toBe(summarize(inputs).summary);
    expect(f.failure()).toBeNull();
  });

  test("chatflow (advanced-chat) and agent: an answer, not outputs", () => {
    for (const id of [IDS.apps.sideHelpdesk, IDS.apps.researchAgent]) {
      const a = app(id);
      const r = foldRun(a, "hi", {}, CONV).result();
      expect(r.status).toBe("succeeded");
      expect(r.answer).toBe(answerFor(a, "hi", {}));
      expect(r.outputs).toBeUndefined();
    }
  });

  test("an error event after some text: status failed, partial answer kept, exit code by the event's status", () => {
    const f = foldRun(app(IDS.apps.flakyChat), "hi", {}, CONV);
    const r = f.result();
    expect(r.status).toBe("failed");
    expect(r.answer).toBe("Let me think about that ");
    expect(r.error).toEqual({ code: "completion_request_error", message: expect.stringContaining("upstream"), status: 400 });
    const e = f.failure()!;
    expect(e.code).toBe("server_4xx_other");
    expect(e.httpStatus).toBe(400);
    expect(e.exitCode).toBe(1);
    for (const [status, code] of [[500, "server_5xx"], [429, "rate_limited"], [undefined, "server_5xx"]] as const) {
      const g = new RunFold();
      g.push(ev({ event: "error", message: "boom", ...(status ? { status } : {}) }));
      expect(g.failure()!.code).toBe(code);
    }
  });

  test("a stream that ends early is incomplete (network_connection), a failed workflow is an error", () => {
    const f = new RunFold();
    f.push(ev({ event: "message", answer: "half" }));
    expect(f.result()).toMatchObject({ status: "incomplete", answer: "half" });
    expect(f.failure()!.code).toBe("network_connection");
    const w = new RunFold();
    w.push(ev({ event: "workflow_started", workflow_run_id: "r1", data: { id: "r1" } }));
    w.push(ev({ event: "workflow_finished", workflow_run_id: "r1", data: { status: "failed", error: "node llm failed", outputs: null } }));
    expect(w.result()).toMatchObject({ status: "failed", outputs: null, error: { message: "node llm failed" } });
    expect(w.failure()!.message).toContain("node llm failed");
  });

  test("message_replace replaces the answer; a transport event name wins; ping frames are dropped", () => {
    const f = new RunFold();
    f.push(ev({ event: "message", answer: "bad words" }));
    expect(f.push(ev({ event: "message_replace", answer: "clean" }))).toBe("\nclean");
    f.push(ev({ event: "message_end" }));
    expect(f.result().answer).toBe("clean");
    expect(toDifyEvent({ event: "ping", data: "" })).toBeNull();
    expect(toDifyEvent({ data: '{"event":"ping"}' })).toBeNull();
    expect(toDifyEvent({ event: "custom", data: '{"x":1}' })!.name).toBe("custom");
    expect(toDifyEvent({ data: '{"event":"message","answer":"a"}' })!.name).toBe("message");
  });

  test("folding random streams: the answer is the frames' answers in order, whatever the chunking", () => {
    const rng = new Rng(99);
    const answers = ["tok ", "", "é", "你好", "🙂", 'q"uote', "back\\slash", "new\nline", "tab\t", "\u2028", "<b>", "data: x\n\n", "\r"];
    for (let run = 0; run < 300; run++) {
      const parts: Uint8Array[] = [];
      // What a straightforward reading of the events gives, next to the bytes that carry them.
      let expected = "";
      for (let i = 0, n = 1 + rng.int(40); i < n; i++) {
        const r = rng.int(20);
        const end = rng.chance(0.2) ? "\r\n" : "\n";
        if (r === 0) parts.push(enc.encode(PING_FRAME));
        else if (r === 1) parts.push(enc.encode(`data: ${JSON.stringify({ event: "workflow_started", workflow_run_id: "w" })}${end}${end}`));
        else if (r === 2) {
          // Invalid UTF-8 inside an answer: replacement characters, the same in every chunking.
          parts.push(new Uint8Array([...enc.encode(`data: {"event":"message","answer":"x`), 0xe4, 0xbd, ...enc.encode(`"}${end}${end}`)]));
          expected += "x\uFFFD";
        } else if (r === 3) {
          const a = answers[rng.int(answers.length)];
          parts.push(enc.encode(`data: ${JSON.stringify({ event: "message_replace", answer: a })}${end}${end}`));
          expected = a;
        } else if (r === 4) {
          // JSON over several data: lines (legal whitespace between tokens).
          const a = answers[rng.int(answers.length)];
          parts.push(enc.encode(`data: {"event":"message",${end}data: "answer":${JSON.stringify(a)}}${end}${end}`));
          expected += a;
        } else {
          const a = Array.from({ length: rng.int(3) }, () => answers[rng.int(answers.length)]).join("");
          const event = r < 12 ? "message" : "agent_message";
          parts.push(enc.encode(`${rng.chance(0.1) ? ": keep-alive\n" : ""}data: ${JSON.stringify({ event, conversation_id: "c1", message_id: "m1", answer: a })}${end}${end}`));
          expected += a;
        }
      }
      if (rng.chance(0.5)) parts.push(enc.encode(`data: ${JSON.stringify({ event: "message_end", id: "m1", metadata: { usage: { total_tokens: 3 } } })}\n\n`));
      const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
      const fold = (size: number) => {
        const f = new RunFold();
        const d = createSseDecoder((e) => { const ev = toDifyEvent(e); if (ev) f.push(ev); });
        for (let i = 0; i < bytes.length; i += size) d.push(bytes.subarray(i, i + size));
        d.end();
        return f.result();
      };
      const whole = fold(1 << 30);
      expect({ run, answer: whole.answer ?? "" }).toEqual({ run, answer: expected });
      const size = [1, 3, 17, 64, 300][rng.int(5)];
      expect({ run, size, r: fold(size) }).toEqual({ run, size, r: whole });
    }
  });

  test("--stream lines: the server's JSON untouched, names added when missing, non-JSON wrapped", () => {
    const raw = '{"event":"message","answer":"a"}';
    expect(streamLine(toDifyEvent({ data: raw })!)).toBe(raw);
    expect(JSON.parse(streamLine(toDifyEvent({ event: "x", data: '{"a":1}' })!))).toEqual({ event: "x", a: 1 });
    expect(JSON.parse(streamLine(toDifyEvent({ event: "note", data: "plain\ntext" })!))).toEqual({ event: "note", data: "plain\ntext" });
    expect(streamLine(toDifyEvent({ data: '{"event":"message",\n"answer":"a"}' })!)).not.toContain("\n");
  });
});

describe("input validation", () => {
  const blog = inputSchema(app(IDS.apps.blogWriter));
  const summ = inputSchema(app(IDS.apps.summarizer));
  const chat = inputSchema(app(IDS.apps.supportChat));

  test("valid inputs pass", () => {
    expect(checkInputs(blog, { topic: "llamas" })).toEqual([]);
    expect(checkInputs(summ, { text: "x", count: 3 })).toEqual([]);
    expect(checkInputs(chat, { tone: "formal" })).toEqual([]);
    expect(checkInputs(null, { anything: 1 })).toEqual([]);
  });

  test("missing required (absent, null or empty string)", () => {
    for (const v of [{}, { topic: null }, { topic: "" }]) {
      expect(checkInputs(blog, v)).toEqual([{ field: "topic", kind: "missing", message: "'topic' is required" }]);
    }
  });

  test("wrong type, enum, max length, unknown field: all reported at once", () => {
    const p = checkInputs(summ, { text: 42, count: 2.5, extra: true });
    expect(p.map((x) => [x.field, x.kind])).toEqual([["text", "invalid"], ["count", "invalid"], ["extra", "unknown"]]);
    expect(p[1].message).toBe("'count' must be integer, got a number");
    expect(checkInputs(summ, { text: "x", count: "3" })[0].message).toBe("'count' must be integer, got a string");
    expect(checkInputs(chat, { tone: "rude" })[0].message).toContain('"friendly", "formal"');
    expect(checkInputs(blog, { topic: "é".repeat(257) })[0].message).toContain("at most 256");
    expect(checkInputs(blog, { topic: "é".repeat(256) })).toEqual([]);
  });

  test("the error: exit 2, usage_missing_arg only when everything is missing, hint lists the fields", () => {
    const fields = schemaFields(blog);
    const missing = inputsError(checkInputs(blog, {}), "app-1", fields);
    expect(missing.code).toBe("usage_missing_arg");
    expect(missing.exitCode).toBe(2);
    expect(missing.hint).toContain("topic*, audience");
    const bad = inputsError(checkInputs(blog, { topic: 1 }), "app-1", fields);
    expect(bad.code).toBe("usage_invalid_flag");
  });

  test("reading --inputs: JSON, @file, - (stdin); bad JSON, non-objects and missing files are usage errors", async () => {
    const io = {
      readFile: async (p: string) => { if (p !== "in.json") throw Object.assign(new Error("no"), { code: "ENOENT" }); return '{"a":1}'; },
      readStdin: async () => '{"b":2}',
    };
    expect(await readInputs(undefined, io)).toEqual({});
    expect(await readInputs('{"c":3}', io)).toEqual({ c: 3 });
    expect(await readInputs("@in.json", io)).toEqual({ a: 1 });
    expect(await readInputs("-", io)).toEqual({ b: 2 });
    for (const bad of ["{nope", "[1,2]", "3", "null", "@missing.json", "@"]) {
      let err: unknown;
      try { await readInputs(bad, io); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(2);
      // The flag is named once, and where the text came from when it was not the argument itself.
      expect((err as CliError).message.split("--inputs").length - 1).toBe(1);
    }
    const fromStdin = await readInputs("-", { ...io, readStdin: async () => "{nope" }).catch((e) => e as CliError);
    expect(fromStdin.message).toStartWith("--inputs (read from stdin) is not valid JSON");
  });

  test("run shape: chat needs a query, workflows take none, conversations only for chat", () => {
    expect(() => checkRunShape("chat", undefined, undefined, "a")).toThrow(/needs a query/);
    expect(() => checkRunShape("advanced-chat", "  ", undefined, "a")).toThrow(/needs a query/);
    expect(() => checkRunShape("workflow", "q", undefined, "a")).toThrow(/not a query/);
    expect(() => checkRunShape("completion", undefined, CONV, "a")).toThrow(/chat apps only/);
    expect(() => checkRunShape("chat", "q", CONV, "a")).not.toThrow();
    expect(() => checkRunShape("completion", undefined, undefined, "a")).not.toThrow();
  });
});

describe("flags, errors and views", () => {
  test("--limit: whole numbers 1..5000; --mode from the enum", () => {
    expect(listFlags({}).limit).toBe(200);
    expect(listFlags({ limit: "5000" }).limit).toBe(5000);
    for (const bad of ["0", "-1", "abc", "5001", "1.5", "1e3"]) expect(() => listFlags({ limit: bad })).toThrow(/--limit/);
    expect(() => listFlags({ mode: "bogus" })).toThrow(/--mode/);
    expect(checkAppId(" c0000000-0000-4000-8000-000000000001 ")).toBe("c0000000-0000-4000-8000-000000000001");
    for (const bad of ["", "../x", "a b", "x".repeat(129)]) expect(() => checkAppId(bad)).toThrow(CliError);
  });

  test("pre-stream 4xx bodies become clear errors with the server code kept", () => {
    const q = appError(422, { code: "invalid_param", message: "query_required_for_chat", status: 422 }, "app-1");
    expect(q.code).toBe("server_4xx_other");
    expect(q.message).toBe("this is a chat app: it needs a query");
    expect(q.httpStatus).toBe(422);
    expect(q.details).toEqual({ server_code: "invalid_param", server_message: "query_required_for_chat" });
    const u = appError(400, { code: "app_unavailable", message: "App unavailable, please check your app configurations.", status: 400 }, "app-1");
    expect(u.message).toContain("unavailable");
    expect(appError(403, { code: "forbidden", message: "service_api_disabled", status: 403 }, "x").hint).toContain("enable API access");
    const other = appError(409, { code: "conflict", message: "something new", status: 409 }, "x");
    expect(other.message).toContain("something new");
    expect(other.exitCode).toBe(1);
  });

  test("terminal text never carries escape sequences", () => {
    expect(cleanCell("evil\u001b[2Jname\nnext")).toBe("evil[2Jname next");
    expect(cleanText("line\u001b]0;title\u0007\n\tok")).toBe("line]0;title\n\tok");
    const t = renderTable(["ID", "NAME"], [["1", "a\u001b[31mred"], ["22", "b"]]);
    expect(t).toBe("ID  NAME\n1   a[31mred\n22  b\n");
  });

  test("get app view: fields, required marks, and how to run it", () => {
    const a = app(IDS.apps.blogWriter);
    const out = appDetail({ info: { id: a.id, name: a.name, mode: a.mode, description: a.description }, parameters: null, input_schema: inputSchema(a) }, a.id);
    expect(out).toContain("Blog Writer\n");
    expect(out).toContain("Mode:        completion");
    expect(out).toMatch(/topic\s+string\s+yes/);
    expect(out).toMatch(/audience\s+string\s+no/);
    expect(out).toContain(`difyctl run app ${a.id} --inputs '{"topic":"…"}'`);
    expect(shortDate("2026-01-24T09:30:00.123456Z")).toBe("2026-01-24 09:30");
  });
});

describe("streamRun output modes", () => {
  const enc = new TextEncoder();
  function setup() {
    const out: string[] = [];
    const err: string[] = [];
    const ac = new AbortController();
    // stdout is a terminal here: the piped form has its own test in terminal-ux.test.ts.
    const ctx = { out: async (t: string) => { out.push(t); }, err: async (t: string) => { err.push(t); }, signal: ac.signal, isTTY: () => true } as unknown as Ctx;
    return { out, err, ac, ctx };
  }
  const body = (chunks: string[], onPull?: (i: number) => void) => {
    let i = 0;
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        await Bun.sleep(1);
        onPull?.(i);
        if (i >= chunks.length) return c.close();
        c.enqueue(enc.encode(chunks[i++]));
      },
    });
  };
  const frames = [
    'data: {"event":"message","answer":"Hel","conversation_id":"' + CONV + '"}\n\n',
    "event: ping\n\n",
    'data: {"event":"message","answer":"lo\\u001b[2J"}\n\ndata: {"event":"message_end","metadata":{"usage":{"total_tokens":3}}}\n\n',
  ];

  async function codeOf(p: Promise<unknown>): Promise<string> {
    try { await p; return "ok"; } catch (e) { return (e as CliError).code; }
  }

  test("--stream: one write per network chunk, whole lines only, pings dropped", async () => {
    const s = setup();
    expect(await streamRun(s.ctx, body(frames), "stream")).toBe(0);
    expect(s.out.length).toBe(2);
    const lines = s.out.join("").trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event)).toEqual(["message", "message", "message_end"]);
  });

  test("--stream: data that spanned several data: lines still becomes one line", async () => {
    const s = setup();
    await streamRun(s.ctx, body([frames[0], 'data: {"event":"message",\ndata: "answer":"x"}\n\n', frames[2]]), "stream");
    const out = s.out.join("").trimEnd().split("\n");
    expect(out.length).toBe(4);
    expect(JSON.parse(out[1])).toEqual({ event: "message", answer: "x" });
  });

  test("terminal: live text without escape sequences, then the conversation on stderr", async () => {
    const s = setup();
    await streamRun(s.ctx, body(frames), "tty");
    expect(s.out.join("")).toBe("Hello[2J\n");
    expect(s.err.join("")).toContain(`conversation: ${CONV}`);
  });

  test("json: one folded line at the end", async () => {
    const s = setup();
    await streamRun(s.ctx, body(frames), "json");
    expect(s.out.length).toBe(1);
    expect(JSON.parse(s.out[0])).toEqual({ status: "succeeded", answer: "Hello\u001b[2J", conversation_id: CONV, usage: { total_tokens: 3 } });
  });

  for (const mode of ["json", "stream"] as OutputMode[]) {
    test(`Ctrl-C in ${mode} mode: exit code cancelled, nothing half-written`, async () => {
      const s = setup();
      const code = await codeOf(streamRun(s.ctx, body([frames[0], frames[2]], (i) => { if (i === 1) s.ac.abort(); }), mode));
      expect(code).toBe("cancelled");
      if (mode === "json") expect(s.out).toEqual([]);
      else expect(s.out.join("")).toMatch(/^(\{.*\}\n)*$/);
    });
  }

  test("mid-stream error in json mode: the partial result is printed, then the error is thrown", async () => {
    const s = setup();
    const code = await codeOf(streamRun(s.ctx, body([frames[0], 'data: {"event":"error","status":500,"code":"internal","message":"boom"}\n\n']), "json"));
    expect(code).toBe("server_5xx");
    expect(JSON.parse(s.out.join(""))).toMatchObject({ status: "failed", answer: "Hel", error: { code: "internal", status: 500 } });
  });

  test("stdout closed (`| head`): stop reading, close the stream, exit 0", async () => {
    const s = setup();
    let pulls = 0;
    const many = Array.from({ length: 100 }, (_, i) => `data: {"event":"message","answer":"${i}"}\n\n`);
    const code = await streamRun(s.ctx, body(many, () => { pulls++; }), "stream", { outputClosed: () => s.out.length > 0 });
    expect(code).toBe(0);
    expect(s.out.length).toBe(1);
    expect(pulls).toBeLessThan(5);
  });

  test("a dropped connection keeps the partial result too", async () => {
    const s = setup();
    let i = 0;
    const broken = new ReadableStream<Uint8Array>({
      pull(c) { if (i++ === 0) c.enqueue(enc.encode(frames[0])); else c.error(new Error("reset")); },
    });
    expect(await codeOf(streamRun(s.ctx, broken, "json"))).toBe("network_connection");
    expect(JSON.parse(s.out.join(""))).toMatchObject({ status: "incomplete", answer: "Hel" });
  });
});

describe("hostile bodies (unit)", () => {
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);

  test("nesting is measured outside strings, to the exact limit, and fast on a million levels", () => {
    expect(nestedDeeperThan(deep(MAX_JSON_DEPTH))).toBe(false);
    expect(nestedDeeperThan(deep(MAX_JSON_DEPTH + 1))).toBe(true);
    // Brackets inside strings (with escaped quotes and backslashes) are text, not nesting.
    const inString = JSON.stringify({ s: "[".repeat(5000) + '\\"{' + "{".repeat(5000), t: '\\' });
    expect(nestedDeeperThan(inString)).toBe(false);
    expect(JSON.parse(inString).s.length).toBe(10_003);
    expect(nestedDeeperThan('{"a":' .repeat(MAX_JSON_DEPTH + 1) + "1" + "}".repeat(MAX_JSON_DEPTH + 1))).toBe(true);
    const t0 = performance.now();
    let err: unknown;
    try { parseServerJson(deep(1_000_000)); } catch (e) { err = e; }
    expect(performance.now() - t0).toBeLessThan(500);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toBe(`the server sent a malformed response: JSON nested more than ${MAX_JSON_DEPTH} levels deep`);
    expect(parseServerJson('{"a":[1,{"b":"]]]"}]}')).toEqual({ a: [1, { b: "]]]" }] });
  });

  test("a run event nested too deep is a malformed response, not a stack overflow later", () => {
    const data = '{"event":"message","answer":' + '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000) + "}";
    expect(() => toDifyEvent({ data })).toThrow("malformed response");
    expect(toDifyEvent({ data: '{"event":"message","answer":"ok"}' })!.data).toEqual({ event: "message", answer: "ok" });
  });

  /** An HttpClient whose server answers every request with `body` (status 200). */
  const answering = (body: string) => new HttpClient({
    baseUrl: "https://dify.example.com",
    fetch: (async () => new Response(body, { status: 200, headers: { "Content-Type": "application/json" } })) as unknown as typeof fetch,
  });
  const failure = async (p: Promise<unknown>) => { try { await p; } catch (e) { return e as CliError; } throw new Error("expected a failure"); };

  test("a list endpoint answering anything but its page envelope is an error, never an empty list", async () => {
    for (const body of ["[]", '[{"id":"a"}]', "{}", '{"data":"x"}', '{"data":[null]}', '{"data":[[]]}', '{"data":[],"has_more":"yes"}', "42", "null", deep(1_000_000)]) {
      const e = await failure(fetchPages(answering(body), "/apps", {}, 10, ACCOUNT_CMDS));
      expect([body.slice(0, 30), e.code, e.exitCode, e.message]).toEqual([body.slice(0, 30), "unknown", 1, expect.stringContaining("malformed response")]);
    }
    expect(await fetchPages(answering('{"data":[{"id":"a"}],"has_more":false}'), "/apps", {}, 10, ACCOUNT_CMDS)).toEqual({ rows: [{ id: "a" }], truncated: false });
    expect(await fetchPages(answering('{"data":[]}'), "/apps", {}, 10, ACCOUNT_CMDS)).toEqual({ rows: [], truncated: false });
  });

  test("describe answering anything but an object of blocks is an error", async () => {
    for (const body of ["[]", "42", '{"info":[]}', '{"info":{},"input_schema":"x"}', deep(1_000_000)]) {
      const e = await failure(describeApp(answering(body), "app-1", ["info"]));
      expect([body.slice(0, 30), e.code, e.message]).toEqual([body.slice(0, 30), "unknown", expect.stringContaining("malformed response")]);
    }
    expect(await describeApp(answering('{"info":{"mode":"chat"}}'), "app-1", ["info"])).toEqual({ info: { mode: "chat" }, parameters: null, input_schema: null });
  });
});
