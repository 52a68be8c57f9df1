// A hostile server puts terminal control sequences into every field difyctl prints: account name
// and email, workspace names, SSO email and issuer, device labels, app names. Each command runs
// in a real pseudo-terminal and the raw bytes it receives must hold none of them, while --json
// keeps the exact values (escaped).
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { IDS } from "./fake/server.ts";
import { baseEnv, haveScript, login, run, runPty, serverPool, tempDir } from "./helpers.ts";

const pool = serverPool();
afterAll(() => pool.closeAll());

// Each payload, and the raw bytes that must never reach the terminal because of it.
const PAYLOADS: { name: string; text: string; forbidden: string[] }[] = [
  { name: "SGR colour", text: "\x1b[31mred\x1b[0m", forbidden: ["\x1b[31m"] },
  { name: "OSC 52 clipboard write", text: "\x1b]52;c;ZXZpbA==\x07", forbidden: ["\x1b]52;c;ZXZpbA", "]52;c;ZXZpbA==\x07"] },
  { name: "OSC 8 hidden link", text: "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\", forbidden: ["\x1b]8;;https://evil"] },
  { name: "CR + erase line", text: "ok\r\x1b[2KLogged in as admin@corp", forbidden: ["\r\x1b[2KLogged in as admin"] },
  { name: "alternate screen", text: "\x1b[?1049h", forbidden: ["\x1b[?1049h"] },
  { name: "bidi override", text: "txt.\u202Eexe", forbidden: ["\u202E"] },
  { name: "C1 CSI", text: "\u009b31m", forbidden: ["\u009b"] },
  { name: "bell and DEL", text: "a\x07b\x7f", forbidden: ["a\x07b", "\x7f"] },
];
const HOSTILE = PAYLOADS.map((p) => p.text).join("|");

function expectClean(out: string, where: string) {
  for (const p of PAYLOADS) {
    for (const f of p.forbidden) {
      if (out.includes(f)) throw new Error(`${where}: ${p.name} reached the terminal raw (${JSON.stringify(f)})`);
    }
  }
}

async function hostileServer() {
  // Approve by account id: the email itself is hostile.
  const s = await pool.start({ autoApprove: { afterPolls: 1, as: IDS.accounts.gareth } });
  const gareth = s.accounts.find((a) => a.id === IDS.accounts.gareth)!;
  gareth.name = `Gareth ${HOSTILE}`;
  gareth.email = `gareth${PAYLOADS[0].text}@dify.ai`;
  for (const w of s.workspaces) w.name = `${w.name} ${HOSTILE}`;
  for (const a of s.apps) a.name = `${a.name} ${HOSTILE}`;
  return s;
}

describe.skipIf(!haveScript)("terminal injection: server text never reaches a terminal raw", () => {
  test("auth login, status, status -v, whoami, use, devices list, get apps: no payload survives; JSON keeps the exact values", async () => {
    const s = await hostileServer();
    const dir = join(tempDir(), "cfg");
    const env = baseEnv(dir, { TERM: "xterm-256color" });
    const li = await runPty(["auth", "login", "--host", s.url, "--insecure", "--no-browser", "--no-qr"], env);
    expect(li.code).toBe(0);
    expect(li.out).toContain("Logged in as");
    expectClean(li.out, "auth login");
    // A device session labelled by a hostile machine.
    s.mintToken(IDS.accounts.gareth, `difyctl on ${HOSTILE}`);

    const cmds: string[][] = [
      ["auth", "status"], ["auth", "status", "-v"], ["auth", "whoami"],
      ["auth", "use", IDS.workspaces.side], ["auth", "devices", "list"], ["get", "apps"],
    ];
    for (const args of cmds) {
      const r = await runPty(args, env);
      expect(r.code, args.join(" ")).toBe(0);
      expectClean(r.out, args.join(" "));
    }
    // The names are shown, cleaned: the visible text survives.
    const st = await runPty(["auth", "status", "-v"], env);
    expect(st.out).toContain("Gareth [31mred[0m");

    // Stored as sent, and JSON output is exact: the same string the server sent, escaped.
    const j = await run(["auth", "status", "--json"], { env: baseEnv(dir) });
    expect(j.code).toBe(0);
    expect(j.stdout).not.toContain("\x1b");
    const body = JSON.parse(j.stdout);
    expect(body.account.name).toBe(`Gareth ${HOSTILE}`);
    expect(body.workspace.name).toContain(HOSTILE);
  }, 60_000);

  test("errors on stderr carrying server text are cleaned too", async () => {
    const s = await pool.start();
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir)).code).toBe(0);
    s.faults.push({ match: { path: "/apps" }, respond: { status: 400, body: { code: "bad_request", message: `nope ${HOSTILE}` } } });
    const r = await runPty(["get", "apps"], baseEnv(dir, { TERM: "xterm-256color" }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("nope");
    expectClean(r.out, "error message");
  }, 30_000);
});
