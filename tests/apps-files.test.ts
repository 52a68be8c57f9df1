// File inputs, reasoning and workspaces against the fake server, the command logic in-process
// (runInProcess: the binary's router, real HTTP to 127.0.0.1, real files): uploads and the
// mappings /run receives, every client-side refusal (with no upload or run sent), the server's
// own refusal of a too-large file, <think> hidden and shown, get workspaces. The compiled binary
// runs these commands in tests/binary-smoke.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FakeServer, IDS, startFakeServer, THINK } from "./fake/server.ts";
import { baseEnv, envelope, FAST, runInProcess as run, tempDir } from "./helpers.ts";

const A = IDS.apps;
let s: FakeServer;
let env: Record<string, string>;
const dir = tempDir("difyctl-files-");
const file = (name: string, bytes: number | string) => {
  const p = join(dir, name);
  writeFileSync(p, typeof bytes === "string" ? bytes : new Uint8Array(bytes).fill(65));
  return p;
};

beforeAll(async () => {
  s = await startFakeServer({ ...FAST, rateLimitPerToken: 0 });
  const t = s.mintToken("hana@example.com");
  env = baseEnv(tempDir(), { DIFY_TOKEN: t.token, DIFY_HOST: s.url, DIFY_WORKSPACE_ID: IDS.workspaces.labs });
});
afterAll(async () => { await s.close(); });

async function during<T>(fn: () => Promise<T>): Promise<[T, FakeServer["requests"]]> {
  const before = s.requests.length;
  const r = await fn();
  return [r, s.requests.slice(before)];
}
const uploads = (reqs: FakeServer["requests"]) => reqs.filter((q) => q.path.endsWith("/files/upload"));
const runs = (reqs: FakeServer["requests"]) => reqs.filter((q) => q.path.endsWith("/run"));

