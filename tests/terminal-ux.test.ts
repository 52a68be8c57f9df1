// The terminal experience: colour and symbols on a pseudo-terminal and none with NO_COLOR or in a
// pipe; names instead of ids; tables that fit 70 columns; the human form in a pipe or a file; the
// query from stdin; completion of app names from the cache; the spinner only on a terminal; the
// workspace picker; a host that is not a Dify server. Everything on a pty, and the redirect to a
// file, runs the compiled binary; the piped runs check command logic in-process (runInProcess).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { answerFor, type FakeServer, IDS, summarize } from "./fake/server.ts";
import { baseEnv, BIN, capture, envelope, haveScript, login, runInProcess as run, runPty, serverPool, tempDir } from "./helpers.ts";

const pool = serverPool();
afterAll(() => pool.closeAll());

const A = IDS.apps;
const ESC = "\x1b[";
/** What a person sees: colour and cursor sequences taken out (the spinner's \r lines too). */
const visible = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r\n/g, "\n");
const hasColour = (s: string) => /\x1b\[(?:[0-9;]*)m/.test(s);

let s: FakeServer;
let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  s = await pool.start();
  dir = join(tempDir(), "cfg");
  expect((await login(s.url, dir)).code).toBe(0);
  env = baseEnv(dir, { TERM: "xterm-256color" });
});

const app = (id: string) => s.apps.find((x) => x.id === id)!;

