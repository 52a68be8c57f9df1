// The terminal experience, in process: the colour decision, symbols, fitted and piped tables, the
// name resolver, the progress spinner on a fake clock, the picker, the stdin query, the app cache
// behind completion and the completer's quoting. The binary end to end is terminal-ux.test.ts.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { appScope, cachedApps, rememberApps } from "../src/apps/app-cache.ts";
import { readQueryFromStdin } from "../src/apps/query-input.ts";
import { checkAppRef } from "../src/apps/resolve-app.ts";
import { devicesTable } from "../src/auth/devices.ts";
import { complete, FILES_MARK, formatCandidates, unquote } from "../src/cli/completion.ts";
import { CliError } from "../src/cli/errors.ts";
import { boldHeadings, colourFromEnv, markError, markNotice, okText, styleFor, statusWord } from "../src/ui/colour.ts";
import { pick } from "../src/ui/picker.ts";
import { startProgress, type Timers } from "../src/ui/progress.ts";
import { nameError, resolveByName } from "../src/ui/resolve-name.ts";
import { type Column, fitWidths, renderColumns, renderTable } from "../src/ui/table.ts";
import { tempDir } from "./helpers.ts";

const ESC = "\x1b[";
const info = (env: Record<string, string>, tty: boolean) => ({ env, isTTY: () => tty });

describe("colour: decided from the environment, then the stream", () => {
  test("NO_COLOR, CLICOLOR=0 and TERM=dumb disable; CLICOLOR_FORCE / FORCE_COLOR force (FORCE_COLOR=0 disables)", () => {
    expect(colourFromEnv({})).toBe("auto");
    expect(colourFromEnv({ NO_COLOR: "1" })).toBe("never");
    expect(colourFromEnv({ NO_COLOR: "" })).toBe("auto"); // empty means unset
    expect(colourFromEnv({ CLICOLOR: "0" })).toBe("never");
    expect(colourFromEnv({ TERM: "dumb" })).toBe("never");
    expect(colourFromEnv({ CLICOLOR_FORCE: "1", NO_COLOR: "1" })).toBe("always");
    expect(colourFromEnv({ CLICOLOR_FORCE: "0" })).toBe("auto");
    expect(colourFromEnv({ FORCE_COLOR: "1", TERM: "dumb" })).toBe("always");
    expect(colourFromEnv({ FORCE_COLOR: "0" })).toBe("never");
    expect(colourFromEnv({ FORCE_COLOR: "false" })).toBe("never");
  });

  test("a terminal gets colour and symbols; NO_COLOR keeps the symbols only; a pipe gets neither unless forced", () => {
    const before = process.env.FORCE_COLOR;
    const tty = styleFor(info({}, true), 1);
    // Loading picocolors sets FORCE_COLOR only for the length of the import (a child process must not inherit it).
    expect(process.env.FORCE_COLOR).toBe(before);
    expect(tty).toMatchObject({ tty: true, colour: true });
    expect(okText(tty, "Logged out of h")).toBe(`${ESC}32m✓${ESC}39m Logged out of h`);
    const plainTty = styleFor(info({ NO_COLOR: "1" }, true), 1);
    expect(okText(plainTty, "Logged out of h")).toBe("✓ Logged out of h");
    const pipe = styleFor(info({}, false), 1);
    expect(pipe).toMatchObject({ tty: false, colour: false });
    expect(okText(pipe, "Logged out of h")).toBe("Logged out of h");
    const forced = styleFor(info({ FORCE_COLOR: "1" }, false), 1);
    expect(forced).toMatchObject({ tty: false, colour: true });
  });

  test("notices get a yellow '!', errors a red X, help headings bold, doctor statuses their colour", () => {
    const s = styleFor(info({}, true), 2);
    expect(markNotice(s, "warning: careful\n")).toBe(`${ESC}33m!${ESC}39m warning: careful\n`);
    expect(markNotice(s, "Logged in\n")).toBe("Logged in\n");
    expect(markNotice(styleFor(info({}, false), 2), "note: x\n")).toBe("note: x\n");
    const e = markError(s, "error: nope\nhint: try\n");
    expect(e).toContain(`${ESC}91mX`);
    expect(e).toContain(`${ESC}2mhint:`);
    expect(e).not.toContain(`${ESC}31m`); // plain red is what hostile text carries; ours is bright
    expect(markError(styleFor(info({}, false), 2), "error: nope\n")).toBe("error: nope\n");
    expect(boldHeadings(s, "Usage:\n  difyctl x\n\nOptions:\n  --json  Print: JSON\n")).toBe(`${ESC}1mUsage:${ESC}22m\n  difyctl x\n\n${ESC}1mOptions:${ESC}22m\n  --json  Print: JSON\n`);
    expect(statusWord(s, "pass")).toBe(`${ESC}32mpass${ESC}39m`);
    expect(statusWord(s, "warn")).toBe(`${ESC}33mwarn${ESC}39m`);
    expect(statusWord(s, "fail")).toBe(`${ESC}91mfail${ESC}39m`);
  });

  test("the stream is asked once per context and stream", () => {
    let asked = 0;
    const ctx = { env: {}, isTTY: () => { asked++; return false; } };
    styleFor(ctx, 1);
    styleFor(ctx, 1);
    styleFor(ctx, 2);
    expect(asked).toBe(2);
  });
});

