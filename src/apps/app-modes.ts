// The app modes a Dify server knows: the closed enum `--mode` is checked against, which help and
// completion list too. The server also has `channel` and `rag-pipeline` apps; they can be listed
// and filtered like any other.
export const APP_MODES = ["chat", "agent-chat", "advanced-chat", "completion", "workflow", "channel", "rag-pipeline"] as const;

export type AppMode = (typeof APP_MODES)[number];

/** Modes whose runs are conversations: they need a query and may continue a conversation. */
export const CHAT_MODES: readonly string[] = ["chat", "agent-chat", "advanced-chat"] satisfies AppMode[];

export function isAppMode(s: string): s is AppMode {
  return (APP_MODES as readonly string[]).includes(s);
}

/** Rows a list command shows unless --limit says otherwise. */
export const DEFAULT_LIST_LIMIT = 200;

/** Hard ceiling for --limit: about 25 pages, enough for any real workspace, bounded for a bad server. */
export const MAX_LIST_LIMIT = 5000;
