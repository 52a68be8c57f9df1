// Shell completion. The scripts are thin: on <Tab> they run `difyctl completion <shell> -- <words>`
// and show what it prints, so the candidates always match the installed binary (a saved script
// never goes stale) and the logic lives once, here, driven by the command table. Dynamic values
// come from local files only — never the network — so a <Tab> costs one cold start (~10 ms).
import { type Command, COMMANDS, childWords as tableChildWords, type Flag, flagsOf, HELP_COMMAND, pathsOf, splitCommandWords, type ValueKind } from "./command-table.ts";

export const SHELLS = ["bash", "zsh", "fish", "powershell"] as const;
export type Shell = (typeof SHELLS)[number];

export interface Candidate { word: string; desc?: string }

/** Local state the completer may read (injected so it can be tested without files). */
export interface CompletionSources {
  workspaceIds(): Candidate[];
  /** App ids and names remembered by the last `get apps` (for the workspace on the command line, if any). */
  apps?(workspace: string | undefined): Candidate[];
}

/** Printed alone by the completer when the word is a file (`--inputs @<Tab>`): the script completes paths. */
export const FILES_MARK = ":files";

/** Every path a command answers to, with its command: the canonical path and the aliases. */
function paths(): { path: readonly string[]; cmd: Command }[] {
  return COMMANDS.flatMap((cmd) => pathsOf(cmd).map((path) => ({ path, cmd })));
}

/** The next command words after `prefix`, with the summary of a leaf or the group name. */
function childWords(prefix: string[]): Candidate[] {
  const out: Candidate[] = tableChildWords(prefix).map((c) => ({ word: c.word, desc: c.cmd ? c.cmd.summary : `${[...prefix, c.word].join(" ")} commands` }));
  if (prefix.length === 0) out.push({ word: HELP_COMMAND.word, desc: HELP_COMMAND.summary });
  return out;
}

/** Candidates for a value of this kind. No URLs: bash splits words at ':', which mangles them. */
function valuesOf(kind: ValueKind | undefined, src: CompletionSources, workspace?: string): Candidate[] {
  if (kind === "workspace-id") return src.workspaceIds();
  if (kind === "app-id") return src.apps?.(workspace) ?? [];
  if (kind === "shell") return SHELLS.map((s) => ({ word: s }));
  return [];
}

function flagValues(f: Flag, src: CompletionSources): Candidate[] {
  const o = f.option;
  if (o.type === "enum") return o.values.map((v) => ({ word: v }));
  return o.type === "string" ? valuesOf(o.kind, src) : [];
}

const isFlag = (w: string, f: Flag) => w === f.long || w === f.short;

/**
 * Candidates for the last word of `words` (the words after `difyctl`; the last one is the word
 * being completed, possibly ""). Filtered by that word's prefix.
 */
export function complete(words: string[], src: CompletionSources): Candidate[] {
  // The word as typed may carry shell quoting (`"Support C`, `Support\ C`): compare what it means.
  const cur = unquote(words.length ? words[words.length - 1] : "");
  let before = words.slice(0, -1);
  const filter = (cs: Candidate[]) => cs.filter((c) => c.word.startsWith(cur));

  // `help <command words>`
  if (before[0] === HELP_COMMAND.word) return filter(childWords(before.slice(1)));

  // Global flags may come before and among the command words: set them aside after the words, as
  // the router does, so they count as given and the words still find the command.
  const { words: lead, globals, rest: flagsOn } = splitCommandWords(before);
  const flagAfterWords = flagsOn.length > 0;
  before = [...lead, ...globals, ...flagsOn];

  // Longest command path matching the leading words.
  let cmd: Command | null = null;
  let used = 0;
  for (const p of paths()) {
    if (p.path.length <= before.length && p.path.length > used && p.path.every((w, i) => before[i] === w)) {
      cmd = p.cmd;
      used = p.path.length;
    }
  }
  if (!cmd) return flagAfterWords ? [] : filter(childWords(lead));

  const flags = flagsOf(cmd);
  const rest = before.slice(used);
  const prev = rest[rest.length - 1];
  const prevFlag = prev !== undefined && !prev.includes("=") ? flags.find((f) => isFlag(prev, f)) : undefined;
  // `--inputs @<Tab>` is the one place a file name belongs: the script completes the path. bash
  // splits words at '@', so there the '@' may arrive as a word of its own.
  const isInputs = (w: string | undefined) => flags.some((f) => w !== undefined && isFlag(w, f) && f.option.type === "string" && f.option.kind === "inputs");
  if ((isInputs(prev) && cur.startsWith("@")) || (prev === "@" && isInputs(rest[rest.length - 2]))) return [{ word: FILES_MARK }];
  if (prevFlag?.takesValue) return filter(flagValues(prevFlag, src));

  let argIndex = 0;
  let afterDashes = false;
  const given = new Set<Flag>();
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i];
    if (afterDashes || !w.startsWith("-") || w === "-") { argIndex++; continue; }
    if (w === "--") { afterDashes = true; continue; }
    const f = flags.find((x) => isFlag(w.split("=")[0], x));
    if (f) {
      given.add(f);
      if (f.takesValue && !w.includes("=")) i++;
    }
  }
  if (cur.startsWith("-") && !afterDashes) {
    // The parser refuses a flag given twice, so it is not offered again.
    return filter(flags.filter((f) => !given.has(f)).map((f) => ({ word: f.long, desc: f.option.description })));
  }
  const args = cmd.args ?? [];
  const arg = args[argIndex] ?? (args.length && args[args.length - 1].variadic ? args[args.length - 1] : undefined);
  const ws = rest.indexOf("--workspace");
  return filter(valuesOf(arg?.kind, src, ws >= 0 ? rest[ws + 1] : rest.find((w) => w.startsWith("--workspace="))?.slice(12)));
}