describe("tables", () => {
  const cols: Column[] = [{ header: "ID" }, { header: "NAME", max: 40, shrink: true, min: 12 }, { header: "MODE" }, { header: "UPDATED", drop: 1 }];
  const rows = [
    ["c0000000-0000-4000-8000-000000000001", "A very long app name that goes on and on well past any column", "advanced-chat", "2026-01-24 09:30"],
    ["c0000000-0000-4000-8000-000000000002", "全角の名前のアプリケーション", "chat", "2026-01-23 09:30"],
  ];
  const widest = (t: string) => Math.max(...t.split("\n").map((l) => Bun.stringWidth(l)));

  test("fits any terminal width: no line longer than it, cut with …", () => {
    for (let w = 20; w <= 140; w++) expect(widest(renderColumns(cols, rows, { tty: true, width: w }))).toBeLessThanOrEqual(w);
    const at70 = renderColumns(cols, rows, { tty: true, width: 70 });
    expect(at70).toContain("…");
    expect(at70.split("\n")[0]).toMatch(/^ID\s+NAME\s+MODE$/); // UPDATED dropped before ids are cut
    expect(at70).toContain("c0000000-0000-4000-8000-000000000001");
    const wide = renderColumns(cols, rows, { tty: true, width: 200 });
    expect(wide.split("\n")[0]).toMatch(/UPDATED$/);
  });

  test("the name shrinks to its floor before a column is dropped", () => {
    expect(fitWidths(cols, [36, 60, 13, 16], 200)).toEqual([36, 60, 13, 16]);
    expect(fitWidths(cols, [36, 60, 13, 16], 90)).toEqual([36, 19, 13, 16]);
    expect(fitWidths(cols, [36, 60, 13, 16], 80)).toEqual([36, 27, 13, null]);
  });

  test("a pipe gets tab-separated rows, whole, without a header; the header is bold on a colour terminal", () => {
    const t = renderColumns(cols, rows, { tty: false });
    expect(t).toBe(rows.map((r) => r.join("\t")).join("\n") + "\n");
    const bold = renderColumns(cols, rows, { tty: true, width: 200, header: (s) => `<b>${s}</b>` });
    expect(bold.startsWith("<b>ID")).toBe(true);
    // The old call without a layout is unchanged.
    expect(renderTable(["ID", "NAME"], [["1", "a\u001b[31mred"], ["22", "b"]])).toBe("ID  NAME\n1   a[31mred\n22  b\n");
  });

  test("auth devices list: an ID column and LAST USED relative to the injected clock", () => {
    const now = Date.parse("2026-03-16T10:00:00Z");
    const s = (id: string, label: string, ago: number | null) => ({
      id, prefix: null, client_id: "difyctl", device_label: label, created_at: "2026-03-01T00:00:00Z",
      last_used_at: ago === null ? null : new Date(now - ago).toISOString(), expires_at: null,
    });
    const t = devicesTable([s("id-1", "difyctl on gareth-mbp", 5 * 60_000), s("id-2", "difyctl on ci-runner-01", 17 * 3600_000), s("id-3", "difyctl on old", null)], { currentId: "id-1", now });
    const lines = t.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^DEVICE\s+ID\s+CREATED\s+LAST USED\s+CURRENT$/);
    expect(lines[1]).toMatch(/^difyctl on gareth-mbp\s+id-1\s+2026-03-0\d\s+5m ago\s+\*$/);
    expect(lines[2]).toMatch(/^difyctl on ci-runner-01\s+id-2\s+2026-03-0\d\s+17h ago$/);
    expect(lines[3]).toMatch(/never$/);
    const narrow = devicesTable([s("c0000000-0000-4000-8000-000000000001", "difyctl on a-very-long-hostname.example.com", 60_000)], { currentId: null, now, layout: { tty: true, width: 70 } });
    expect(widest(narrow)).toBeLessThanOrEqual(70);
    expect(narrow).toContain("c0000000-0000-4000-8000-000000000001");
  });
});