describe("file inputs", () => {
  test("a single file is uploaded (one part named file) and sent as a local_file mapping with its type", async () => {
    const pdf = file("report.pdf", "%PDF-1.4 hello");
    const [r, reqs] = await during(() => run(["run", "app", A.docReviewer, "--file", `doc=@${pdf}`, "--json"], { env }));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const up = uploads(reqs);
    expect(up.length).toBe(1);
    expect(JSON.parse(up[0]!.body).multipart).toEqual([{ name: "file", filename: "report.pdf", type: "application/pdf", size: 14 }]);
    const body = JSON.parse(runs(reqs)[0]!.body);
    const id = [...s.files.files.values()].find((f) => f.name === "report.pdf")!.id;
    expect(body.inputs.doc).toEqual({ transfer_method: "local_file", upload_file_id: id, type: "document" });
    const out = JSON.parse(r.stdout);
    expect(out.status).toBe("succeeded");
    expect(out.outputs.files[0]).toMatchObject({ variable: "doc", filename: "report.pdf", type: "document", size: 14 });
  });

  test("a file list takes several files and URLs, in order; a remote URL is a remote_url mapping", async () => {
    const pdf = file("spec.pdf", "%PDF spec");
    const png = file("a.png", 100);
    const [r, reqs] = await during(() => run(["run", "app", A.docReviewer, "--file", `doc=https://example.com/files/brief.pdf`,
      "--file", `images=@${png}`, "--file", "images=https://example.com/b.jpg", "--inputs", '{"note":"hi"}', "--json"], { env }));
    expect(r.code).toBe(0);
    expect(uploads(reqs).length).toBe(1);
    const body = JSON.parse(runs(reqs)[0]!.body);
    expect(body.inputs.doc).toEqual({ transfer_method: "remote_url", url: "https://example.com/files/brief.pdf", type: "document" });
    expect(body.inputs.images.length).toBe(2);
    expect(body.inputs.images[0]).toMatchObject({ transfer_method: "local_file", type: "image" });
    expect(body.inputs.images[1]).toEqual({ transfer_method: "remote_url", url: "https://example.com/b.jpg", type: "image" });
    expect(body.inputs.note).toBe("hi");
    expect(JSON.parse(r.stdout).outputs.files.map((f: { filename: string }) => f.filename)).toEqual(["brief.pdf", "a.png", "b.jpg"]);
    void pdf;
  });

  test("a chat app with file upload on takes --file @path into the files list", async () => {
    const png = file("photo.png", 2048);
    const [r, reqs] = await during(() => run(["run", "app", A.visionChat, "what is this?", "--file", `@${png}`, "--json"], { env }));
    expect(r.code).toBe(0);
    const body = JSON.parse(runs(reqs)[0]!.body);
    expect(body.files).toEqual([{ transfer_method: "local_file", upload_file_id: expect.any(String), type: "image" }]);
    expect(JSON.parse(r.stdout).answer).toContain("(files: photo.png)");
  });

  const refusals: [string, () => string[], string][] = [
    ["unknown variable", () => ["--file", `nope=@${file("x.pdf", "x")}`], "'nope' is not an input of this app"],
    ["a text input is not a file", () => ["--file", `note=@${file("y.pdf", "y")}`], "'note' is a text-input input, not a file"],
    ["a type the variable does not take", () => ["--file", `doc=@${file("pic.png", 10)}`], "a image file is not accepted here (allowed: document)"],
    ["an extension nobody takes", () => ["--file", `images=@${file("tool.exe", 10)}`, "--file", `doc=@${file("ok.pdf", "ok")}`], "this kind of file is not accepted here (allowed: image)"],
    ["over the published size limit", () => ["--file", `doc=@${file("big.pdf", 15 * 1024 * 1024 + 1)}`], "the server takes files up to 15 MB"],
    ["two files for a single-file input", () => ["--file", `doc=@${file("a.pdf", "a")}`, "--file", `doc=@${file("b.pdf", "b")}`], "'doc' takes one file (got 2)"],
    ["more files than the list takes", () => ["--file", `doc=@${file("c.pdf", "c")}`, ...[1, 2, 3, 4].flatMap((i) => ["--file", `images=@${file(`i${i}.png`, 5)}`])], "'images' takes at most 3 files (got 4)"],
    ["attachments on an app without file upload", () => ["--file", `@${file("d.pdf", "d")}`], "this app does not take attached files"],
  ];
  for (const [name, args, message] of refusals) {
    test(`refused before any upload or run: ${name}`, async () => {
      const [r, reqs] = await during(() => run(["run", "app", A.docReviewer, ...args(), "--json"], { env }));
      expect(r.code).toBe(2);
      const e = envelope(r.stderr);
      expect(e.code).toBe("usage_invalid_flag");
      expect(e.message).toContain(message);
      expect(uploads(reqs)).toEqual([]);
      expect(runs(reqs)).toEqual([]);
    });
  }

  test("refused before any request at all: a missing local file, a bad --file", async () => {
    for (const [args, message] of [
      [["--file", `doc=@${join(dir, "missing.pdf")}`], "cannot read"],
      [["--file", "doc=report.pdf"], "the value must be @path"],
      [["--file", "=@x.pdf"], "expected <variable>=@path"],
    ] as [string[], string][]) {
      const [r, reqs] = await during(() => run(["run", "app", A.docReviewer, ...args, "--json"], { env }));
      expect(r.code).toBe(2);
      expect(envelope(r.stderr).message).toContain(message);
      expect(reqs).toEqual([]);
    }
  });

  test("a missing required file input is a usage error naming it", async () => {
    const [r, reqs] = await during(() => run(["run", "app", A.docReviewer, "--json"], { env }));
    expect(r.code).toBe(2);
    expect(envelope(r.stderr).message).toContain("'doc' is required");
    expect(runs(reqs)).toEqual([]);
  });

  test("the server's bare 400 'Bad Request' for a too-large upload is explained", async () => {
    s.setOption({ uploadLimitsMb: { file: 1 } });
    try {
      const [r, reqs] = await during(() => run(["run", "app", A.docReviewer, "--file", `doc=@${file("mid.pdf", 2 * 1024 * 1024)}`, "--json"], { env }));
      expect(r.code).toBe(1);
      const e = envelope(r.stderr) as { message: string; hint?: string; http_status?: number };
      expect(e.message).toBe("the server refused 'mid.pdf' (2.0 MB): too large for its upload limit");
      expect(e.hint).toContain("the app publishes a limit of 15 MB");
      expect(e.http_status).toBe(400);
      expect(runs(reqs)).toEqual([]);
    } finally {
      s.setOption({ uploadLimitsMb: { file: 15 } });
    }
  });

  test("get app shows file inputs with their types and limits, and a Run it example with --file", async () => {
    const r = await run(["get", "app", A.docReviewer], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("File inputs");
    expect(r.stdout).toMatch(/doc\s+file\s+yes\s+document/);
    expect(r.stdout).toMatch(/images\s+file-list\s+no\s+image\s+up to 3/);
    expect(r.stdout).toContain("Upload limits: documents and other files 15 MB, images 10 MB");
    expect(r.stdout).toContain(`difyctl run app ${A.docReviewer} --file doc=@report.pdf`);
    const chat = await run(["get", "app", A.visionChat], { env });
    expect(chat.stdout).toContain("Attachments (--file @path");
  });
});

describe("workspace checks", () => {
  test("run app --workspace sends workspace_id as a query parameter; a mismatch is refused by the server", async () => {
    const [ok, reqs] = await during(() => run(["run", "app", A.deepThinker, "hi", "--workspace", IDS.workspaces.labs, "--json"], { env }));
    expect(ok.code).toBe(0);
    const r = runs(reqs)[0]!;
    expect(r.query.workspace_id).toBe(IDS.workspaces.labs);
    expect(JSON.parse(r.body).workspace_id).toBeUndefined();
    const bad = await run(["run", "app", A.deepThinker, "hi", "--workspace", IDS.workspaces.oldLab, "--json"], { env });
    expect(bad.code).toBe(1);
    expect(envelope(bad.stderr).message).toContain("workspace_id does not match");
  });

  test("get app --workspace checks the app's workspace itself (describe takes no workspace_id)", async () => {
    const [ok, reqs] = await during(() => run(["get", "app", A.docReviewer, "--workspace", IDS.workspaces.labs, "--json"], { env }));
    expect(ok.code).toBe(0);
    expect(reqs.find((q) => q.path.endsWith("/describe"))!.query.workspace_id).toBeUndefined();
    const [bad, reqs2] = await during(() => run(["get", "app", A.docReviewer, "--workspace", IDS.workspaces.oldLab, "--json"], { env }));
    expect(bad.code).toBe(2);
    expect(envelope(bad.stderr).message).toContain(`is not in workspace ${IDS.workspaces.oldLab}`);
    expect(reqs2.some((q) => q.path.endsWith("/describe"))).toBe(false);
  });

  test("get workspaces lists the account's workspaces, the active one marked, archived shown as such", async () => {
    const j = await run(["get", "workspaces", "--json"], { env });
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual([
      { id: IDS.workspaces.labs, name: "Labs", role: "owner", status: "normal", current: true, active: true },
      { id: IDS.workspaces.oldLab, name: "Old Lab", role: "editor", status: "archive", current: false, active: false },
    ]);
    const h = await run(["get", "workspaces"], { env });
    expect(h.code).toBe(0);
    expect(h.stdout).toContain(`*\t${IDS.workspaces.labs}\tLabs\towner\tnormal`);
    expect(h.stdout).toContain(`\t${IDS.workspaces.oldLab}\tOld Lab\teditor\tarchived`);
  });
});

describe("reasoning", () => {
  test("<think> split across chunks is hidden in the answer and the folded JSON", async () => {
    const r = await run(["run", "app", A.deepThinker, "life", "--json"], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).answer).toBe(THINK.chatAnswer("life"));
    expect(r.stderr).toBe("");
  });

  test("--think shows the reasoning on stderr; --stream passes events untouched", async () => {
    const r = await run(["run", "app", A.deepThinker, "life", "--think", "--json"], { env });
    expect(r.stderr).toContain("The user asks about life. Let me reason.");
    expect(JSON.parse(r.stdout).answer).toBe(THINK.chatAnswer("life"));
    const st = await run(["run", "app", A.deepThinker, "life", "--stream"], { env });
    const answers = st.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.event === "message").map((e) => e.answer).join("");
    expect(answers).toBe(THINK.chatChunks("life").join(""));
  });

  test("a workflow's streamed text and outputs lose their reasoning too", async () => {
    const r = await run(["run", "app", A.thinkFlow, "--json"], { env });
    expect(JSON.parse(r.stdout).outputs).toEqual({ answer: "Use option B." });
    const t = await run(["run", "app", A.thinkFlow], { env });
    expect(t.stdout).not.toContain("Weighing");
  });
});
