/**
 * The `fake-wsl` program: behaves like `wsl.exe` on Linux (see `FakeWslModel`). Started by
 * `bin/fake-wsl.js`. Configuration: `FAKE_WSL_CONFIG` (a JSON file) or `FAKE_WSL_CONFIG_JSON`
 * (inline JSON); without either, one running `Ubuntu` distribution. State changes (a command
 * starts a stopped distribution, `--terminate`, `--shutdown`) are written back to the file, so
 * the next run sees them, as with wsl.exe.
 * @module
 */
import { spawn } from "node:child_process"
import {
  accessSync,
  appendFileSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from "node:fs"
import { constants as osConstants, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { encode } from "../internal/distroFormat.ts"
import * as PathCore from "../internal/pathCore.ts"
import * as Wslenv from "../Wslenv.ts"
import * as Model from "./FakeWslModel.ts"

/** Environment variable naming the JSON configuration file. */
export const configFileVariable = "FAKE_WSL_CONFIG"
/** Environment variable holding inline JSON configuration. */
export const configJsonVariable = "FAKE_WSL_CONFIG_JSON"

const defaultConfig: Model.FakeWslConfig = {
  distros: [{ name: "Ubuntu", state: "Running", version: 2, default: true }]
}

const linuxBase = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TERM", "TMPDIR", "NODE_OPTIONS"]

/** The file the configuration came from, when it came from one (state changes are written back). */
const configFile = (env: NodeJS.ProcessEnv): string | undefined => {
  const inline = env[configJsonVariable]
  const file = env[configFileVariable]
  return (inline === undefined || inline.length === 0) && file !== undefined && file.length > 0 ? file : undefined
}

const loadConfig = (env: NodeJS.ProcessEnv): Model.FakeWslConfig => {
  const file = configFile(env)
  if (file !== undefined) return JSON.parse(readFileSync(file, "utf8")) as Model.FakeWslConfig
  const inline = env[configJsonVariable]
  return inline !== undefined && inline.length > 0 ? JSON.parse(inline) as Model.FakeWslConfig : defaultConfig
}

const readStdin = (): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    process.stdin.on("data", (c: Buffer) => chunks.push(c))
    process.stdin.on("end", () => resolve(Buffer.concat(chunks)))
    process.stdin.on("error", reject)
  })

