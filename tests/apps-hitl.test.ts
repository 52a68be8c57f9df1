// Human-in-the-loop and stopping runs, through the compiled binary against the fake server: a
// run that pauses prints its forms as JSON and exits 8; resume app answers a form and follows the
// run through a second pause to its end; expired, submitted and unknown forms; a console-only form;
// Ctrl-C stops the server-side task with the task_id of the events.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { baseEnv, BIN, capture, envelope, FAST, haveScript, readUntil, run, runPty, tempDir } from "./helpers.ts";

const A = IDS.apps;
let s: FakeServer;
let env: Record<string, string>;

beforeAll(async () => {
  s = await startFakeServer({ ...FAST, rateLimitPerToken: 0 });
  const t = s.mintToken("hana@example.com");
  env = baseEnv(tempDir(), { DIFY_TOKEN: t.token, DIFY_HOST: s.url, DIFY_WORKSPACE_ID: IDS.workspaces.labs });
});
afterAll(async () => { await s.close(); });

interface PausedJson { status: string; workflow_run_id: string; task_id: string; forms: { form_token: string | null; node_title: string; inputs: unknown[]; actions: { id: string }[]; resolved_default_values: Record<string, unknown>; expiration_time: number }[] }

async function pause(amount = 120): Promise<PausedJson> {
  const r = await run(["run", "app", A.expenseApproval, "--inputs", JSON.stringify({ amount }), "--json"], { env });
  expect(r.code).toBe(8);
  return JSON.parse(r.stdout);
}

describe("a run that pauses for a person", () => {
  test("prints the pause as JSON and exits 8 (off a terminal)", async () => {
    const p = await pause();
    expect(p.status).toBe("paused");
    expect(p.workflow_run_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(p.task_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(p.task_id).not.toBe(p.workflow_run_id);
    expect(p.forms.length).toBe(1);
    const f = p.forms[0]!;
    expect(f.node_title).toBe("Manager approval");
    expect(f.form_token).toBeTruthy();
    expect(f.actions.map((a) => a.id)).toEqual(["approve", "reject"]);
    expect(f.resolved_default_values).toEqual({ comment: "Claim of 120 USD" });
    expect(typeof f.expiration_time).toBe("number");
  });

  test("resume app answers the form, follows the run to a second pause (exit 8), then to its end", async () => {
    const p = await pause(75);
    const token = p.forms[0]!.form_token!;
    const before = s.requests.length;
    const r1 = await run(["resume", "app", A.expenseApproval, token, "--action", "approve", "--inputs", '{"category":"travel"}', "--run", p.workflow_run_id, "--json"], { env });
    expect(r1.code).toBe(8);
    const p2 = JSON.parse(r1.stdout) as PausedJson;
    expect(p2.workflow_run_id).toBe(p.workflow_run_id);
    expect(p2.forms.map((f) => f.node_title)).toEqual(["Finance check"]);
    const reqs = s.requests.slice(before);
    const post = reqs.find((q) => q.method === "POST" && q.path.includes("/form/human_input/"))!;
    // Every input present as a key: the given one, and the default for the rest.
    expect(JSON.parse(post.body)).toEqual({ action: "approve", inputs: { comment: "Claim of 75 USD", category: "travel" } });
    const ev = reqs.find((q) => q.path.endsWith("/events"))!;
    expect(ev.path).toBe(`/openapi/v1/apps/${A.expenseApproval}/tasks/${p.workflow_run_id}/events`);
    expect(ev.query).toEqual({ include_state_snapshot: "true", continue_on_pause: "true" });
    // The form's run is remembered here, so --run may be left out.
    const r2 = await run(["resume", "app", A.expenseApproval, p2.forms[0]!.form_token!, "--action", "book", "--json"], { env });
    expect(r2.stderr).toBe("");
    expect(r2.code).toBe(0);
    const done = JSON.parse(r2.stdout);
    expect(done.status).toBe("succeeded");
    expect(done.outputs).toEqual({ decision: "booked", comment: "Claim of 75 USD", category: "travel", ledger_code: "GL-6000" });
  });

  test("resume app takes the app's name as well as its id", async () => {
    const p = await pause(30);
    const r = await run(["resume", "app", "expense approval", p.forms[0]!.form_token!, "--action", "reject", "--inputs", '{"category":"meals"}', "--json"], { env });
    expect(r.code, r.stderr).toBe(0);
    const post = s.requests.filter((q) => q.method === "POST" && q.path.includes("/form/human_input/")).at(-1)!;
    expect(post.path).toBe(`/openapi/v1/apps/${A.expenseApproval}/form/human_input/${p.forms[0]!.form_token}`);
    expect(JSON.parse(post.body).action).toBe("reject");
  });

  test("--stream passes the resumed run's events through, one JSON line each", async () => {
    const p = await pause();
    const r = await run(["resume", "app", A.expenseApproval, p.forms[0]!.form_token!, "--action", "reject", "--inputs", '{"category":"meals"}', "--run", p.workflow_run_id, "--stream"], { env });
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l).event);
    expect(events).toContain("human_input_form_filled");
    expect(events[events.length - 1]).toBe("workflow_finished");
  });

  test("expired, already submitted and unknown forms get their own messages", async () => {
    const p = await pause();
    const token = p.forms[0]!.form_token!;
    const ok = await run(["resume", "app", A.expenseApproval, token, "--action", "reject", "--inputs", '{"category":"other"}', "--run", p.workflow_run_id, "--json"], { env });
    expect(ok.code).toBe(0);
    const again = await run(["resume", "app", A.expenseApproval, token, "--action", "reject", "--json"], { env });
    expect(again.code).toBe(1);
    expect(envelope(again.stderr).message).toContain("already been submitted");
    const missing = await run(["resume", "app", A.expenseApproval, "no-such-token", "--action", "approve", "--json"], { env });
    expect(missing.code).toBe(1);
    expect(envelope(missing.stderr).message).toContain("form not found");
    const p2 = await pause();
    s.clock.advance(2 * 86_400_000);
    try {
      const old = await run(["resume", "app", A.expenseApproval, p2.forms[0]!.form_token!, "--action", "approve", "--json"], { env });
      expect(old.code).toBe(1);
      expect(envelope(old.stderr).message).toContain("has expired");
    } finally {
      s.clock.advance(-2 * 86_400_000);
    }
  });

  test("a wrong action or select value is refused before anything is submitted", async () => {
    const p = await pause();
    const token = p.forms[0]!.form_token!;
    for (const [args, msg] of [
      [["--action", "maybe"], "'maybe' is not an action of this form"],
      [["--action", "approve", "--inputs", '{"category":"yachts"}'], "'category' must be one of"],
      [["--action", "approve", "--inputs", '{"nope":"x","category":"travel"}'], "'nope' is not an input of this form"],
    ] as [string[], string][]) {
      const before = s.requests.length;
      const r = await run(["resume", "app", A.expenseApproval, token, ...args, "--json"], { env });
      expect(r.code).toBe(2);
      expect(envelope(r.stderr).message).toContain(msg);
      expect(s.requests.slice(before).some((q) => q.method === "POST")).toBe(false);
    }
  });

  test("a form with no token can only be answered in the Dify web app", async () => {
    const r = await run(["run", "app", A.consoleApproval, "--json"], { env });
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout).forms[0].form_token).toBeNull();
    const h = await run(["run", "app", A.consoleApproval], { env });
    expect(h.stderr).toContain("can only be answered in the Dify web app");
    const n = await run(["resume", "app", A.consoleApproval, "null", "--action", "approve", "--json"], { env });
    expect(n.code).toBe(2);
    expect(envelope(n.stderr).message).toContain("only be answered in the Dify web app");
  });
});

