// In-process unit tests of the pieces behind files, pauses and reasoning: the <think> filter at
// every cut, the file type choice against an app's rules, --file parsing, the pause tracker's
// handling of a replayed (already answered) pause, and a form answer's checks.
import { describe, expect, test } from "bun:test";
import { chooseType, parseFileFlags } from "../src/apps/file-inputs.ts";
import { buildSubmission, PauseTracker, type PendingForm } from "../src/apps/human-input.ts";
import { stripThink, ThinkFilter } from "../src/apps/think-filter.ts";
import type { DifyEvent } from "../src/apps/run-fold.ts";

describe("think filter", () => {
  const text = "A<think>secret <b> plan</think>B < C<think>more";
  test("every two-piece cut gives the same split", () => {
    for (let i = 0; i <= text.length; i++) {
      const f = new ThinkFilter();
      const a = f.push(text.slice(0, i));
      const b = f.push(text.slice(i));
      const c = f.end();
      expect(a.text + b.text + c.text).toBe("AB < C");
      expect(a.thought + b.thought + c.thought).toBe("secret <b> planmore");
    }
  });
  test("stripThink leaves text without tags alone", () => {
    expect(stripThink("plain <thin text")).toBe("plain <thin text");
    expect(stripThink("<think>x</think>\nAnswer")).toBe("Answer");
  });
});

describe("file type choice", () => {
  const rules = (allowedTypes: string[], allowedExtensions: string[] | null = [], allowedMethods: string[] = []) => ({ allowedTypes, allowedExtensions, allowedMethods });
  test("an allowed type is sent as detected; custom needs the extension on the list", () => {
    expect(chooseType("pdf", "local_file", rules(["document"]), true)).toEqual({ type: "document" });
    expect(chooseType("png", "local_file", rules(["document"]), true)).toHaveProperty("why");
    expect(chooseType("dwg", "local_file", rules(["document", "custom"], [".DWG"]), true)).toEqual({ type: "custom" });
    expect(chooseType("exe", "local_file", rules(["custom"], [".dwg"]), true)).toHaveProperty("why");
    expect(chooseType("exe", "local_file", rules([], []), true)).toHaveProperty("why");
    expect(chooseType("pdf", "remote_url", rules(["document"], [], ["local_file"]), true)).toHaveProperty("why");
    expect(chooseType("", "remote_url", rules(["image"]), false)).toEqual({ type: "image" });
  });
  test("--file syntax", () => {
    expect(parseFileFlags(["doc=@a.pdf", "@b.png", "x=https://e.com/c.pdf"]).map((f) => [f.variable, f.source])).toEqual([
      ["doc", { kind: "local", path: "a.pdf" }], [null, { kind: "local", path: "b.png" }], ["x", { kind: "remote", url: "https://e.com/c.pdf" }],
    ]);
    for (const bad of ["doc=a.pdf", "=@a", "1x=@a", "doc=@", "doc=ftp://x"]) expect(() => parseFileFlags([bad])).toThrow();
  });
});

const form = (token: string): PendingForm => ({
  form_token: token, form_id: `id-${token}`, node_title: "T", form_content: "", resolved_default_values: { c: "d" }, expiration_time: null,
  inputs: [{ type: "paragraph", output_variable_name: "c" }, { type: "select", output_variable_name: "s", option_source: { type: "constant", value: ["a", "b"] } }],
  actions: [{ id: "ok", title: "OK" }],
});
const ev = (name: string, data: Record<string, unknown>): DifyEvent => ({ name, data: { event: name, task_id: "t1", workflow_run_id: "r1", data }, raw: "" });

describe("pauses", () => {
  test("a replayed pause of an answered form is skipped; a new form pauses", () => {
    const tr = new PauseTracker(new Set(["old"]));
    expect(tr.see(ev("human_input_required", { form_token: "old", form_id: "id-old" }))).toBe("skip");
    expect(tr.see(ev("workflow_paused", { reasons: [{ TYPE: "human_input_required", form_token: "old", form_id: "id-old" }] }))).toBe("skip");
    expect(tr.paused).toBe(false);
    expect(tr.see(ev("human_input_required", { form_token: "new", form_id: "id-new", actions: [{ id: "ok" }] }))).toBeUndefined();
    expect(tr.see(ev("workflow_paused", { reasons: [] }))).toBe("pause");
    expect(tr.pause()).toMatchObject({ workflow_run_id: "r1", task_id: "t1", forms: [{ form_token: "new" }] });
  });
  test("an answer has every input as a key, defaults filled, and is checked", () => {
    expect(buildSubmission(form("x"), "ok", { s: "a" })).toEqual({ action: "ok", inputs: { c: "d", s: "a" } });
    expect(() => buildSubmission(form("x"), "nope", { s: "a" })).toThrow("not an action");
    expect(() => buildSubmission(form("x"), "ok", {})).toThrow("'s' must be one of");
  });
});
