// get apps / get app / run app and the external-SSO commands against the fake server: the command
// logic runs in-process (runInProcess: the binary's router, real HTTP to 127.0.0.1, a temp config
// dir); Ctrl-C and the sign-in fixture use the compiled binary, as does tests/binary-smoke.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { answerFor, type App, type FakeServer, IDS, startFakeServer, summarize } from "./fake/server.ts";
import { baseEnv, BIN, capture, envelope, FAST, login, runInProcess as run, tempDir } from "./helpers.ts";

const A = IDS.apps;
let s: FakeServer;
let acct: Record<string, string>;
let sso: Record<string, string>;

beforeAll(async () => {
  // No per-token limit: this file makes far more than 60 calls a minute with one token.
  s = await startFakeServer({ ...FAST, rateLimitPerToken: 0, autoApprove: { afterPolls: 1 } });
  const a = s.mintToken();
  const e = s.mintToken("sso");
  acct = baseEnv(tempDir(), { DIFY_TOKEN: a.token, DIFY_HOST: s.url, DIFY_WORKSPACE_ID: IDS.workspaces.acme });
  sso = baseEnv(tempDir(), { DIFY_TOKEN: e.token, DIFY_HOST: s.url });
});
afterAll(async () => { await s.close(); });

const app = (id: string): App => s.apps.find((x) => x.id === id)!;
const runPath = (id: string) => `/openapi/v1/apps/${id}/run`;
/** Requests made while `fn` ran (the server's log is shared by the whole file). */
async function during<T>(fn: () => Promise<T>): Promise<[T, FakeServer["requests"]]> {
  const before = s.requests.length;
  const r = await fn();
  return [r, s.requests.slice(before)];
}
const lines = (stdout: string) => stdout.trimEnd().split("\n").map((l) => JSON.parse(l));

describe("get apps", () => {
  test("lists the active workspace's API-enabled apps as JSON (--json)", async () => {
    const [r, reqs] = await during(() => run(["get", "apps", "--json"], { env: acct }));
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout);
    const expected = s.apps.filter((x) => x.workspaceId === IDS.workspaces.acme && x.enableApi).map((x) => x.id).sort();
    expect(rows.map((x: { id: string }) => x.id).sort()).toEqual(expected);
    expect(rows.map((x: { id: string }) => x.id)).not.toContain(A.internalOnly);
    const list = reqs.find((q) => q.path === "/openapi/v1/apps")!;
    expect(list.query.workspace_id).toBe(IDS.workspaces.acme);
  });

  test("--workspace, --mode and --name are passed to the server", async () => {
    const side = JSON.parse((await run(["get", "apps", "--workspace", IDS.workspaces.side, "--json"], { env: acct })).stdout);
    expect(side.map((x: { name: string }) => x.name).sort()).toEqual(["Helpdesk Flow", "Research Agent"]);
    const wf = JSON.parse((await run(["get", "apps", "--mode", "workflow", "--json"], { env: acct })).stdout);
    expect(wf.map((x: { id: string }) => x.id)).toEqual([A.summarizer]);
    const named = JSON.parse((await run(["get", "apps", "--name", "blog", "--json"], { env: acct })).stdout);
    expect(named.map((x: { id: string }) => x.id)).toEqual([A.blogWriter]);
  });

  test("reads every page up to --limit, with a fixed page size, and says when it stopped early", async () => {
    const base = app(A.blogWriter);
    for (let i = 0; i < 250; i++) s.apps.push({ ...base, id: `d0000000-0000-4000-8000-${String(i).padStart(12, "0")}`, name: `Bulk ${i}`, updatedAt: 0 });
    try {
      const [all, reqs] = await during(() => run(["get", "apps", "--limit", "300", "--json"], { env: acct }));
      expect(JSON.parse(all.stdout).length).toBe(257);
      const pages = reqs.filter((q) => q.path === "/openapi/v1/apps");
      expect(pages.map((q) => [q.query.page, q.query.limit])).toEqual([["1", "200"], ["2", "200"]]);
      // Piped without --json: one tab-separated row per app, and the note on stderr.
      const cut = await run(["get", "apps", "--limit", "210"], { env: acct });
      expect(cut.stdout.trimEnd().split("\n").length).toBe(210);
      expect(cut.stderr).toContain("showing the first 210 apps");
    } finally {
      s.apps.splice(s.apps.length - 250, 250);
    }
  });

  test("invalid --limit / --mode: exit 2, no request", async () => {
    for (const args of [["--limit", "0"], ["--limit", "-3"], ["--limit", "abc"], ["--limit", "5001"], ["--mode", "bogus"]]) {
      const [r, reqs] = await during(() => run(["get", "apps", ...args, "--json"], { env: acct }));
      expect(r.code).toBe(2);
      expect(envelope(r.stderr).code).toBe("usage_invalid_flag");
      expect(reqs).toEqual([]);
    }
  });
});