describe("names and ids", () => {
  const apps = [
    { id: "c1", name: "Support Chat" }, { id: "c2", name: "support chat" }, { id: "c3", name: "Blog Writer" }, { id: "c4", name: "Twin" }, { id: "c5", name: "twin" }, { id: "c6", name: "TWIN" },
  ];
  test("id first, then the exact name, then a unique case-insensitive match; several → ambiguous", () => {
    expect(resolveByName(apps, "C3")).toMatchObject({ kind: "one", item: { id: "c3" }, by: "id" });
    expect(resolveByName(apps, "Support Chat")).toMatchObject({ kind: "one", item: { id: "c1" }, by: "name" });
    expect(resolveByName(apps, "blog writer")).toMatchObject({ kind: "one", item: { id: "c3" } });
    expect(resolveByName(apps, "SUPPORT CHAT")).toMatchObject({ kind: "ambiguous" });
    expect(resolveByName(apps, "tWiN")).toMatchObject({ kind: "ambiguous" });
    expect(resolveByName(apps, "Twin")).toMatchObject({ kind: "one", item: { id: "c4" } }); // exact beats case-insensitive
    expect(resolveByName(apps, "Blog")).toEqual({ kind: "none" }); // never a substring guess
    expect(resolveByName(apps, "  ")).toEqual({ kind: "none" });
  });

  test("the errors: exit 2, candidates with their ids, in the message and the details", () => {
    const m = resolveByName(apps, "SUPPORT CHAT");
    const e = nameError("SUPPORT CHAT", m, apps, { what: "app", listHint: "list them" });
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(`'SUPPORT CHAT' names 2 apps: "Support Chat" (c1), "support chat" (c2)`);
    expect(e.details).toEqual({ candidates: [{ id: "c1", name: "Support Chat" }, { id: "c2", name: "support chat" }] });
    const none = nameError("Nope", { kind: "none" }, [], { what: "app", listHint: "run 'difyctl get apps'" });
    expect(none.message).toBe("no app has the id or name 'Nope'");
    expect(none.hint).toBe("run 'difyctl get apps'");
  });

  test("an app argument is checked before any request: one clean line, at most 200 characters", () => {
    expect(checkAppRef("  Support Chat ")).toBe("Support Chat");
    for (const bad of ["", "   ", "a\u001b[2Jb", "two\nlines", "x".repeat(201)]) {
      expect(() => checkAppRef(bad)).toThrow(CliError);
    }
  });
});

