import { KeyringFailure, type KeyringFailureKind, type KeyringOps, PROBE_ACCOUNT_PREFIX } from "./keychain-store.ts";

export type ProbeOutcome = { ok: true } | { ok: false; failure: KeyringFailure };

function asFailure(e: unknown): KeyringFailure {
  return e instanceof KeyringFailure ? e : new KeyringFailure("error", String((e as Error)?.message ?? e).split("\n")[0].slice(0, 200));
}

const fail = (kind: KeyringFailureKind, reason: string): ProbeOutcome => ({ ok: false, failure: new KeyringFailure(kind, reason) });

/**
 * Set → Get → Delete of `difyctl-probe:<host>`, at login only (the outcome is recorded as
 * `token_storage` and reused). A sentinel that was written is always deleted again, so no probe
 * entry outlives the probe unless the keychain itself stops answering.
 */
export async function probeKeychain(ops: KeyringOps, host: string): Promise<ProbeOutcome> {
  const account = PROBE_ACCOUNT_PREFIX + host;
  const nonce = `probe-${crypto.randomUUID()}`;
  let written = false;
  try {
    await ops.set(account, nonce);
    written = true;
    const back = await ops.get(account);
    if (back !== nonce) return fail("error", back === null ? "a value written to the keychain could not be read back" : "the keychain returned a different value than was written");
    const deleted = await ops.delete(account);
    written = false;
    if (!deleted) return fail("error", "the keychain lost a value it had just returned");
    return { ok: true };
  } catch (e) {
    return { ok: false, failure: asFailure(e) };
  } finally {
    if (written) await ops.delete(account).catch(() => {});
  }
}