/** Runs `fake-wsl` with `args`; resolves to the exit code. */
export const main = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env): Promise<number> => {
  const utf8 = env["WSL_UTF8"] === "1"
  const write = (stream: NodeJS.WriteStream, text: string, wslText: boolean) =>
    new Promise<void>((resolve) => {
      if (text.length === 0) return resolve()
      const bytes = wslText ? encode(text, { utf8 }) : Buffer.from(text, "utf8")
      stream.write(bytes, () => resolve())
    })
  let config: Model.FakeWslConfig
  try {
    config = loadConfig(env)
  } catch (error) {
    await write(process.stdout, `fake-wsl: cannot read its configuration: ${String(error)}\n`, true)
    return 255
  }
  const record = config.record ?? env["FAKE_WSL_RECORD"]
  if (record !== undefined) {
    const forwarded = Wslenv.parse(env["WSLENV"]).map((e) => e.name).filter((n) => env[n] !== undefined)
    appendFileSync(record, `${JSON.stringify({ argv: args, wslenv: env["WSLENV"] ?? null, forwarded })}\n`)
  }
  const step = Model.interpret(config, args)
  const next = Model.afterRun(config, args, step)
  const file = configFile(env)
  if (next !== undefined && file !== undefined) {
    // Replace the file in one step, so a concurrent run reads the old or the new model, never half.
    writeFileSync(`${file}.${process.pid}`, JSON.stringify(next, null, 2))
    renameSync(`${file}.${process.pid}`, file)
  }
  if (step.kind === "Output") {
    await write(process.stdout, step.stdout, step.fromWslExe)
    await write(process.stderr, step.stderr, false)
    return step.exitCode
  }
  // wsl.exe's own warnings (a call that boots the VM) come first, in its encoding (§6.7).
  await write(process.stderr, step.warnings, true)
  const script = Model.readsScript(step) ? await readStdin() : undefined
  const answered = Model.answer(step, script?.toString("utf8"))
  if (answered !== undefined) {
    await write(process.stdout, answered.stdout, answered.fromWslExe)
    await write(process.stderr, answered.stderr, false)
    return answered.exitCode
  }
  // Run the Linux command here, with the environment WSL would give it: a Linux base, the
  // WSLENV-listed variables translated Windows → Linux, WSL_DISTRO_NAME and WSLENV itself.
  const translated = Wslenv.translate(env, "toLinux", Model.pathContext(step.distro))
  const childEnv: Record<string, string> = {}
  for (const name of [...linuxBase, ...(config.passthroughEnv ?? [])]) {
    const v = env[name]
    if (v !== undefined) childEnv[name] = v
  }
  Object.assign(childEnv, translated.env)
  const user = Model.userOf(step)
  if (user !== undefined) {
    childEnv["USER"] = user
    childEnv["LOGNAME"] = user
  }
  childEnv["WSL_DISTRO_NAME"] = step.distro.name
  Object.assign(childEnv, distroSide(step.distro, env[configFileVariable], childEnv["PATH"] ?? ""))
  for (const w of translated.warnings) process.stderr.write(`${w}\n`)
  let cwd: string | undefined
  if (step.cwd !== undefined) {
    const linuxCwd = /^[A-Za-z]:[\\/]/.test(step.cwd)
      ? PathCore.toLinux(step.cwd, Model.pathContext(step.distro))
      : step.cwd
    cwd = typeof linuxCwd !== "string"
      ? undefined
      : linuxCwd === "~"
      ? childEnv["HOME"]
      : linuxCwd.startsWith("~/")
      ? `${childEnv["HOME"] ?? ""}${linuxCwd.slice(1)}`
      : linuxCwd
    // "Failures to set the current working directory are non-fatal" (init.cpp): the command
    // runs anyway, in the home directory (windows-reality.md §7).
    if (cwd === undefined || !existsSync(cwd)) {
      cwd = childEnv["HOME"] !== undefined && existsSync(childEnv["HOME"])
        ? childEnv["HOME"]
        : undefined
    }
  }
  const [program, ...rest] = step.argv as [string, ...Array<string>]
  // `--exec` is execvpe in the relay: a program that is not found ends the relay with exit 1
  // and init's error line on stderr (init.cpp CreateProcessCommon, common.h FATAL_ERROR;
  // microsoft/WSL#12638; windows-reality.md §2.3). A shell (`--` form) reports its own 127.
  if (resolveProgram(program, childEnv["PATH"] ?? "", cwd) === undefined) {
    await write(
      process.stderr,
      `<3>WSL (${process.pid} - Relay) ERROR: CreateProcessCommon:640: execvpe(${program}) failed: No such file or directory\n`,
      false
    )
    return 1
  }
  return await relay(program, rest, { cwd, env: childEnv, script })
}

/**
 * The distro's side of the model on this machine's filesystem, so real shells see it:
 * - `PATH`: the distro's `--exec` default and its Windows entries (windows-reality.md §5); this
 *   machine's `PATH` follows, so its programs run (`sh`, `sleep`, `node`), except when the model
 *   says the distro has no Node, or has it outside those directories (nvm): then this machine's
 *   Node is left out of every directory ({@link hidesMachineNode});
 * - `SHELL`: the user's shell from the model (default `/bin/bash`);
 * - `HOME`: a directory next to the configuration with a real `~/.profile` and `~/.bashrc` made
 *   from the model (Ubuntu's skeleton, its interactive-only guard included), so a real bash
 *   decides what `-l`, `-i` and `-ilc` see, and this machine's own startup files never run;
 * - the model's executables (`node`, `tools`, `executables`) that live under the temporary
 *   directory are created there (a Node that prints its version, a tool that exits 0, a Windows
 *   shim with CRLF line ends), so a test can give a distro real files without touching the machine.
 */