describe("get app", () => {
  test("describe with info, parameters and input_schema", async () => {
    const [r, reqs] = await during(() => run(["get", "app", A.blogWriter, "--json"], { env: acct }));
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.info).toMatchObject({ id: A.blogWriter, name: "Blog Writer", mode: "completion" });
    expect(d.input_schema.required).toEqual(["topic"]);
    const q = reqs.find((x) => x.path.endsWith("/describe"))!;
    expect(q.path).toBe(`/openapi/v1/apps/${A.blogWriter}/describe`);
    expect(q.query.fields).toBe("info,parameters,input_schema");
    expect(q.headers["x-dify-app-id"]).toBe(A.blogWriter);
  });

  test("an unknown app: exit 1 with the server's 404 explained", async () => {
    const r = await run(["get", "app", "c0000000-0000-4000-8000-0000000000ff", "--json"], { env: acct });
    expect(r.code).toBe(1);
    expect(envelope(r.stderr)).toMatchObject({ code: "server_4xx_other", http_status: 404, message: expect.stringContaining("not found") });
  });
});

describe("run app", () => {
  test("chat, folded: answer, conversation, usage; the wire request is right", async () => {
    const [r, reqs] = await during(() => run(["run", "app", A.supportChat, "reset my password", "--json"], { env: acct }));
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ status: "succeeded", answer: answerFor(app(A.supportChat), "reset my password", {}), usage: { total_tokens: expect.any(Number) } });
    expect(out.conversation_id).toMatch(/^[0-9a-f-]{36}$/);
    const runs = reqs.filter((q) => q.path === runPath(A.supportChat));
    expect(runs.length).toBe(1);
    expect(runs[0].method).toBe("POST");
    expect(runs[0].headers.accept).toBe("text/event-stream");
    expect(runs[0].headers["x-dify-app-id"]).toBe(A.supportChat);
    expect(JSON.parse(runs[0].body)).toMatchObject({ inputs: {}, query: "reset my password" });

    // Continue the conversation.
    const again = await run(["run", "app", A.supportChat, "and then?", "--conversation", out.conversation_id, "--json"], { env: acct });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).conversation_id).toBe(out.conversation_id);
  });

  test("chat, --stream: one JSON line per event, pings dropped, answer pieces in order", async () => {
    const r = await run(["run", "app", A.supportChat, "hello", "--stream"], { env: acct });
    expect(r.code).toBe(0);
    const evs = lines(r.stdout);
    expect(evs.map((e) => e.event)).not.toContain("ping");
    expect(evs.at(-1).event).toBe("message_end");
    expect(evs.filter((e) => e.event === "message").map((e) => e.answer).join("")).toBe(answerFor(app(A.supportChat), "hello", {}));
  });

  test("completion with inputs from JSON, @file and stdin", async () => {
    const want = (topic: string) => answerFor(app(A.blogWriter), undefined, { topic });
    const j = await run(["run", "app", A.blogWriter, "--inputs", '{"topic":"llamas"}', "--json"], { env: acct });
    expect(JSON.parse(j.stdout)).toMatchObject({ status: "succeeded", answer: want("llamas") });
    expect(JSON.parse(j.stdout).conversation_id).toBeUndefined();
    const file = join(tempDir(), "in.json");
    writeFileSync(file, '{"topic":"alpacas"}');
    const f = await run(["run", "app", A.blogWriter, "--inputs", `@${file}`, "--json"], { env: acct });
    expect(JSON.parse(f.stdout).answer).toBe(want("alpacas"));
    const i = await run(["run", "app", A.blogWriter, "--inputs", "-", "--json"], { env: acct, stdin: '{"topic":"vicuñas"}' });
    expect(JSON.parse(i.stdout).answer).toBe(want("vicuñas"));
  });

  test("workflow, folded and --stream", async () => {
    const inputs = { text: "one two three four five six seven", count: 3 };
    const r = await run(["run", "app", A.summarizer, "--inputs", JSON.stringify(inputs), "--json"], { env: acct });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "succeeded", outputs: summarize(inputs), workflow_run_id: expect.any(String) });
    const st = await run(["run", "app", A.summarizer, "--inputs", JSON.stringify(inputs), "--stream"], { env: acct });
    const names = lines(st.stdout).map((e) => e.event);
    expect(names[0]).toBe("workflow_started");
    expect(names).toContain("text_chunk");
    expect(names.at(-1)).toBe("workflow_finished");
  });

  test("inputs that do not match the schema: exit 2 and no run request", async () => {
    const cases: [string, string[], string][] = [
      [A.blogWriter, ["--inputs", "{}"], "usage_missing_arg"],
      [A.blogWriter, ["--inputs", '{"topik":"x"}'], "usage_invalid_flag"],
      [A.summarizer, ["--inputs", '{"text":"x","count":"3"}'], "usage_invalid_flag"],
      [A.supportChat, ["hi", "--inputs", '{"tone":"rude"}'], "usage_invalid_flag"],
      [A.blogWriter, ["--inputs", "{nope"], "usage_invalid_flag"],
      [A.blogWriter, ["--inputs", "[1]"], "usage_invalid_flag"],
      [A.blogWriter, ["--inputs", "@/nonexistent/in.json"], "usage_invalid_flag"],
      [A.supportChat, [], "usage_missing_arg"], // chat without a query
      [A.summarizer, ["a query", "--inputs", '{"text":"x"}'], "usage_invalid_flag"], // workflow with a query
      [A.supportChat, ["hi", "--conversation", "not-a-uuid"], "usage_invalid_flag"],
    ];
    for (const [id, args, code] of cases) {
      const [r, reqs] = await during(() => run(["run", "app", id, ...args, "--json"], { env: acct }));
      expect([args.join(" "), r.code]).toEqual([args.join(" "), 2]);
      expect(envelope(r.stderr).code).toBe(code);
      expect(reqs.filter((q) => q.path.endsWith("/run"))).toEqual([]);
    }
  });

  test("an error event mid-stream: partial answer printed, non-zero exit, error explained", async () => {
    const r = await run(["run", "app", A.flakyChat, "hi", "--json"], { env: acct });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "failed", answer: "Let me think about that ", error: { code: "completion_request_error", status: 400 } });
    expect(envelope(r.stderr)).toMatchObject({ code: "server_4xx_other", http_status: 400 });
    const st = await run(["run", "app", A.flakyChat, "hi", "--stream"], { env: acct });
    expect(st.code).toBe(1);
    expect(lines(st.stdout).at(-1)).toMatchObject({ event: "error", code: "completion_request_error" });
  });

  test("a 5xx error event exits 1 with server_5xx", async () => {
    s.faults.add({ match: { method: "POST", path: runPath(A.supportChat) }, respond: { sse: ['data: {"event":"message","answer":"par"}\n\n', 'data: {"event":"error","status":500,"code":"internal_server_error","message":"model crashed"}\n\n'] } });
    const r = await run(["run", "app", A.supportChat, "hi", "--json"], { env: acct });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "failed", answer: "par" });
    expect(envelope(r.stderr)).toMatchObject({ code: "server_5xx", http_status: 500 });
  });

  test("a stream that stops before the end: the partial result and network_connection", async () => {
    s.faults.add({ match: { method: "POST", path: runPath(A.supportChat) }, respond: { sse: ['data: {"event":"message","answer":"half"}\n\n'] } });
    const r = await run(["run", "app", A.supportChat, "hi", "--json"], { env: acct });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "incomplete", answer: "half" });
    expect(envelope(r.stderr).code).toBe("network_connection");
  });

  test("pre-stream 4xx: a clear message, not retried", async () => {
    const [r, reqs] = await during(() => run(["run", "app", A.unavailable, "hi", "--json"], { env: acct }));
    expect(r.code).toBe(1);
    expect(envelope(r.stderr)).toMatchObject({ code: "server_4xx_other", http_status: 400, message: expect.stringContaining("unavailable") });
    expect(reqs.filter((q) => q.path.endsWith("/run")).length).toBe(1);
    expect(r.stdout).toBe("");

    s.faults.add({ match: { method: "POST", path: runPath(A.supportChat) }, respond: { status: 422, body: { code: "invalid_param", message: "query_required_for_chat", status: 422 } } });
    const q = await run(["run", "app", A.supportChat, "hi", "--json"], { env: acct });
    expect(envelope(q.stderr)).toMatchObject({ code: "server_4xx_other", http_status: 422, message: "this is a chat app: it needs a query" });

    const d = await run(["run", "app", A.internalOnly, "hi", "--json"], { env: acct });
    expect(envelope(d.stderr)).toMatchObject({ http_status: 403, message: "the API is disabled for this app" });
  });

  test("quota 429 (rate_limit_error): exit 7, exactly one run request", async () => {
    const [r, reqs] = await during(() => run(["run", "app", A.quotaExhausted, "--json"], { env: acct }));
    expect(r.code).toBe(7);
    expect(envelope(r.stderr)).toMatchObject({ code: "rate_limited", http_status: 429 });
    expect(reqs.filter((q) => q.path.endsWith("/run")).length).toBe(1);
  });

  test("a stream in 1-byte chunks with CRLF, comments, event: lines and multi-line data folds the same", async () => {
    const text = [
      ": hello\r\n\r\n",
      "event: ping\r\n\r\n",
      'data: {"event":"message","answer":"Grüß ",\r\ndata: "conversation_id":"11111111-2222-4333-8444-555555555555"}\r\n\r\n',
      'data: {"event":"message","answer":"dich 👋"}\n\n',
      'event: message_end\ndata: {"metadata":{"usage":{"total_tokens":7}}}\n\n',
    ].join("");
    s.faults.add({ match: { method: "POST", path: runPath(A.supportChat) }, respond: { sse: [...text] } });
    const r = await run(["run", "app", A.supportChat, "hi", "--json"], { env: acct });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ status: "succeeded", answer: "Grüß dich 👋", conversation_id: "11111111-2222-4333-8444-555555555555", usage: { total_tokens: 7 } });
  });
});