describe("progress spinner", () => {
  function fakeTimers() {
    let now = 0;
    const due: { at: number; every?: number; fn: () => void; id: number }[] = [];
    let seq = 0;
    const t: Timers = {
      setTimeout: (fn, ms) => { due.push({ at: now + ms, fn, id: ++seq }); return seq; },
      clearTimeout: (h) => { const i = due.findIndex((d) => d.id === h); if (i >= 0) due.splice(i, 1); },
      setInterval: (fn, ms) => { due.push({ at: now + ms, every: ms, fn, id: ++seq }); return seq; },
      clearInterval: (h) => { const i = due.findIndex((d) => d.id === h); if (i >= 0) due.splice(i, 1); },
    };
    const advance = (ms: number) => {
      const end = now + ms;
      for (;;) {
        due.sort((a, b) => a.at - b.at);
        const next = due[0];
        if (!next || next.at > end) break;
        now = next.at;
        if (next.every) next.at += next.every; else due.shift();
        next.fn();
      }
      now = end;
    };
    return { t, advance, pending: () => due.length };
  }
  const ctxOf = (tty: boolean, env: Record<string, string> = {}) => ({ env, isTTY: () => tty, beforeWrite: null as (() => void) | null });

  test("nothing for a fast answer; after 200 ms a spinner that the first output erases", () => {
    const { t, advance, pending } = fakeTimers();
    const writes: string[] = [];
    const ctx = ctxOf(true);
    const fast = startProgress(ctx, "Loading apps…", { timers: t, write: (s) => writes.push(s) });
    advance(199);
    fast.done();
    advance(1000);
    expect(writes).toEqual([]);
    expect(pending()).toBe(0);

    const slow = startProgress(ctx, "Loading apps…", { timers: t, write: (s) => writes.push(s) });
    advance(200);
    expect(writes).toEqual(["\r\x1b[2K⠋ Loading apps…"]);
    advance(120);
    expect(writes[1]).toBe("\r\x1b[2K⠙ Loading apps…");
    // Output (through the context) erases it first and stops it.
    ctx.beforeWrite!();
    expect(writes.at(-1)).toBe("\r\x1b[2K");
    expect(ctx.beforeWrite).toBeNull();
    const n = writes.length;
    advance(1000);
    expect(writes.length).toBe(n);
    slow.done(); // idempotent
    expect(writes.length).toBe(n);
    expect(pending()).toBe(0);
  });

  test("never off a terminal, nor on TERM=dumb; one at a time", () => {
    const { t, advance } = fakeTimers();
    const writes: string[] = [];
    for (const ctx of [ctxOf(false), ctxOf(true, { TERM: "dumb" })]) {
      startProgress(ctx, "x", { timers: t, write: (s) => writes.push(s) });
      advance(1000);
      expect(ctx.beforeWrite).toBeNull();
    }
    expect(writes).toEqual([]);
    const ctx = ctxOf(true);
    const outer = startProgress(ctx, "outer", { timers: t, write: (s) => writes.push(s) });
    const inner = startProgress(ctx, "inner", { timers: t, write: (s) => writes.push(s) });
    advance(300);
    inner.done();
    expect(writes.every((w) => !w.includes("inner"))).toBe(true);
    outer.done();
    expect(writes.at(-1)).toBe("\r\x1b[2K");
  });
});

describe("picker", () => {
  const choices = [{ label: "Acme Corp", value: "a", current: true }, { label: "Side Project", value: "b" }];
  const io = (answers: (string | null)[]) => {
    const written: string[] = [];
    return { written, io: { write: (t: string) => { written.push(t); }, readLine: async () => (answers.length ? answers.shift()! : null) } };
  };
  test("a number picks; Enter keeps the current one; three wrong answers or end of input cancel", async () => {
    const a = io(["2"]);
    expect(await pick(a.io, "Switch to which workspace?", choices)).toBe("b");
    expect(a.written.join("")).toContain("  1) Acme Corp  (current)\n  2) Side Project\n");
    expect(await pick(io([""]).io, "t", choices)).toBe("a");
    expect(await pick(io(["x", "9", "1"]).io, "t", choices)).toBe("a");
    await expect(pick(io(["x", "y", "z"]).io, "t", choices)).rejects.toMatchObject({ code: "cancelled" });
    await expect(pick(io([null]).io, "t", choices)).rejects.toMatchObject({ code: "cancelled" });
  });
});

describe("the query from stdin", () => {
  test("trailing line breaks go; the rest is kept; stdin cannot hold both the query and --inputs", async () => {
    expect(await readQueryFromStdin(async () => "How do I\nreset it?\n\n", false)).toBe("How do I\nreset it?");
    expect(await readQueryFromStdin(async () => "", false)).toBe("");
    await expect(readQueryFromStdin(async () => "x", true)).rejects.toMatchObject({ code: "usage_invalid_flag" });
    await expect(readQueryFromStdin(async () => "x".repeat((1 << 20) + 1), false)).rejects.toMatchObject({ code: "usage_invalid_flag" });
  });
});