const distroSide = (
  distro: Model.FakeDistro,
  configPath: string | undefined,
  hostPath: string
): Record<string, string> => {
  const out: Record<string, string> = { SHELL: distro.shell ?? "/bin/bash" }
  const system = Model.execPath(distro)
  out["PATH"] = configPath !== undefined && hidesMachineNode(distro, system)
    ? [
      withoutNode(dirname(configPath), system.split(":").filter((d) => !(distro.windowsPath ?? []).includes(d))),
      ...(distro.windowsPath ?? []),
      ...hostPath.split(":").filter((d) => !nodePrograms.some((p) => existsSync(`${d}/${p}`)))
    ].join(":")
    : `${system}:${hostPath}`
  const temp = tmpdir()
  for (const [path, kind] of Model.executables(distro)) {
    if (!path.startsWith(`${temp}/`) || existsSync(path)) continue
    mkdirSync(dirname(path), { recursive: true })
    const body = kind === "node"
      ? `#!/bin/sh\nif [ "$1" = --version ]; then echo ${distro.node?.version ?? "v0.0.0"}; fi\n`
      : kind === "windowsShim"
      ? "#!/bin/sh\r\nbasedir=$(dirname \"$(echo \"$0\" | sed -e 's,\\\\,/,g')\")\r\nexec node \"$basedir/node_modules/npm/bin/npm-cli.js\" \"$@\"\r\n"
      : "#!/bin/sh\nexit 0\n"
    writeFileSync(path, body, { mode: 0o755 })
  }
  if (configPath !== undefined) {
    const home = join(dirname(configPath), `home-${distro.name}`)
    mkdirSync(home, { recursive: true })
    // This machine's /etc/profile runs first and may set PATH (Debian's does); the modelled
    // distro's does not (Ubuntu's), so put back what wsl.exe gave the command.
    writeFileSync(
      join(home, ".profile"),
      `# ~/.profile (fake-wsl, from the model)\nexport PATH="${out["PATH"]}"\n${say(distro.profile?.output)}${
        exportPath(distro.profile?.path)
      }${pause(distro.profile?.delayMillis)}${execLine(distro.profile?.exec)}` +
        `if [ -n "$BASH_VERSION" ]; then\n  if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi\nfi\n`
    )
    writeFileSync(
      join(home, ".bashrc"),
      `# ~/.bashrc (fake-wsl, from the model): Ubuntu's skeleton starts so\ncase $- in\n    *i*) ;;\n      *) return;;\nesac\n` +
        `${say(distro.bashrc?.output)}${exportPath(distro.bashrc?.path)}${pause(distro.bashrc?.delayMillis)}${
          execLine(distro.bashrc?.exec)
        }`
    )
    out["HOME"] = home
  }
  return out
}

/**
 * Whether this machine's own Node must be hidden from the distro: the model says the distro has
 * none (`node: null`), or has one outside the `--exec` PATH (nvm, fnm, volta and asdf install
 * under the home directory and only `~/.bashrc` puts it on PATH). A distro has the Node the
 * model says, not whatever `/usr/bin/node` the machine running the tests has. A model Node in a
 * system directory (`/usr/bin/node`, a distro package) keeps this machine's directories as they are.
 */
const hidesMachineNode = (distro: Model.FakeDistro, system: string): boolean =>
  distro.node === null ||
  (distro.node !== undefined && !system.split(":").includes(dirname(distro.node.path)))

/** A startup-file line that puts `dirs` in front of PATH. */
const exportPath = (dirs: ReadonlyArray<string> | undefined) =>
  dirs === undefined || dirs.length === 0 ? "" : `export PATH="${dirs.join(":")}:$PATH"\n`

/**
 * A startup-file line that replaces the shell with the modelled program (`exec tmux`), guarded by
 * `unless` when given; the program behaves as {@link Model.execOutcome} says.
 */
const execLine = (exec: Model.FakeStartupFile["exec"]) => {
  if (exec === undefined) return ""
  const { exitCode, stderr } = Model.execOutcome(exec.program)
  const line = `exec sh -c 'printf "%s" "$1" >&2; exit ${exitCode}' ${exec.program} '${stderr}'\n`
  return exec.unless === undefined ? line : `if [ -z "\${${exec.unless}:-}" ]; then\n  ${line}fi\n`
}

/** A startup-file line that takes `millis` (a slow rc file). */
const pause = (millis: number | undefined) =>
  millis === undefined || millis <= 0 ? "" : `sleep ${(millis / 1000).toFixed(3)}\n`

/** A startup-file line that prints `text`. */
const say = (text: string | undefined) =>
  text === undefined || text.length === 0 ? "" : `printf '%s' '${text.replaceAll("'", "'\\''")}'\n`

/** What a Node installation puts on PATH. */
const nodePrograms = ["node", "npm", "npx", "corepack"]

/**
 * A directory that stands for `dirs` without Node: links to every program in them except
 * {@link nodePrograms}, so a distro the model gives no Node has none even on a machine whose
 * `/usr/bin` has one. Made once per configuration, atomically (concurrent starts share it).
 */
const withoutNode = (configDir: string, dirs: ReadonlyArray<string>): string => {
  const target = join(configDir, "bin-without-node")
  if (existsSync(target)) return target
  const temporary = `${target}.${process.pid}`
  mkdirSync(temporary, { recursive: true })
  for (const dir of dirs.toReversed()) {
    let names: Array<string> = []
    try {
      names = readdirSync(dir)
    } catch {
      continue
    }
    for (const name of names) {
      if (nodePrograms.includes(name)) continue
      try {
        rmSync(join(temporary, name), { force: true })
        symlinkSync(join(dir, name), join(temporary, name))
      } catch {
        // a name that cannot be linked is left out
      }
    }
  }
  try {
    renameSync(temporary, target)
  } catch {
    rmSync(temporary, { recursive: true, force: true }) // another start made it first
  }
  return target
}

