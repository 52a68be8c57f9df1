// Shell completion: the completer against the command table, and the generated scripts loaded in
// real bash, zsh and fish (each calls back into the compiled binary on PATH).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { complete, type CompletionSources } from "../src/cli/completion.ts";
import { COMMANDS, flagsOf } from "../src/cli/command-table.ts";
import { APP_MODES } from "../src/apps/app-modes.ts";
import { type FakeServer, startFakeServer } from "./fake/server.ts";
import { baseEnv, BIN, FAST, login, run, tempDir } from "./helpers.ts";

const WS = [{ word: "b0000000-0000-4000-8000-000000000001", desc: "Acme Corp, owner" }, { word: "b0000000-0000-4000-8000-000000000002", desc: "Side Project, member" }];
const src: CompletionSources = { workspaceIds: () => WS };
const words = (ws: string[]) => complete(ws, src).map((c) => c.word);

describe("completer (driven by the command table)", () => {
  test("command words: top level, groups and prefixes", () => {
    const top = words([""]);
    for (const w of ["auth", "login", "logout", "completion", "version", "help"]) expect(top).toContain(w);
    expect(words(["auth", "dev"])).toEqual(["devices"]);
    expect(words(["auth", "devices", ""]).sort()).toEqual(["list", "revoke"]);
    expect(words(["au"])).toEqual(["auth"]);
    expect(words(["help", "auth", "st"])).toEqual(["status"]);
    // Every command of the table is reachable word by word.
    for (const c of COMMANDS) {
      for (let i = 0; i < c.path.length; i++) expect(words([...c.path.slice(0, i), c.path[i].slice(0, 1)])).toContain(c.path[i]);
    }
  });

  test("flags of the matched command, with descriptions; a flag already given is not offered again", () => {
    const login = complete(["auth", "login", "--"], src);
    const names = login.map((c) => c.word);
    for (const f of ["--host", "--no-browser", "--no-wait", "--resume", "--no-qr", "--json", "--help"]) expect(names).toContain(f);
    expect(login.find((c) => c.word === "--resume")!.desc).toContain("exit 0 when done");
    expect(words(["auth", "login", "--no-wait", "--no"])).not.toContain("--no-wait");
    expect(words(["auth", "status", "-"])).toContain("--verify");
    expect(words(["login", "--res"])).toEqual(["--resume"]);
  });

  test("values from local state: workspace ids for `auth use` and --workspace; shells for `completion`", () => {
    expect(words(["auth", "use", ""])).toEqual(WS.map((w) => w.word));
    expect(words(["auth", "use", WS[0].word, ""])).toEqual([]);
    expect(words(["completion", "z"])).toEqual(["zsh"]);
    const withWorkspace = COMMANDS.find((c) => flagsOf(c).some((f) => f.long === "--workspace"));
    if (withWorkspace) expect(words([...withWorkspace.path, "--workspace", "b"])).toEqual(WS.map((w) => w.word));
    // The value of --host is free text: nothing offered, and it is not taken for an argument.
    expect(words(["auth", "login", "--host", ""])).toEqual([]);
    expect(words(["auth", "login", "--host", "x", "--no-b"])).toEqual(["--no-browser"]);
  });

  test("enum values from the table (--mode lists every app mode); global flags before the command words", () => {
    expect(words(["get", "apps", "--mode", ""])).toEqual([...APP_MODES]);
    expect(words(["get", "permitted-external-apps", "--mode", "w"])).toEqual(["workflow"]);
    expect(words(["--json", "auth", "st"])).toEqual(["status"]);
    expect(words(["--json", "auth", "status", "--v"]).sort()).toEqual(["--verbose", "--verify"]);
    expect(words(["auth", "--json", "st"])).toEqual(["status"]);
    expect(words(["auth", "--json", "status", "--j"])).not.toContain("--json");
    expect(words(["auth", "--bogus", ""])).toEqual([]);
    // Short spellings count as given, and a value option's value is not taken for an argument.
    expect(words(["auth", "status", "-v", "--verb"])).toEqual([]);
    expect(words(["completion", "--", "b"])).toEqual(["bash"]);
  });

  test("unknown words complete to nothing", () => {
    expect(words(["nope", ""])).toEqual([]);
    expect(words(["auth", "whoami", "extra", ""])).toEqual([]);
  });
});

