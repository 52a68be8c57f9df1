// A process that holds a device code or a bearer token must not leave it in a core file: with
// `ulimit -c unlimited`, a crash (or a SIGABRT sent by anyone who can signal the process) writes
// the whole heap to disk. On Linux, prctl(PR_SET_DUMPABLE, 0) stops core files and also keeps
// other processes of the same user from attaching a debugger or reading /proc/<pid>/mem. It is
// inherited by threads (the keychain worker) and reset by exec, so a browser launched from here
// is unaffected.
//
// Bun has no binding for prctl, so it is called through bun:ffi: loading it and libc costs about
// 0.6 ms, paid only by commands that hold a credential (login, --resume, logout, every API
// command) and never on the `--version` / `auth status` start-up path. Elsewhere (macOS, Windows,
// a libc that cannot be opened) this is a no-op: macOS writes no core files unless /cores is set
// up and the limit raised, and Windows has no core files.
import type { Ctx } from "../cli/context.ts";

const PR_SET_DUMPABLE = 4;
const LIBC = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

let done = false;

/** Marks this process non-dumpable where the OS allows it; a failure only costs the protection. */
export async function keepOutOfCoreDumps(ctx?: Pick<Ctx, "debug">): Promise<void> {
  if (done || process.platform !== "linux") return;
  done = true;
  let why = "no usable libc";
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    for (const name of LIBC) {
      let lib;
      try {
        lib = dlopen(name, { prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 } });
      } catch {
        continue;
      }
      try {
        if (lib.symbols.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) === 0) return;
        why = "prctl(PR_SET_DUMPABLE) failed";
      } finally {
        lib.close();
      }
      break;
    }
  } catch (e) {
    why = (e as Error).message;
  }
  ctx?.debug(`debug: could not keep this process out of core dumps (${why})`);
}