/** What a word typed with shell quoting means: an opening quote and backslash escapes removed. */
export function unquote(w: string): string {
  if (w.startsWith("'")) return w.slice(1).replace(/'$/, "");
  if (w.startsWith('"')) w = w.slice(1).replace(/"$/, "");
  return w.replace(/\\(.)/g, "$1");
}

/** Characters a POSIX shell would read as syntax in an unquoted word. */
const SHELL_SPECIAL = /[\s'"\\$`!&;|<>()*?[\]#~{}]/g;

/** One candidate per line, in the form each shell's script reads. */
export function formatCandidates(cands: Candidate[], shell: Shell): string {
  const clean = (s: string) => s.replace(/[\t\n\r]/g, " ");
  return cands.map((c) => {
    let w = clean(c.word);
    // bash and PowerShell insert a candidate as it is printed: a name with spaces is quoted here.
    // zsh and fish quote on insertion themselves.
    if (shell === "bash") w = w.replace(SHELL_SPECIAL, (ch) => `\\${ch}`);
    if (shell === "powershell" && /[\s'"`$(){};,|&@#<>]/.test(w)) w = `'${w.replace(/'/g, "''")}'`;
    if (!c.desc || shell === "bash" || shell === "powershell") return w;
    if (shell === "zsh") return `${w.replace(/\\/g, "\\\\").replace(/:/g, "\\:")}:${clean(c.desc)}`;
    return `${w}\t${clean(c.desc)}`;
  }).join("\n") + (cands.length ? "\n" : "");
}

/** The script for `shell`. */
export function script(shell: Shell): string {
  switch (shell) {
    case "bash": return BASH;
    case "zsh": return ZSH;
    case "fish": return FISH;
    case "powershell": return POWERSHELL;
  }
}

const BASH = `# difyctl completion for bash. Load it with:  source <(difyctl completion bash)
_difyctl_complete() {
  local IFS=$'\\n'
  local -a words=("\${COMP_WORDS[@]:1:COMP_CWORD}")
  [ "\${#words[@]}" -lt "$COMP_CWORD" ] && words+=("")
  COMPREPLY=($(command difyctl completion bash -- "\${words[@]}" 2>/dev/null))
  if [ "\${COMPREPLY[0]}" = "${FILES_MARK}" ]; then
    # bash splits words at '@': the word being completed is the path, with or without the '@'.
    local cur="\${COMP_WORDS[COMP_CWORD]}" pre=""
    case "$cur" in @*) pre="@"; cur="\${cur#@}";; esac
    COMPREPLY=($(compgen -f -- "$cur" | sed "s/^/$pre/"))
  fi
}
# No fallback to file names: difyctl's arguments are ids, names and words, not files.
complete -F _difyctl_complete difyctl
`;

const ZSH = `#compdef difyctl
# difyctl completion for zsh. Load it with:  source <(difyctl completion zsh)
# (after compinit), or save it as _difyctl in a directory on $fpath.
_difyctl() {
  local -a cands
  cands=("\${(@f)$(command difyctl completion zsh -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  cands=("\${(@)cands:#}")
  if [[ "\${cands[1]}" == "${FILES_MARK}" ]]; then
    compset -P '@'
    _files
    return
  fi
  (( \${#cands} )) || return 1
  _describe -t difyctl 'difyctl' cands
}
if [ "\${funcstack[1]}" = "_difyctl" ]; then
  _difyctl "$@"
else
  compdef _difyctl difyctl
fi
`;

const FISH = `# difyctl completion for fish. Load it with:  difyctl completion fish | source
function __difyctl_complete
    set -l words (commandline -opc)[2..-1]
    set -l cur (commandline -ct)
    set -l cands (command difyctl completion fish -- $words "$cur" 2>/dev/null)
    if test "$cands[1]" = "${FILES_MARK}"
        for f in (__fish_complete_path (string replace -r '^@' '' -- $cur))
            echo "@$f"
        end
        return
    end
    for c in $cands
        printf '%s\n' $c
    end
end
complete -c difyctl -f -a '(__difyctl_complete)'
`;

const POWERSHELL = `# difyctl completion for PowerShell. Load it with:
#   difyctl completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName difyctl -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $words = @($commandAst.CommandElements | Select-Object -Skip 1 |
        Where-Object { $_.Extent.EndOffset -le $cursorPosition } | ForEach-Object { $_.ToString() })
    if ($wordToComplete -eq '') { $words += '""' }  # empty arguments are dropped by older PowerShell
    & difyctl completion powershell -- @words 2>$null | ForEach-Object {
        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
    }
}
`;
