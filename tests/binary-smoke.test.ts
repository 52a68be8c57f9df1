// Every command in the command table, once, through the compiled binary against the fake server:
// the proof that the built artefact routes, loads each lazily imported command module, talks HTTP
// and exits as it should. Command logic is tested in-process elsewhere (runInProcess); this file
// stays small and fails if a command is added to the table without a run here.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { COMMANDS } from "../src/cli/command-table.ts";
import { type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { baseEnv, envelope, FAST, login, run, tempDir } from "./helpers.ts";

const A = IDS.apps;
let s: FakeServer;
let dir: string;
let env: Record<string, string>;
let sso: Record<string, string>;
let labs: Record<string, string>;
const ran = new Set<string>();

/** Runs the binary and records which command of the table it ran. */
async function bin(args: string[], e: Record<string, string> = env) {
  const found = COMMANDS.filter((c) => c.path.every((w, i) => args[i] === w)).sort((a, b) => b.path.length - a.path.length)[0];
  if (found) ran.add(found.path.join(" "));
  return run(args, { env: e });
}

beforeAll(async () => {
  s = await startFakeServer({ ...FAST, rateLimitPerToken: 0, autoApprove: { afterPolls: 1 } });
  dir = join(tempDir(), "cfg");
  env = baseEnv(dir);
  sso = baseEnv(tempDir(), { DIFY_TOKEN: s.mintToken("sso").token, DIFY_HOST: s.url });
  labs = baseEnv(tempDir(), { DIFY_TOKEN: s.mintToken("hana@example.com").token, DIFY_HOST: s.url, DIFY_WORKSPACE_ID: IDS.workspaces.labs });
});
afterAll(async () => { await s.close(); });

describe("the compiled binary runs every command", () => {
  test("sign in, read the session, switch workspace, list and revoke devices", async () => {
    ran.add("auth login");
    const l = await login(s.url, dir);
    expect([l.code, l.stderr]).toEqual([0, expect.any(String)]);
    const st = await bin(["auth", "status", "--json"]);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ logged_in: true });
    const w = await bin(["auth", "whoami", "--json"]);
    expect(JSON.parse(w.stdout)).toMatchObject({ email: "gareth@dify.ai" });
    const u = await bin(["auth", "use", IDS.workspaces.side, "--json"]);
    expect(JSON.parse(u.stdout)).toMatchObject({ workspace: { id: IDS.workspaces.side } });
    expect((await bin(["auth", "use", IDS.workspaces.acme])).code).toBe(0);
    const other = s.mintToken(undefined, "difyctl on smoke-old");
    const list = await bin(["auth", "devices", "list", "--json"]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).map((x: { id: string }) => x.id)).toContain(other.tokenId);
    const rv = await bin(["auth", "devices", "revoke", other.tokenId, "--json"]);
    expect(rv.code).toBe(0);
    const d = await bin(["auth", "doctor", "--json"]);
    expect(d.code).toBe(0);
    expect(d.stdout.trimStart().startsWith("{")).toBe(true);
    expect(JSON.parse(d.stdout)).toBeTruthy();
  });

  test("apps: list, describe, run, pause and resume; workspaces", async () => {
    const ws = await bin(["get", "workspaces", "--json"]);
    expect(JSON.parse(ws.stdout).map((x: { id: string }) => x.id)).toContain(IDS.workspaces.acme);
    const apps = await bin(["get", "apps", "--json"]);
    expect(JSON.parse(apps.stdout).map((x: { id: string }) => x.id)).toContain(A.supportChat);
    const g = await bin(["get", "app", A.blogWriter, "--json"]);
    expect(JSON.parse(g.stdout).info).toMatchObject({ id: A.blogWriter });
    const r = await bin(["run", "app", A.supportChat, "hello", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "succeeded" });
    const p = await bin(["run", "app", A.expenseApproval, "--inputs", JSON.stringify({ amount: 120 }), "--json"], labs);
    expect(p.code).toBe(8);
    const paused = JSON.parse(p.stdout);
    const res = await bin(["resume", "app", A.expenseApproval, paused.forms[0].form_token, "--action", "reject", "--inputs", '{"category":"meals"}', "--run", paused.workflow_run_id, "--json"], labs);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ status: "succeeded" });
  });

  test("external SSO: list, read and run a permitted app", async () => {
    const l = await bin(["get", "permitted-external-apps", "--json"], sso);
    expect(l.code).toBe(0);
    expect(JSON.parse(l.stdout).map((x: { id: string }) => x.id)).toContain(A.supportChat);
    const g = await bin(["get", "permitted-external-app", A.summarizer, "--json"], sso);
    expect(JSON.parse(g.stdout)).toMatchObject({ id: A.summarizer });
    const r = await bin(["run", "permitted-external-app", A.supportChat, "hello", "--json"], sso);
    expect(r.code).toBe(0);
  });

  test("completion, version, an error's exit code and envelope, --jq, help; then sign out", async () => {
    const c = await bin(["completion", "bash", "--", "auth", "st"]);
    expect(c.stdout).toContain("status");
    const v = await bin(["version"]);
    expect(v.stdout).toContain("difyctl");
    expect((await run(["--version"], { env })).stdout).toMatch(/^difyctl \S+\n$/);
    const bad = await run(["get", "apps", "--limit", "0", "--json"], { env });
    expect(bad.code).toBe(2);
    expect(envelope(bad.stderr).code).toBe("usage_invalid_flag");
    const unknown = await run(["auth", "stauts"], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("auth status");
    const jq = await run(["get", "apps", "--jq", ".[0].id"], { env });
    expect(jq.code).toBe(0);
    expect(jq.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    expect((await run(["--help"], { env })).stdout).toContain("Usage");
    const out = await bin(["auth", "logout"]);
    expect(out.code).toBe(0);
    expect(existsSync(join(dir, "tokens.yml"))).toBe(false);
    expect((await bin(["auth", "status"])).code).toBe(4);
  });

  test("no command in the table went without a binary run", () => {
    expect(COMMANDS.map((c) => c.path.join(" ")).filter((p) => !ran.has(p))).toEqual([]);
  });
});