describe.skipIf(!haveScript)("colour and symbols: on a terminal only", () => {
  test("auth doctor: green/yellow pass/warn on a pty; none with NO_COLOR=1 or in a pipe", async () => {
    const tty = await runPty(["auth", "doctor"], env);
    expect(tty.out).toContain(`${ESC}32mpass`);
    expect(tty.out).toContain(`${ESC}33mwarn`); // plain http to the fake server is a warning
    const noColour = await runPty(["auth", "doctor"], { ...env, NO_COLOR: "1" });
    expect(noColour.out).toContain("pass  ");
    expect(hasColour(noColour.out)).toBe(false);
    const piped = await run(["auth", "doctor"], { env });
    expect(piped.stdout).toMatch(/^pass {2}/m);
    expect(piped.stdout + piped.stderr).not.toContain("\x1b");
  });

  test("errors: a red X on a pty, plain 'error:' in a pipe and with NO_COLOR", async () => {
    const tty = await runPty(["auth", "stauts"], env);
    expect(tty.code).toBe(2);
    expect(tty.out).toContain(`${ESC}91mX`);
    const noColour = await runPty(["auth", "stauts"], { ...env, NO_COLOR: "1" });
    expect(visible(noColour.out)).toContain("X error: unknown command");
    expect(hasColour(noColour.out)).toBe(false);
    const piped = await run(["auth", "stauts"], { env });
    expect(piped.stderr.startsWith("error: unknown command")).toBe(true);
    expect(piped.stderr).not.toContain("\x1b");
  });

  test("success lines get a green ✓ on a pty (Switched to), bare text in a pipe; help headings are bold", async () => {
    const use = await runPty(["auth", "use", IDS.workspaces.side], env);
    expect(use.out).toContain(`${ESC}32m✓${ESC}39m Switched to workspace Side Project`);
    const back = await run(["auth", "use", IDS.workspaces.acme], { env });
    expect(back.stdout).toBe(`Switched to workspace Acme Corp (${IDS.workspaces.acme})\n`);
    const help = await runPty(["get", "apps", "--help"], env);
    expect(help.out).toContain(`${ESC}1mUsage:${ESC}22m`);
    expect((await run(["get", "apps", "--help"], { env })).stdout).not.toContain("\x1b");
  });

  test("a warning on stderr gets a yellow '!' on a pty", async () => {
    // A server of its own: signing in again from this machine would replace the shared session.
    const t = await pool.start();
    const d = join(tempDir(), "cfg");
    const r = await runPty(["auth", "login", "--host", t.url, "--insecure", "--no-browser", "--no-qr"], baseEnv(d, { TERM: "xterm-256color" }));
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${ESC}33m!${ESC}39m warning: --insecure`);
    expect(r.out).toContain(`${ESC}32m✓${ESC}39m Logged in as gareth@dify.ai`);
    const out = await runPty(["auth", "logout"], baseEnv(d, { TERM: "xterm-256color" }));
    expect(out.out).toContain(`✓${ESC}39m Logged out of 127.0.0.1:`);
  });
});

describe("names instead of ids", () => {
  test("get app and run app by exact name, then ignoring case", async () => {
    const g = await run(["get", "app", "Support Chat", "--json"], { env });
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout).info.id).toBe(A.supportChat);
    const lower = await run(["get", "app", "text summarizer", "--json"], { env });
    expect(JSON.parse(lower.stdout).info.id).toBe(A.summarizer);
    const r = await run(["run", "app", "support chat", "hello", "--json"], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).answer).toBe(answerFor(app(A.supportChat), "hello", {}));
    // The lookup uses the list endpoint's name filter in the active workspace; an id needs none.
    const before = s.requests.length;
    await run(["get", "app", A.blogWriter, "--json"], { env });
    expect(s.requests.slice(before).some((q) => q.path === "/openapi/v1/apps")).toBe(false);
  });

  test("two apps answering to the name → exit 2 listing both ids; an unknown name → exit 2; nothing is run", async () => {
    const base = app(A.blogWriter);
    s.apps.push({ ...base, id: "c0000000-0000-4000-8000-0000000000a1", name: "Twin" }, { ...base, id: "c0000000-0000-4000-8000-0000000000a2", name: "twin" });
    try {
      const before = s.requests.length;
      const r = await run(["run", "app", "TWIN", "--inputs", '{"topic":"x"}', "--json"], { env });
      expect(r.code).toBe(2);
      const e = envelope(r.stderr);
      expect(e.code).toBe("usage_invalid_flag");
      expect(e.message).toContain("c0000000-0000-4000-8000-0000000000a1");
      expect(e.message).toContain("c0000000-0000-4000-8000-0000000000a2");
      expect(JSON.parse(r.stderr.trim().split("\n").pop()!).error.details.candidates).toHaveLength(2);
      expect(s.requests.slice(before).some((q) => q.method === "POST")).toBe(false);
      // The exact spelling picks one.
      expect(JSON.parse((await run(["get", "app", "Twin", "--json"], { env })).stdout).info.id).toBe("c0000000-0000-4000-8000-0000000000a1");
      const none = await run(["get", "app", "No Such App", "--json"], { env });
      expect(none.code).toBe(2);
      expect(envelope(none.stderr).message).toBe("no app has the id or name 'No Such App'");
    } finally {
      s.apps.splice(s.apps.length - 2, 2);
    }
  });

  test("external SSO sessions: get and run a permitted app by its name", async () => {
    const t = await pool.start({ autoApprove: { afterPolls: 1, as: "sso" } });
    const d = join(tempDir(), "cfg");
    expect((await login(t.url, d)).code).toBe(0);
    const g = await run(["get", "permitted-external-app", "text summarizer", "--json"], { env: baseEnv(d) });
    expect(JSON.parse(g.stdout)).toMatchObject({ id: A.summarizer, name: "Text Summarizer" });
    const r = await run(["run", "permitted-external-app", "Support Chat", "hello"], { env: baseEnv(d) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(answerFor(t.apps.find((x) => x.id === A.supportChat)!, "hello", {}) + "\n");
  });

  test("auth use by name; auth status -v and --json list the workspaces", async () => {
    const r = await run(["auth", "use", "side project", "--json"], { env });
    expect(JSON.parse(r.stdout)).toEqual({ workspace: { id: IDS.workspaces.side, name: "Side Project", role: "normal" } });
    const st = JSON.parse((await run(["auth", "status", "--json"], { env })).stdout);
    expect(st.available_workspaces).toEqual([
      { id: IDS.workspaces.acme, name: "Acme Corp", role: "owner" },
      { id: IDS.workspaces.side, name: "Side Project", role: "normal" },
    ]);
    expect(st.available_workspaces_count).toBe(2);
    const v = await run(["auth", "status", "-v"], { env });
    expect(v.stdout).toContain(`  * ${IDS.workspaces.side}  Side Project (normal)\n`);
    expect(v.stdout).toContain(`    ${IDS.workspaces.acme}  Acme Corp (owner)\n`);
    expect((await run(["auth", "use", "Acme Corp"], { env })).code).toBe(0);
  });

  test("auth use without an argument: a usage error listing the choices off a terminal", async () => {
    const r = await run(["auth", "use", "--json"], { env });
    expect(r.code).toBe(2);
    const e = envelope(r.stderr);
    expect(e.code).toBe("usage_missing_arg");
    expect(e.message).toContain(`${IDS.workspaces.side} (Side Project)`);
  });

  test.skipIf(!haveScript)("auth use without an argument on a terminal: a numbered picker", async () => {
    const r = await runPty(["auth", "use"], env, [{ afterMs: 700, text: "2\r" }]);
    expect(r.code).toBe(0);
    const out = visible(r.out);
    expect(out).toContain("? Switch to which workspace?");
    expect(out).toMatch(/1\) Acme Corp \(b0000000-0000-4000-8000-000000000001, owner\) {2}\(current\)/);
    expect(out).toContain("Switched to workspace Side Project");
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).toContain(`current_workspace_id: ${IDS.workspaces.side}`);
    expect((await run(["auth", "use", IDS.workspaces.acme], { env })).code).toBe(0);
  });
});

describe.skipIf(!haveScript)("tables fit the terminal", () => {
  test("get apps and auth devices list at 70 columns: no line longer than 70, cut with …", async () => {
    s.mintToken(undefined, "difyctl on a-build-machine-with-a-remarkably-long-hostname.example.com");
    s.apps[0].name = "Support Chat for the customers of the northern hemisphere region";
    try {
      for (const args of [["get", "apps"], ["auth", "devices", "list"]]) {
        const r = await runPty(args, env, [], { cols: 70 });
        expect(r.code).toBe(0);
        const lines = visible(r.out).split("\n").map((l) => l.replace(/^.*\r/, "")).filter((l) => l.trim());
        expect(lines.length).toBeGreaterThan(1);
        for (const l of lines) expect({ args, l, w: Bun.stringWidth(l) <= 70 }).toEqual({ args, l, w: true });
        expect(r.out).toContain("…");
        expect(lines[0]).toMatch(args[0] === "get" ? /^ID\s+NAME\s+MODE/ : /^DEVICE\s+ID\s+LAST USED\s+CURRENT$/);
      }
      // Piped: the same rows whole and tab-separated, nothing cut.
      const p = await run(["get", "apps"], { env });
      expect(p.stdout).toContain(`${A.supportChat}\tSupport Chat for the customers of the northern hemisphere region\tchat\t`);
      expect(p.stdout).not.toContain("…");
    } finally {
      s.apps[0].name = "Support Chat";
    }
  });

  test("LAST USED is relative (5m ago, 17h ago)", async () => {
    const now = Date.now();
    const row = (id: string, label: string, agoMs: number) => ({
      id, prefix: "dfoa_xx", client_id: "difyctl", device_label: label, created_at: new Date(now - 86_400_000).toISOString(),
      last_used_at: new Date(now - agoMs).toISOString(), expires_at: null,
    });
    s.faults.add({ match: { method: "GET", path: "/account/sessions" }, respond: { status: 200, body: {
      page: 1, limit: 200, total: 2, has_more: false, data: [row("id-a", "difyctl on laptop", 5 * 60_000 + 5_000), row("id-b", "difyctl on ci", 17 * 3600_000 + 60_000)],
    } } });
    const r = await runPty(["auth", "devices", "list"], env, [], { cols: 100 });
    const out = visible(r.out);
    expect(out).toMatch(/difyctl on laptop\s+id-a\s+\d{4}-\d\d-\d\d\s+5m ago/);
    expect(out).toMatch(/difyctl on ci\s+id-b\s+\d{4}-\d\d-\d\d\s+17h ago/);
  });
});

describe("a pipe or a file gets the human form", () => {
  test("run app X \"hi\" > answer.txt holds the answer; a workflow's file holds its outputs as JSON", async () => {
    const out = join(tempDir(), "answer.txt");
    const p = Bun.spawn(["sh", "-c", `"$0" run app "Support Chat" "hi" > '${out}'`, BIN], { env, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    const code = await p.exited;
    capture(["run", "app", "Support Chat", "hi", ">", out], { code, stdout, stderr });
    expect(code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(answerFor(app(A.supportChat), "hi", {}) + "\n");
    expect(stderr).toContain("conversation: "); // how to continue, on stderr only
    const inputs = { text: "one two three four five", count: 2 };
    const wf = await run(["run", "app", A.summarizer, "--inputs", JSON.stringify(inputs)], { env });
    expect(wf.code).toBe(0);
    expect(JSON.parse(wf.stdout)).toEqual(summarize(inputs));
    // --json still gives the folded result.
    expect(JSON.parse((await run(["run", "app", A.summarizer, "--inputs", JSON.stringify(inputs), "--json"], { env })).stdout)).toMatchObject({ status: "succeeded", outputs: summarize(inputs) });
  });

  test("get app in a pipe: the app view, not JSON", async () => {
    const r = await run(["get", "app", A.blogWriter], { env });
    expect(r.stdout.startsWith("Blog Writer\nID:")).toBe(true);
    expect(r.stdout).toContain("Inputs:\nNAME");
  });
});

describe("the query from stdin", () => {
  test("`run app <app> -` reads the query from stdin; a chat app with no query reads a piped stdin", async () => {
    const dash = await run(["run", "app", "Support Chat", "-"], { env, stdin: "How do I reset my password?\n" });
    expect(dash.code).toBe(0);
    expect(dash.stdout).toBe(answerFor(app(A.supportChat), "How do I reset my password?", {}) + "\n");
    const implicit = await run(["run", "app", A.supportChat, "--json"], { env, stdin: "piped question" });
    expect(implicit.code).toBe(0);
    expect(JSON.parse(implicit.stdout).answer).toBe(answerFor(app(A.supportChat), "piped question", {}));
    // No stdin to read (/dev/null): still the usage error, no run.
    const none = await run(["run", "app", A.supportChat, "--json"], { env });
    expect(none.code).toBe(2);
    expect(envelope(none.stderr).code).toBe("usage_missing_arg");
    // stdin cannot carry both.
    const both = await run(["run", "app", A.blogWriter, "-", "--inputs", "-", "--json"], { env, stdin: "x" });
    expect(both.code).toBe(2);
  });
});

describe("completion from the app cache (no request on <Tab>)", () => {
  test("after get apps, app names and ids complete for get app / run app", async () => {
    expect((await run(["get", "apps"], { env })).code).toBe(0);
    const before = s.requests.length;
    const bash = await run(["completion", "bash", "--", "run", "app", "Supp"], { env });
    expect(bash.stdout).toBe("Support\\ Chat\n");
    const zsh = await run(["completion", "zsh", "--", "get", "app", "c0000000-0000-4000-8000-00000000000"], { env });
    expect(zsh.stdout).toContain(`${A.blogWriter}:Blog Writer, completion\n`);
    const modes = await run(["completion", "bash", "--", "get", "apps", "--mode", "w"], { env });
    expect(modes.stdout).toBe("workflow\n");
    expect(s.requests.length).toBe(before);
  });

  test("bash: the completion function gives the name, escaped, and never falls back to file names", async () => {
    const script = join(tempDir(), "difyctl.bash");
    require("node:fs").writeFileSync(script, (await run(["completion", "bash"], { env })).stdout);
    const sh = (cmd: string) => Bun.spawnSync(["bash", "-c", cmd], { env: { ...env, PATH: `${join(BIN, "..")}:${env.PATH}` } });
    const r = sh(`source '${script}' && COMP_WORDS=(difyctl run app 'Text') && COMP_CWORD=3 && _difyctl_complete && printf '%s\\n' "\${COMPREPLY[@]}"`);
    expect(r.stdout.toString()).toBe("Text\\ Summarizer\n");
    expect(sh(`source '${script}' && complete -p difyctl`).stdout.toString()).not.toContain("-o default");
  });
});

describe.skipIf(!haveScript)("the spinner: only on a terminal, only when the server is slow", () => {
  test("a slow get apps shows 'Loading apps…' on a pty, then the table; a pipe never sees it", async () => {
    s.faults.add({ match: { method: "GET", path: "/apps" }, respond: { delayMs: 900 } });
    const tty = await runPty(["get", "apps"], env);
    expect(tty.code).toBe(0);
    expect(tty.out).toMatch(/\r\x1b\[2K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Loading apps…/);
    expect(tty.out).toMatch(/\r\x1b\[2K(\x1b\[1m)?ID\s+NAME/); // erased before the table
    s.faults.add({ match: { method: "GET", path: "/apps" }, respond: { delayMs: 900 } });
    const piped = await run(["get", "apps"], { env });
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe("");
    expect(piped.stdout).not.toContain("Loading");
    // A fast answer: no spinner at all.
    const fast = await runPty(["get", "apps"], env);
    expect(fast.out).not.toContain("Loading apps");
  });

  test("a run waiting for its first token shows one; the answer replaces it", async () => {
    s.faults.add({ match: { method: "POST", path: `/apps/${A.supportChat}/run` }, respond: { delayMs: 900 } });
    const r = await runPty(["run", "app", A.supportChat, "hi"], env);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Waiting for the app…");
    expect(visible(r.out)).toContain(answerFor(app(A.supportChat), "hi", {}));
  });
});

describe("a host that is not a Dify server", () => {
  test("501 or a web page on the device flow → 'does not look like a Dify server', unsupported_endpoint, exit 6", async () => {
    const t = await pool.start();
    t.faults.add({ match: { method: "POST", path: "/oauth/device/code" }, respond: { status: 501, rawBody: "Not Implemented", headers: { "Content-Type": "text/plain" } } });
    const r = await login(t.url, join(tempDir(), "cfg"), ["--json"]);
    expect(r.code).toBe(6);
    expect(envelope(r.stderr)).toMatchObject({ code: "unsupported_endpoint", http_status: 501, message: expect.stringContaining("does not look like a Dify server") });
    t.faults.add({ match: { method: "POST", path: "/oauth/device/code" }, respond: { status: 200, rawBody: "<!doctype html><title>Welcome</title>", headers: { "Content-Type": "text/html" } } });
    const h = await login(t.url, join(tempDir(), "cfg"), ["--json"]);
    expect(h.code).toBe(6);
    expect(envelope(h.stderr).message).toContain("answered with a web page");
  });
});