const has = (cmd: string) => Bun.spawnSync(["sh", "-c", `command -v ${cmd}`]).exitCode === 0;

describe("generated scripts in real shells", () => {
  let s: FakeServer;
  let env: Record<string, string>;
  const script = (shell: string) => join(tempDir(), `difyctl.${shell}`);
  const files: Record<string, string> = {};
  beforeAll(async () => {
    // A signed-in config dir, so `auth use <Tab>` has workspace ids to offer.
    s = await startFakeServer({ ...FAST, autoApprove: { afterPolls: 1 } });
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir)).code).toBe(0);
    env = baseEnv(dir, { PATH: `${dirname(BIN)}:${process.env.PATH ?? "/usr/bin:/bin"}` });
    for (const sh of ["bash", "zsh", "fish", "powershell"]) {
      const r = await run(["completion", sh], { env });
      expect(r.code).toBe(0);
      files[sh] = script(sh);
      writeFileSync(files[sh], r.stdout);
    }
  });
  afterAll(async () => { await s?.close(); });

  const sh = async (argv: string[]) => {
    const p = Bun.spawn(argv, { env, stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    return { code: await p.exited, out, err };
  };

  test("bash: syntax, then `auth dev<Tab>` → devices and `auth use <Tab>` → the workspace ids", async () => {
    expect((await sh(["bash", "-n", files.bash])).code).toBe(0);
    const probe = (ws: string[], cword: number) => sh(["bash", "-c",
      `source '${files.bash}' && COMP_WORDS=(${ws.map((w) => `'${w}'`).join(" ")}) && COMP_CWORD=${cword} && _difyctl_complete && printf '%s\\n' "\${COMPREPLY[@]}"`]);
    const a = await probe(["difyctl", "auth", "dev"], 2);
    expect(a.err).toBe("");
    expect(a.out).toBe("devices\n");
    const b = await probe(["difyctl", "auth", "use", ""], 3);
    expect(b.out.trim().split("\n").sort()).toEqual(["b0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000002"]);
    const c = await probe(["difyctl", "auth", "login", "--no-w"], 3);
    expect(c.out).toBe("--no-wait\n");
    // The completion is registered for the command name.
    const d = await sh(["bash", "-c", `source '${files.bash}' && complete -p difyctl`]);
    expect(d.out).toContain("-F _difyctl_complete difyctl");
  });

  test.skipIf(!has("zsh"))("zsh: syntax, loads after compinit without errors, completes `auth dev` → devices", async () => {
    expect((await sh(["zsh", "-n", files.zsh])).code).toBe(0);
    const load = await sh(["zsh", "-f", "-c", `autoload -Uz compinit && compinit -u -D && source '${files.zsh}' && print ok`]);
    expect(load.err).toBe("");
    expect(load.out).toBe("ok\n");
    // _describe is stubbed to print what it would offer.
    const r = await sh(["zsh", "-f", "-c", `compdef() { :; }; _describe() { print -rl -- "\${(@P)4}"; }; source '${files.zsh}'; words=(difyctl auth dev); CURRENT=3; _difyctl`]);
    expect(r.err).toBe("");
    expect(r.out).toBe("devices:auth devices commands\n");
  });

  test.skipIf(!has("fish"))("fish: syntax, then `complete -C` gives devices", async () => {
    expect((await sh(["fish", "-n", files.fish])).code).toBe(0);
    const r = await sh(["fish", "--no-config", "-c", `source '${files.fish}'; complete -C 'difyctl auth dev'`]);
    expect(r.err).toBe("");
    expect(r.out).toBe("devices\tauth devices commands\n");
  });

  test("powershell script registers a native completer that calls back into difyctl", () => {
    const text = require("node:fs").readFileSync(files.powershell, "utf8") as string;
    expect(text).toContain("Register-ArgumentCompleter -Native -CommandName difyctl");
    expect(text).toContain("difyctl completion powershell --");
  });

  test("the callback by hand, and an unknown shell is a usage error", async () => {
    const r = await run(["completion", "bash", "--", "auth", "dev"], { env });
    expect(r.stdout).toBe("devices\n");
    const z = await run(["completion", "zsh", "--", "auth", "login", "--res"], { env });
    expect(z.stdout).toBe("--resume:Poll a sign-in started with --no-wait once: exit 0 when done, 8 while still pending\n");
    const bad = await run(["completion", "tcsh"], { env });
    expect(bad.code).toBe(2);
  });
});
