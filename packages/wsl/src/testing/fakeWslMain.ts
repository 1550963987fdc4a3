/**
 * The `fake-wsl` program: behaves like `wsl.exe` on Linux (see `FakeWslModel`). Started by
 * `bin/fake-wsl.js`. Configuration: `FAKE_WSL_CONFIG` (a JSON file) or `FAKE_WSL_CONFIG_JSON`
 * (inline JSON); without either, one running `Ubuntu` distribution. State changes (a command
 * starts a stopped distribution, `--terminate`, `--shutdown`) are written back to the file, so
 * the next run sees them, as with wsl.exe.
 * @module
 */
import { spawn } from "node:child_process"
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs"
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
    if (cwd === undefined || !existsSync(cwd)) {
      await write(
        process.stdout,
        `chdir(${step.cwd}) failed: No such file or directory\nError code: Wsl/Service/E_FAIL\n`,
        true
      )
      return 255
    }
  }
  const [program, ...rest] = step.argv as [string, ...Array<string>]
  return await new Promise<number>((resolve) => {
    const child = spawn(program, rest, {
      cwd,
      env: childEnv,
      stdio: [script === undefined ? "inherit" : "pipe", "inherit", "inherit"]
    })
    if (script !== undefined) child.stdin?.end(script)
    child.on("error", (error) => {
      process.stderr.write(`fake-wsl: ${program}: ${error.message}\n`)
      resolve(127)
    })
    child.on("exit", (code, signal) => {
      resolve(code ?? (signal === null ? 1 : 128 + (signal === "SIGKILL" ? 9 : signal === "SIGINT" ? 2 : 15)))
    })
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
    process.on("SIGTERM", forward("SIGTERM"))
    process.on("SIGINT", forward("SIGINT"))
  })
}