describe("the app cache behind completion", () => {
  test("a full listing replaces, a filtered one adds; scoped by host and workspace; private file; bad files ignored", () => {
    const dir = join(tempDir(), "cache");
    const env = { DIFY_CACHE_DIR: dir };
    const scope = appScope("dify.example.com", "ws1");
    expect(cachedApps(env, scope)).toEqual([]);
    rememberApps(env, scope, [{ id: "a1", name: "Support Chat", mode: "chat" }, { id: "a2", name: "Blog", mode: "completion" }], true, 1);
    rememberApps(env, scope, [{ id: "a3", name: "Flow", mode: "workflow" }], false, 2);
    expect(cachedApps(env, scope).map((a) => a.id).sort()).toEqual(["a1", "a2", "a3"]);
    rememberApps(env, scope, [{ id: "a9", name: "Only", mode: "chat" }, { id: 5, name: null }], true, 3);
    expect(cachedApps(env, scope)).toEqual([{ id: "a9", name: "Only", mode: "chat" }]);
    expect(cachedApps(env, appScope("dify.example.com", "ws2"))).toEqual([]);
    expect(statSync(join(dir, "apps.json")).mode & 0o777).toBe(0o600);
    require("node:fs").writeFileSync(join(dir, "apps.json"), "{not json");
    expect(cachedApps(env, scope)).toEqual([]);
    // A cache dir that cannot be created costs nothing but completions.
    rememberApps({ DIFY_CACHE_DIR: "/proc/no-such/dir" }, scope, [{ id: "x", name: "y" }], true, 4);
    expect(existsSync("/proc/no-such/dir")).toBe(false);
    expect(readFileSync(join(dir, "apps.json"), "utf8")).toBe("{not json");
  });
});

describe("completion of app ids and names", () => {
  const APPS = [{ word: "c0000000-0000-4000-8000-000000000001", desc: "Support Chat, chat" }, { word: "Support Chat", desc: "chat app c0…01" }];
  const src = { workspaceIds: () => [{ word: "ws-1" }], apps: (ws: string | undefined) => (ws === "other" ? [] : APPS) };
  const words = (w: string[]) => complete(w, src).map((c) => c.word);

  test("get app / run app offer ids and names; a quoted or escaped word matches by what it means", () => {
    expect(words(["get", "app", ""])).toEqual(APPS.map((a) => a.word));
    expect(words(["run", "app", "Sup"])).toEqual(["Support Chat"]);
    expect(words(["run", "app", '"Support C'])).toEqual(["Support Chat"]);
    expect(words(["run", "app", "Support\\ C"])).toEqual(["Support Chat"]);
    expect(words(["run", "app", "--workspace", "other", ""])).toEqual([]);
    expect(words(["run", "app", "c0", "hel"])).toEqual([]); // the query is free text
    expect(words(["auth", "use", ""])).toEqual(["ws-1"]);
  });

  test("quoting per shell; --inputs @ asks the script for file names, nothing else does", () => {
    expect(formatCandidates([{ word: "Support Chat" }], "bash")).toBe("Support\\ Chat\n");
    expect(formatCandidates([{ word: "it's $x" }], "bash")).toBe("it\\'s\\ \\$x\n");
    expect(formatCandidates([{ word: "Support Chat" }], "powershell")).toBe("'Support Chat'\n");
    expect(formatCandidates([{ word: "Support Chat", desc: "chat" }], "zsh")).toBe("Support Chat:chat\n");
    expect(formatCandidates([{ word: "Support Chat", desc: "chat" }], "fish")).toBe("Support Chat\tchat\n");
    expect(unquote("'a b'")).toBe("a b");
    expect(words(["run", "app", "x", "--inputs", "@in"])).toEqual([FILES_MARK]);
    expect(words(["run", "app", "x", "--inputs", "@", "in"])).toEqual([FILES_MARK]); // bash splits at '@'
    expect(words(["run", "app", "x", "--inputs", "{"])).toEqual([]);
    expect(words(["get", "apps", "--name", ""])).toEqual([]);
  });
});
