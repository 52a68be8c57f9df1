// Reasoning that models put inline as `<think>…</think>` in an answer or a workflow's text. It
// arrives in pieces, and a tag can be cut anywhere (`<thi` + `nk>`), so the filter holds back
// a tail that could still become a tag until the next piece decides it.

const OPEN = "<think>";
const CLOSE = "</think>";

export interface ThinkSplit {
  /** The answer text, reasoning removed. */
  text: string;
  /** Reasoning text (the contents of the blocks), in order. */
  thought: string;
}

/** How many trailing characters of `s` are a proper prefix of `tag` (and so may be one later). */
function partialTagAt(s: string, tag: string): number {
  const max = Math.min(s.length, tag.length - 1);
  for (let n = max; n > 0; n--) if (tag.startsWith(s.slice(s.length - n))) return n;
  return 0;
}

export class ThinkFilter {
  private inside = false;
  private held = "";
  /** True once any reasoning was seen (a caller may say it was hidden). */
  sawThought = false;

  push(piece: string): ThinkSplit {
    let s = this.held + piece;
    this.held = "";
    let text = "";
    let thought = "";
    for (;;) {
      const tag = this.inside ? CLOSE : OPEN;
      const at = s.indexOf(tag);
      if (at < 0) {
        const keep = partialTagAt(s, tag);
        const out = s.slice(0, s.length - keep);
        this.held = s.slice(s.length - keep);
        if (this.inside) thought += out;
        else text += out;
        break;
      }
      if (this.inside) thought += s.slice(0, at);
      else text += s.slice(0, at);
      if (!this.inside) this.sawThought = true;
      this.inside = !this.inside;
      s = s.slice(at + tag.length);
    }
    return { text, thought };
  }

  /** End of the text: a held partial tag was text after all (an unclosed block stays reasoning). */
  end(): ThinkSplit {
    const rest = this.held;
    this.held = "";
    return this.inside ? { text: "", thought: rest } : { text: rest, thought: "" };
  }
}

/** The whole of a finished text, reasoning removed (and the answer's leading blank lines with it). */
export function stripThink(s: string): string {
  if (!s.includes(OPEN)) return s;
  const f = new ThinkFilter();
  const a = f.push(s);
  const b = f.end();
  return (a.text + b.text).replace(/^\s*\n/, "");
}

/** Every string in a value (a workflow's outputs) with its reasoning removed. */
export function stripThinkDeep<T>(v: T): T {
  if (typeof v === "string") return stripThink(v) as T;
  if (Array.isArray(v)) return v.map((x) => stripThinkDeep(x)) as T;
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = stripThinkDeep(x);
    return out as T;
  }
  return v;
}