/** Spawns the binary, sends SIGINT once stdout shows `after`, returns what it wrote. */
async function interrupt(args: string[], env: Record<string, string>, after: RegExp): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([BIN, ...args], { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const errText = new Response(p.stderr).text();
  let stdout = "";
  let sent = false;
  const dec = new TextDecoder();
  const deadline = setTimeout(() => { if (!sent) { sent = true; p.kill("SIGINT"); } }, 3000);
  for await (const chunk of p.stdout) {
    stdout += dec.decode(chunk, { stream: true });
    if (!sent && after.test(stdout)) { sent = true; p.kill("SIGINT"); }
  }
  clearTimeout(deadline);
  const r = { code: await p.exited, stdout, stderr: await errText };
  capture(args, r);
  return r;
}

describe("Ctrl-C during a run", () => {
  const slow = () => ({ sse: Array.from({ length: 40 }, (_, i) => `data: {"event":"message","answer":"w${i} "}\n\n`), chunkDelayMs: 100 });

  test("--stream: exit 130, only whole lines written", async () => {
    s.faults.add({ match: { method: "POST", path: runPath(A.supportChat) }, respond: slow() });
    const r = await interrupt(["run", "app", A.supportChat, "hi", "--stream"], acct, /w1 /);
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/^(\{[^\n]*\}\n)+$/);
    expect(lines(r.stdout).length).toBeLessThan(40);
  });

  test("folded JSON: exit 130, nothing on stdout, the envelope on stderr", async () => {
    s.faults.add({ match: { method: "POST", path: runPath(A.supportChat) }, respond: slow() });
    const started = s.requests.length;
    const p = Bun.spawn([BIN, "run", "app", A.supportChat, "hi", "--json"], { env: acct, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    // Wait until the stream has started (the run request arrived), then interrupt.
    for (let i = 0; i < 100 && !s.requests.slice(started).some((q) => q.path.endsWith("/run")); i++) await Bun.sleep(20);
    await Bun.sleep(250);
    p.kill("SIGINT");
    const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    const code = await p.exited;
    capture(["run", "app", "--json (interrupted)"], { code, stdout, stderr });
    expect(code).toBe(130);
    expect(stdout).toBe("");
    expect(envelope(stderr).code).toBe("cancelled");
  });
});

describe("external SSO sessions", () => {
  test("get permitted-external-apps lists the permitted apps (no workspace_id sent)", async () => {
    const [r, reqs] = await during(() => run(["get", "permitted-external-apps", "--json"], { env: sso }));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).map((x: { id: string }) => x.id).sort()).toEqual(s.ssoSubjects[0].permittedAppIds.slice().sort());
    const q = reqs.find((x) => x.path === "/openapi/v1/permitted-external-apps")!;
    expect(q.query.workspace_id).toBeUndefined();
  });

  test("get permitted-external-app reads the list; an app not in it is an error", async () => {
    const r = await run(["get", "permitted-external-app", A.summarizer, "--json"], { env: sso });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: A.summarizer, name: "Text Summarizer", mode: "workflow" });
    const no = await run(["get", "permitted-external-app", A.blogWriter, "--json"], { env: sso });
    expect(no.code).toBe(1);
    expect(envelope(no.stderr).message).toContain("not among the apps permitted");
  });

  test("run permitted-external-app: same run endpoint; server-side errors are explained", async () => {
    const [r, reqs] = await during(() => run(["run", "permitted-external-app", A.supportChat, "hello", "--json"], { env: sso }));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).answer).toBe(answerFor(app(A.supportChat), "hello", {}));
    expect(reqs.some((q) => q.path === runPath(A.supportChat) && q.headers["x-dify-app-id"] === A.supportChat)).toBe(true);
    expect(reqs.some((q) => q.path.endsWith("/describe"))).toBe(false);
    const noQuery = await run(["run", "permitted-external-app", A.supportChat, "--json"], { env: sso });
    expect(envelope(noQuery.stderr)).toMatchObject({ http_status: 422, hint: expect.stringContaining("run permitted-external-app") });
    const denied = await run(["run", "permitted-external-app", A.blogWriter, "--inputs", '{"topic":"x"}', "--json"], { env: sso });
    expect(denied.code).toBe(1);
    expect(envelope(denied.stderr)).toMatchObject({ http_status: 403, message: "you are not allowed to run this app" });
  });
});

