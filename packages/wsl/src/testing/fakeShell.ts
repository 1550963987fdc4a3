/**
 * A small POSIX shell for the in-memory fake host: enough of `sh`/`bash` to run what the `Wsl`
 * service and tests send, interpreted rather than pattern-matched. Simple commands separated by
 * newlines, `;`, `&&` and `||`; words with single and double quotes, `\` escapes, `$$`, `$?`,
 * `$#`, `$0`…`$9`, `"$@"`, `$NAME` and `${NAME}`; redirections `>&2`, `2>&1`, `>/dev/null`,
 * `2>/dev/null`, `</dev/null`; `#` comments. Builtins: `exit`, `exec`, `echo`, `printf`, `trap`
 * (ignore or default a signal), `command -v`, `type -P`, `kill`, `export`, `cd`, `true`, `false`,
 * `:`. Anything else is looked up on `PATH` among the distro's programs. What it does not know
 * (pipes, `$(…)`, `if`, loops, background jobs) fails loudly with exit 2, so a test never passes
 * on a misread script.
 * @internal
 */
import * as Effect from "effect/Effect"

/** What the shell needs from the fake host. */
export interface ShellHost {
  /** This process's pid (`$$`). */
  readonly pid: number
  /** Writes output as it is produced (the host watches stderr for the pgid marker). */
  readonly write: (stream: "stdout" | "stderr", text: string) => Effect.Effect<void>
  /** Resolves a command name on `path` (or a path) to an executable path in the distro. */
  readonly resolve: (name: string, path: string) => string | undefined
  /** Runs the program at `path` in this process (a fork+exec or an `exec`); returns its status. */
  readonly run: (
    path: string,
    argv: ReadonlyArray<string>,
    io: {
      readonly env: Readonly<Record<string, string>>
      readonly cwd: string | undefined
      readonly stdin: string
      readonly write: ShellHost["write"]
    }
  ) => Effect.Effect<number>
  /** `kill`: signals pids (positive) or groups (negative); `undefined` signal is a liveness check. */
  readonly kill: (signal: string, targets: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<number>>
  /** `trap '' SIG` / `trap - SIG`: whether this process ignores a signal. */
  readonly ignore: (signal: string, ignored: boolean) => Effect.Effect<void>
}

/** How the shell was started. */
export interface ShellInvocation {
  /** `sh`, `bash`, … (for messages and `$0`). */
  readonly name: string
  readonly script: string
  /** `$0` when given after `-c script`. */
  readonly arg0?: string | undefined
  /** `$1`… */
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string | undefined
  /** stdin for the commands (a `-c` shell passes its own stdin on). */
  readonly stdin: string
}

type Segment =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Var"; readonly name: string; readonly quoted: boolean }
  | { readonly _tag: "AllArgs"; readonly quoted: boolean }

type Word = ReadonlyArray<Segment>

interface Redirect {
  readonly fd: number
  readonly to: "stdout" | "stderr" | "null" | "stdin-null"
}

interface Command {
  readonly words: ReadonlyArray<Word>
  readonly redirects: ReadonlyArray<Redirect>
  /** How this command is joined to the previous one. */
  readonly after: ";" | "&&" | "||"
}

class Unsupported extends Error {}

/** Parses a script into commands; throws {@link Unsupported} for syntax it does not model. */
export const parse = (script: string): ReadonlyArray<Command> => {
  const commands: Array<Command> = []
  let words: Array<Word> = []
  let redirects: Array<Redirect> = []
  let after: Command["after"] = ";"
  let segments: Array<Segment> = []
  let text = ""
  let inWord = false
  const flushText = () => {
    if (text.length > 0) segments.push({ _tag: "Text", text })
    text = ""
  }
  const endWord = () => {
    flushText()
    if (inWord) words.push(segments)
    segments = []
    inWord = false
  }
  const endCommand = (next: Command["after"]) => {
    endWord()
    if (words.length > 0 || redirects.length > 0) commands.push({ words, redirects, after })
    else if (next !== ";") throw new Unsupported(`syntax error near ${next}`)
    words = []
    redirects = []
    after = next
  }
  const readVar = (i: number, quoted: boolean): number => {
    const c = script[i + 1]
    if (c === undefined) {
      text += "$"
      return i + 1
    }
    if (c === "@" || c === "*") {
      flushText()
      segments.push({ _tag: "AllArgs", quoted })
      return i + 2
    }
    if (c === "$" || c === "?" || c === "#" || /[0-9]/.test(c)) {
      flushText()
      segments.push({ _tag: "Var", name: c, quoted })
      return i + 2
    }
    if (c === "{") {
      const close = script.indexOf("}", i + 2)
      const name = close === -1 ? "" : script.slice(i + 2, close)
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Unsupported(`\${${name}}`)
      flushText()
      segments.push({ _tag: "Var", name, quoted })
      return close + 1
    }
    if (c === "(") throw new Unsupported("$(…)")
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(script.slice(i + 1))
    if (m === null) {
      text += "$"
      return i + 1
    }
    flushText()
    segments.push({ _tag: "Var", name: m[0], quoted })
    return i + 1 + m[0].length
  }
  let i = 0
  while (i < script.length) {
    const c = script[i]!
    if (c === "'") {
      inWord = true
      const close = script.indexOf("'", i + 1)
      if (close === -1) throw new Unsupported("unterminated '")
      text += script.slice(i + 1, close)
      i = close + 1
      continue
    }
    if (c === "\"") {
      inWord = true
      i++
      while (i < script.length && script[i] !== "\"") {
        const d = script[i]!
        if (d === "\\" && /[$`"\\\n]/.test(script[i + 1] ?? "")) {
          text += script[i + 1]
          i += 2
        } else if (d === "$") i = readVar(i, true)
        else if (d === "`") throw new Unsupported("`…`")
        else {
          text += d
          i++
        }
      }
      if (i >= script.length) throw new Unsupported("unterminated \"")
      i++
      continue
    }
    if (c === "\\") {
      inWord = true
      if (script[i + 1] === "\n") i += 2
      else {
        text += script[i + 1] ?? ""
        i += 2
      }
      continue
    }
    if (c === "$") {
      inWord = true
      i = readVar(i, false)
      continue
    }
    if (c === "`") throw new Unsupported("`…`")
    if (c === "#" && !inWord) {
      while (i < script.length && script[i] !== "\n") i++
      continue
    }
    if (c === " " || c === "\t") {
      endWord()
      i++
      continue
    }
    if (c === "\n" || c === ";") {
      endCommand(";")
      i++
      continue
    }
    if (c === "&" && script[i + 1] === "&") {
      endCommand("&&")
      i += 2
      continue
    }
    if (c === "|" && script[i + 1] === "|") {
      endCommand("||")
      i += 2
      continue
    }
    if (c === "|" || c === "&" || c === "(" || c === ")") throw new Unsupported(c)
    if ((c === ">" || c === "<" || (/[0-9]/.test(c) && /^[0-9][<>]/.test(script.slice(i, i + 2)))) && !inWord) {
      const m = /^([0-9]?)(>>|>&|<|>)\s*([^\s;&|]+)/.exec(script.slice(i))
      if (m === null) throw new Unsupported(`redirection at ${script.slice(i, i + 10)}`)
      const fd = m[1] === "" ? (m[2] === "<" ? 0 : 1) : Number(m[1])
      const target = m[3]!
      const to: Redirect["to"] | undefined = m[2] === ">&"
        ? target === "2" ? "stderr" : target === "1" ? "stdout" : undefined
        : target === "/dev/null"
        ? m[2] === "<" ? "stdin-null" : "null"
        : undefined
      if (to === undefined) throw new Unsupported(`redirection ${m[0]}`)
      redirects.push({ fd, to })
      i += m[0].length
      continue
    }
    inWord = true
    text += c
    i++
  }
  endCommand(";")
  return commands
}

/** What `trap`/`kill` accept as signal names, as numbers (Linux x86-64). */
export const signalNumbers: Readonly<Record<string, number>> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  KILL: 9,
  TERM: 15,
  CONT: 18,
  STOP: 19
}

const signalName = (word: string): string | undefined => {
  const w = word.replace(/^SIG/i, "").toUpperCase()
  if (w === "0") return "0"
  if (/^\d+$/.test(w)) return Object.entries(signalNumbers).find(([, n]) => n === Number(w))?.[0]
  return w in signalNumbers ? w : undefined
}

const unescape = (s: string) => s.replace(/\\(n|t|\\)/g, (_, e: string) => (e === "n" ? "\n" : e === "t" ? "\t" : "\\"))

const formatPrintf = (format: string, args: ReadonlyArray<string>): string => {
  const once = (rest: Array<string>) =>
    unescape(format).replace(
      /%(%|s|d)/g,
      (_, k: string) => (k === "%" ? "%" : k === "d" ? String(Number(rest.shift() ?? 0)) : (rest.shift() ?? ""))
    )
  const rest = [...args]
  let out = once(rest)
  while (rest.length > 0 && /%[sd]/.test(format)) out += once(rest)
  return out
}

/**
 * Runs `invocation.script`; returns the exit status. `exec` hands the process over to the
 * program, whose status is the shell's.
 */
export const run = (shell: ShellHost, invocation: ShellInvocation): Effect.Effect<number> =>
  Effect.gen(function*() {
    let commands: ReadonlyArray<Command>
    try {
      commands = parse(invocation.script)
    } catch (error) {
      yield* shell.write("stderr", `${invocation.name}: the fake shell does not model ${(error as Error).message}\n`)
      return 2
    }
    const vars: Record<string, string> = { ...invocation.env }
    let cwd = invocation.cwd
    let status = 0
    const positional = invocation.args
    const expand = (word: Word): Array<string> => {
      const out: Array<string> = []
      let current = ""
      let hasAll = false
      for (const seg of word) {
        if (seg._tag === "Text") current += seg.text
        else if (seg._tag === "AllArgs") {
          hasAll = true
          if (positional.length === 0) continue
          if (seg.quoted) {
            out.push(current + positional[0]!, ...positional.slice(1, -1))
            current = positional.length > 1 ? positional[positional.length - 1]! : out.pop()!
          } else current += positional.join(" ")
        } else {
          const name = seg.name
          current += name === "$"
            ? String(shell.pid)
            : name === "?"
            ? String(status)
            : name === "#"
            ? String(positional.length)
            : name === "0"
            ? invocation.arg0 ?? invocation.name
            : /^[1-9]$/.test(name)
            ? positional[Number(name) - 1] ?? ""
            : vars[name] ?? ""
        }
      }
      if (hasAll && positional.length === 0 && current.length === 0 && word.every((s) => s._tag !== "Text")) {
        return out
      }
      out.push(current)
      return out
    }
    for (const command of commands) {
      if (command.after === "&&" && status !== 0) continue
      if (command.after === "||" && status === 0) continue
      const argv = command.words.flatMap(expand)
      let stdin = invocation.stdin
      let routeOut: "stdout" | "stderr" | "null" = "stdout"
      let routeErr: "stdout" | "stderr" | "null" = "stderr"
      for (const r of command.redirects) {
        if (r.to === "stdin-null") stdin = ""
        else if (r.fd === 1) routeOut = r.to
        else if (r.fd === 2) routeErr = r.to === "stdout" ? routeOut : r.to
      }
      const write = (stream: "stdout" | "stderr", text: string) => {
        const to = stream === "stdout" ? routeOut : routeErr
        return to === "null" || text.length === 0 ? Effect.void : shell.write(to, text)
      }
      const say = (text: string) => write("stdout", text)
      const complain = (text: string) => write("stderr", `${invocation.name}: ${text}\n`)
      // Assignments before anything else (`NAME=value` alone).
      const assignment = argv.length === 1 ? /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(argv[0]!) : null
      if (assignment !== null) {
        vars[assignment[1]!] = assignment[2]!
        status = 0
        continue
      }
      const [name, ...rest] = argv
      if (name === undefined) continue
      switch (name) {
        case "exit":
        case "return":
          return rest[0] === undefined ? status : Number(rest[0]) & 255
        case ":":
        case "true":
          status = 0
          continue
        case "false":
          status = 1
          continue
        case "echo": {
          const noNewline = rest[0] === "-n"
          yield* say(`${(noNewline ? rest.slice(1) : rest).join(" ")}${noNewline ? "" : "\n"}`)
          status = 0
          continue
        }
        case "printf":
          yield* say(formatPrintf(rest[0] ?? "", rest.slice(1)))
          status = 0
          continue
        case "export":
          for (const a of rest) {
            const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(a)
            if (m !== null) vars[m[1]!] = m[2]!
          }
          status = 0
          continue
        case "cd":
          cwd = rest[0] ?? vars["HOME"] ?? cwd
          status = 0
          continue
        case "trap": {
          const [action, ...signals] = rest
          for (const s of signals) {
            const sig = signalName(s)
            if (sig !== undefined) yield* shell.ignore(sig, action === "")
          }
          status = 0
          continue
        }
        case "command":
        case "type": {
          const flag = rest[0]
          const target = rest[1]
          if ((name === "command" && flag !== "-v") || (name === "type" && flag !== "-P") || target === undefined) {
            yield* complain(`${name} ${flag ?? ""}: not modelled`)
            status = 2
            continue
          }
          const builtin = name === "command" &&
            ["echo", "printf", "exit", "exec", "trap", "kill", "cd", "export", "command", "type", "true", "false", ":"]
              .includes(target)
          const found = builtin ? target : shell.resolve(target, vars["PATH"] ?? "")
          if (found === undefined) status = 1
          else {
            yield* say(`${found}\n`)
            status = 0
          }
          continue
        }
        case "kill": {
          let sig: string | undefined = "TERM"
          const targets: Array<number> = []
          let options = true
          for (let k = 0; k < rest.length; k++) {
            const a = rest[k]!
            if (options && a === "--") options = false
            else if (options && a === "-s") sig = signalName(rest[++k] ?? "")
            else if (
              options && /^-[A-Za-z0-9]+$/.test(a) && targets.length === 0 && signalName(a.slice(1)) !== undefined
            ) {
              sig = signalName(a.slice(1))
            } else if (/^-?\d+$/.test(a)) targets.push(Number(a))
            else {
              yield* complain(`kill: illegal argument ${a}`)
              sig = undefined
            }
          }
          if (sig === undefined || targets.length === 0) {
            status = 2
            continue
          }
          const reached = yield* shell.kill(sig, targets)
          for (const missed of targets.filter((t) => !reached.includes(t))) {
            yield* complain(`kill: (${missed}) - No such process`)
          }
          status = reached.length === targets.length ? 0 : 1
          continue
        }
        case "exec": {
          if (rest.length === 0) {
            status = 0
            continue
          }
          const path = shell.resolve(rest[0]!, vars["PATH"] ?? "")
          if (path === undefined) {
            yield* complain(`exec: ${rest[0]}: not found`)
            return 127
          }
          return yield* shell.run(path, rest, { env: vars, cwd, stdin, write })
        }
        default: {
          const path = shell.resolve(name, vars["PATH"] ?? "")
          if (path === undefined) {
            yield* complain(`${name}: not found`)
            status = 127
            continue
          }
          status = yield* shell.run(path, argv, { env: vars, cwd, stdin, write })
        }
      }
    }
    return status
  })
