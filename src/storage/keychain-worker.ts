// The only place the native keychain addon runs. It lives in a Worker because its calls block the
// calling thread — the Entry constructor connects to D-Bus synchronously, a frozen bus blocks it
// forever (measured), an unlock prompt blocks until answered — and only a main thread that is
// still free can enforce a timeout. Built as a second entry point (scripts/build-lib.mjs).
import type { KeyringRequest, KeyringResponse } from "./keychain-store.ts";
import { dropDamagedCopy, loadReason } from "./keychain-addon.ts";
import type { Mark } from "./keychain-timing.ts";

const at = () => performance.timeOrigin + performance.now();
/** Phase marks for DIFY_DEBUG_TIMING, sent back with the answer (the main thread prints them). */
let marks: Mark[] = [["worker: started", at()]];

declare const self: Worker;

type Entry = { getPassword(): string | null | undefined; setPassword(p: string): void; deletePassword(): boolean };
type EntryCtor = new (service: string, account: string, opts?: unknown) => Entry;

let ctor: EntryCtor | null = null;

self.onmessage = async (ev: MessageEvent<KeyringRequest>) => {
  const req = ev.data;
  const reply = (r: Omit<KeyringResponse, "id">) => {
    const m = req.timing ? marks : undefined;
    marks = [];
    postMessage({ id: req.id, ...r, marks: m } as KeyringResponse);
  };
  const step = (phase: string) => { if (req.timing) marks.push([phase, at()]); };
  if (!ctor) {
    try {
      step("worker: request received");
      ctor = (await import("@napi-rs/keyring")).Entry as unknown as EntryCtor;
      step("worker: addon loaded");
    } catch (e) {
      const message = loadReason(e);
      reply({ ok: false, stage: "load", message, retry: process.platform === "linux" && dropDamagedCopy(message, process.geteuid?.()) });
      return;
    }
  }
  try {
    // Pinned on Linux: the library's default silently falls back to kernel keyutils, which does
    // not survive a reboot and answers "not found" when the Secret Service is merely slow.
    const e = new ctor(req.service, req.account, process.platform === "linux" ? { linux: { store: "secret-service" } } : undefined);
    // On Linux the first Entry connects to the bus and opens the (Diffie-Hellman) session.
    step("worker: entry (connect, session)");
    if (req.op === "get") {
      const v = e.getPassword() ?? null;
      step("worker: lookup");
      reply({ ok: true, value: v });
    } else if (req.op === "set") { e.setPassword(req.value ?? ""); reply({ ok: true, value: null }); }
    else reply({ ok: true, value: e.deletePassword() ? "deleted" : null });
  } catch (e) {
    reply({ ok: false, stage: "op", message: String((e as Error)?.message ?? e).split("\n")[0] });
  }
};