/** `execvpe`'s lookup: a name with `/` as is, else the first executable file on `PATH`. */
const isExecutableFile = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK)
    return statSync(file).isFile()
  } catch {
    return false
  }
}

const resolveProgram = (program: string, path: string, cwd: string | undefined): string | undefined => {
  const executable = isExecutableFile
  if (program.includes("/")) {
    const file = program.startsWith("/") || cwd === undefined ? program : `${cwd}/${program}`
    return executable(file) ? file : undefined
  }
  return path.split(":").map((dir) => `${dir.length === 0 ? "." : dir}/${program}`).find(executable)
}

/** `setpriv --pdeathsig` (util-linux) when it is on this machine: see {@link relay}. */
const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p))

/**
 * Runs the Linux command the way WSL's relay does (windows-reality.md §2, `init.cpp`), with
 * `fake-wsl` as `wsl.exe`:
 * - the command is a session leader (`detached`: `setsid`), so its pid is its pgid and sid (§2.4);
 * - `fake-wsl` copies stdin, stdout and stderr (the hvsockets); when the command exits, `fake-wsl`
 *   sends SIGHUP to the rest of its group (the pty hangup) and returns its status at once (§2.2):
 *   its exit code, or the raw signal number when a signal ended it (SIGTERM 15, SIGKILL 9; §2.3);
 * - when `fake-wsl` dies (TerminateProcess of wsl.exe; here SIGTERM or SIGKILL to its group), the
 *   command does **not** die with it (#2496, #12159). Exactly the relay's acts reach it: stdin EOF
 *   and broken stdout/stderr pipes (the kernel closes `fake-wsl`'s ends) and SIGHUP to the
 *   command's pid only (its parent-death signal, set with `setpriv --pdeathsig HUP`; without
 *   setpriv, `fake-wsl` sends it itself on SIGTERM/SIGINT/SIGHUP, which SIGKILL cannot do). A
 *   command that ignores SIGHUP keeps running, as Puma did in #2496. There is no SIGTERM
 *   forwarding: Windows has none to give.
 */
const relay = (
  program: string,
  args: ReadonlyArray<string>,
  options: {
    readonly cwd: string | undefined
    readonly env: Record<string, string>
    readonly script: Buffer | undefined
  }
): Promise<number> =>
  new Promise<number>((resolve) => {
    const command = setpriv === undefined ? [program, ...args] : [setpriv, "--pdeathsig", "HUP", "--", program, ...args]
    const child = spawn(command[0]!, command.slice(1), {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ["pipe", "pipe", "pipe"]
    })
    child.stdin.on("error", () => undefined) // EPIPE: the command does not read its stdin
    if (options.script !== undefined) child.stdin.end(options.script)
    else process.stdin.pipe(child.stdin)
    child.stdout.pipe(process.stdout)
    child.stderr.pipe(process.stderr)
    process.stdout.on("error", () => undefined)
    process.stderr.on("error", () => undefined)
    if (setpriv === undefined) {
      const hangUp = () => {
        try {
          process.kill(child.pid!, "SIGHUP")
        } catch {
          // already gone
        }
        process.exit(1)
      }
      for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.once(signal, hangUp)
    }
    child.on("error", (error) => {
      process.stderr.write(`fake-wsl: ${program}: ${error.message}\n`)
      resolve(1)
    })
    child.on("exit", (code, signal) => {
      // The leader is gone: the pty hangs up on the rest of its (foreground) group.
      try {
        process.kill(-child.pid!, "SIGHUP")
      } catch {
        // nobody left
      }
      const status = code ?? (signal === null ? 1 : osConstants.signals[signal])
      // Deliver what the leader wrote before it exited, but do not wait on a background child
      // that keeps the pipes open: wsl.exe returns at once (§2.2).
      let open = 2
      const done = () => {
        if (--open === 0) finish()
      }
      let finished = false
      const finish = () => {
        if (finished) return
        finished = true
        child.stdout.unpipe(process.stdout)
        child.stderr.unpipe(process.stderr)
        child.stdout.destroy()
        child.stderr.destroy()
        process.stdin.unpipe(child.stdin)
        process.stdin.destroy()
        resolve(status)
      }
      if (child.stdout.readableEnded) done()
      else child.stdout.once("end", done)
      if (child.stderr.readableEnded) done()
      else child.stderr.once("end", done)
      setTimeout(finish, 200).unref()
    })
  })
