// The only place the native keychain addon runs. It lives in a Worker because its calls block the
// calling thread — the Entry constructor connects to D-Bus synchronously, a frozen bus blocks it
// forever (measured), an unlock prompt blocks until answered — and only a main thread that is
// still free can enforce a timeout. Built as a second entry point (scripts/build-lib.mjs).
import type { KeyringRequest, KeyringResponse } from "./keychain-store.ts";

declare const self: Worker;

type Entry = { getPassword(): string | null | undefined; setPassword(p: string): void; deletePassword(): boolean };
type EntryCtor = new (service: string, account: string, opts?: unknown) => Entry;

let ctor: EntryCtor | null = null;

/** The innermost messages of napi-rs's "Cannot find native binding" cause chain carry the reason. */
function loadReason(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, i = 0; c && i < 8; c = (c as { cause?: unknown }).cause, i++) {
    const m = c instanceof Error ? c.message : String(c);
    if (m) parts.push(m.split("\n")[0]);
  }
  return parts.find((m) => /failed to map segment|cannot open shared object|EACCES|EPERM|ENOSPC|EROFS/i.test(m)) ?? parts.pop() ?? "unknown error";
}

self.onmessage = async (ev: MessageEvent<KeyringRequest>) => {
  const req = ev.data;
  const reply = (r: Omit<KeyringResponse, "id">) => postMessage({ id: req.id, ...r } as KeyringResponse);
  if (!ctor) {
    try {
      ctor = (await import("@napi-rs/keyring")).Entry as unknown as EntryCtor;
    } catch (e) {
      reply({ ok: false, stage: "load", message: loadReason(e) });
      return;
    }
  }
  try {
    // Pinned on Linux: the library's default silently falls back to kernel keyutils, which does
    // not survive a reboot and answers "not found" when the Secret Service is merely slow.
    const e = new ctor(req.service, req.account, process.platform === "linux" ? { linux: { store: "secret-service" } } : undefined);
    if (req.op === "get") reply({ ok: true, value: e.getPassword() ?? null });
    else if (req.op === "set") { e.setPassword(req.value ?? ""); reply({ ok: true, value: null }); }
    else reply({ ok: true, value: e.deletePassword() ? "deleted" : null });
  } catch (e) {
    reply({ ok: false, stage: "op", message: String((e as Error)?.message ?? e).split("\n")[0] });
  }
};
