// The sign-in screen on a real terminal (util-linux `script` gives the binary a pty on stdin,
// stdout and stderr): the host prompt, what is shown while waiting, and how it ends. Keys are
// typed in answer to what the screen shows, not after fixed delays.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { baseEnv, BIN, capture, haveScript, login, serverPool, tempDir } from "./helpers.ts";

const pool = serverPool();
afterAll(() => pool.closeAll());

/** A reply typed once the screen has shown `after` for the `nth` time (1-based). */
interface Reply { after: string; nth?: number; keys: string }

async function onTerminal(args: string[], env: Record<string, string>, replies: Reply[] = []) {
  const cmd = [BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const proc = Bun.spawn(["script", "-qfec", cmd, "/dev/null"], { env, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const pending = [...replies];
  let screen = "";
  const reader = proc.stdout.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    screen += new TextDecoder().decode(value);
    while (pending.length && screen.split(pending[0].after).length - 1 >= (pending[0].nth ?? 1)) {
      try { proc.stdin.write(pending.shift()!.keys); proc.stdin.flush(); } catch { /* exited */ }
    }
  }
  const code = await proc.exited;
  clearTimeout(timer);
  capture(args, { code, stdout: screen, stderr: "" });
  // What a person reads: colours and link targets dropped, carriage returns and the spinner's
  // erase-line redraws folded away.
  const visible = screen.replace(/\x1b\]8;;[^\x1b]*\x1b\\/g, "").replace(/\x1b\[[0-9;]*m/g, "");
  const text = visible.replace(/\r\n/g, "\n").split("\n").map((l) => l.split("\r").pop()!.replace(/\x1b\[2K/g, "")).join("\n");
  return { code, screen, text };
}

const PROMPT = "? Dify host (";

describe.skipIf(!haveScript)("the sign-in screen on a terminal", () => {
  test("signed in to a plain-http loopback host: `auth login` + Enter on the offered host signs in again", async () => {
    const s = await pool.start();
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir)).code).toBe(0);
    const r = await onTerminal(["auth", "login", "--no-browser", "--no-qr"], baseEnv(dir, { TERM: "xterm-256color" }), [{ after: PROMPT, keys: "\r" }]);
    expect(r.text).toContain(`? Dify host (${s.url}): `);
    expect(r.text).not.toContain("invalid verification URL");
    expect(r.code).toBe(0);
    expect(r.text).toContain("Logged in as gareth@dify.ai (Gareth Chen)");
    // Who is signed in now, and that this replaces it.
    expect(r.text).toContain(`note: signed in to ${new URL(s.url).host} as gareth@dify.ai (Gareth Chen); this sign-in replaces that session once approved`);
  });

  test("an unusable host typed at the prompt asks again; the third bad answer ends it (exit 2)", async () => {
    const s = await pool.start();
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir)).code).toBe(0);
    const again = await onTerminal(["auth", "login", "--no-browser", "--no-qr"], baseEnv(dir, { TERM: "xterm-256color" }), [
      { after: PROMPT, keys: "not a host\r" },
      { after: PROMPT, nth: 2, keys: "\r" },
    ]);
    expect(again.text).toContain("host contains spaces or control characters; try again");
    expect(again.text.split(PROMPT)).toHaveLength(3);
    expect(again.code).toBe(0);

    const three = await onTerminal(["auth", "login", "--no-browser"], baseEnv(join(tempDir(), "cfg"), { TERM: "xterm-256color" }), [
      { after: PROMPT, keys: "a b\r" },
      { after: PROMPT, nth: 2, keys: "ftp://x.test\r" },
      { after: PROMPT, nth: 3, keys: "http://plain.test\r" },
    ]);
    expect(three.code).toBe(2);
    expect(three.text.split(PROMPT)).toHaveLength(4);
    expect(three.text).toContain("error: refusing plain-text http:// host plain.test");
    expect(three.text.match(/; try again/g)).toHaveLength(2);
  });

  test("the code is shown once, the agent markers stay off the screen, one storage notice", async () => {
    const s = await pool.start({ autoApprove: { afterPolls: 3 } });
    const dir = join(tempDir(), "cfg");
    const r = await onTerminal(["auth", "login", "--host", s.url, "--insecure", "--no-browser", "--no-qr"], baseEnv(dir, { TERM: "xterm-256color" }));
    expect(r.code).toBe(0);
    const lines = r.text.split("\n");
    const code = lines.map((l) => l.match(/^! ([A-Z0-9]{4}-[A-Z0-9]{4})$/)?.[1]).find(Boolean)!;
    expect(lines.filter((l) => l.includes(code!))).toHaveLength(1);
    expect(lines.filter((l) => /^(open|code) /.test(l))).toEqual([]);
    const notices = lines.filter((l) => /^(! )?(info|note|warning):/.test(l) && /tokens\.yml/.test(l));
    expect(notices).toHaveLength(1);
    expect(r.text).toContain("Waiting for authorization... done");
  });

  test("Ctrl-C while waiting: the spinner ends with 'cancelled', no error follows, exit 130", async () => {
    const s = await pool.start({ autoApprove: null });
    const dir = join(tempDir(), "cfg");
    const r = await onTerminal(["auth", "login", "--host", s.url, "--insecure", "--no-browser", "--no-qr"], baseEnv(dir, { TERM: "xterm-256color" }), [
      { after: "Waiting for authorization...", keys: "\x03" },
    ]);
    expect(r.code).toBe(130);
    expect(r.text).toContain("Waiting for authorization... cancelled\n");
    expect(r.text).not.toContain("failed");
    expect(r.text).not.toContain("error:");
  });
});