describe("wrong surface: refused before any request (exit 2)", () => {
  const cases: [string, string[]][] = [
    ["sso", ["get", "apps"]],
    ["sso", ["get", "app", A.blogWriter]],
    ["sso", ["run", "app", A.supportChat, "hi"]],
    ["acct", ["get", "permitted-external-apps"]],
    ["acct", ["get", "permitted-external-app", A.supportChat]],
    ["acct", ["run", "permitted-external-app", A.supportChat, "hi"]],
  ];
  for (const [who, args] of cases) {
    test(`${who}: ${args.slice(0, 2).join(" ")}`, async () => {
      const [r, reqs] = await during(() => run([...args, "--json"], { env: who === "sso" ? sso : acct }));
      expect(r.code).toBe(2);
      expect(envelope(r.stderr).code).toBe("wrong_surface");
      expect(envelope(r.stderr).hint).toContain(who === "sso" ? "permitted-external" : "get apps");
      expect(reqs).toEqual([]);
    });
  }
});

describe("401 during a run", () => {
  test("clears the stored session and exits 4", async () => {
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir)).code).toBe(0);
    const env = baseEnv(dir);
    expect((await run(["run", "app", A.supportChat, "hi"], { env })).code).toBe(0);
    s.faults.add({ match: { method: "POST", path: runPath(A.supportChat) }, respond: { status: 401, body: { code: "unauthorized", message: "invalid bearer", status: 401 } } });
    const r = await run(["run", "app", A.supportChat, "hi", "--json"], { env });
    expect(r.code).toBe(4);
    expect(envelope(r.stderr)).toMatchObject({ code: "auth_expired", http_status: 401 });
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).not.toContain("token_id");
    const tokens = join(dir, "tokens.yml");
    if (existsSync(tokens)) expect(readFileSync(tokens, "utf8")).not.toContain("dfoa_");
    expect((await run(["get", "apps", "--json"], { env })).code).toBe(4);
  });
});