describe("Ctrl-C", () => {
  test("stops the server-side task with the events' task_id, then exits 130", async () => {
    const proc = Bun.spawn([BIN, "run", "app", A.slowWriter, "--stream"], { env, stdout: "pipe", stderr: "pipe" });
    const { text: out, reader } = await readUntil(proc.stdout, "text_chunk");
    proc.kill("SIGINT");
    const rest = await new Response(new ReadableStream({ async pull(c) { const r = await reader.read(); if (r.done) c.close(); else c.enqueue(r.value); } })).text();
    const stderr = await new Response(proc.stderr).text();
    const code = await proc.exited;
    capture(["run", "app", A.slowWriter, "--stream"], { code, stdout: out + rest, stderr });
    expect(code).toBe(130);
    const taskId = JSON.parse(out.split("\n")[0]!).task_id as string;
    const runId = JSON.parse(out.split("\n")[0]!).workflow_run_id as string;
    expect(s.tasks.stopLog).toContainEqual({ appId: A.slowWriter, taskId });
    expect(s.tasks.stopLog.some((x) => x.taskId === runId)).toBe(false);
  });
});

describe.skipIf(!haveScript)("a pause on a terminal", () => {
  test("shows the form, takes the answers and the action, submits, and follows the run through the second pause to its end", async () => {
    const before = s.requests.length;
    // Every prompt gets "1" + Enter: the first choice of a select, the first action (approve), and
    // "1" for a text input; typed well after each prompt has been drawn.
    const keys = Array.from({ length: 14 }, (_, i) => ({ afterMs: 700 + i * 350, text: "1\r" }));
    const r = await runPty(["run", "app", A.expenseApproval, "--inputs", JSON.stringify({ amount: 42 })], { ...env, TERM: "xterm-256color" }, keys);
    const out = r.out.replace(/\r/g, "");
    expect(out).toContain("Manager approval");
    expect(out).toContain("Finance check");
    expect(r.code).toBe(0);
    const posts = s.requests.slice(before).filter((q) => q.method === "POST" && q.path.includes("/form/human_input/"));
    expect(posts.length).toBe(2);
    // "1" picks each form's first action: approve, then the finance form's first one.
    expect(JSON.parse(posts[0]!.body).action).toBe("approve");
    expect(JSON.parse(posts[1]!.body).action).toBe("book");
    // Every input of the form is present as a key in what was submitted.
    expect(Object.keys(JSON.parse(posts[0]!.body).inputs).sort()).toEqual(["category", "comment"]);
  }, 30_000);
});
