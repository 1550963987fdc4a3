/**
 * Locating and configuring the `fake-wsl` executable, for process-level tests in any package.
 *
 * ```ts
 * import { fakeWslEnv, fakeWslExecutable } from "@isthmus/wsl/testing"
 * const env = fakeWslEnv({ distros: [{ name: "Ubuntu", state: "Running", default: true }] })
 * // spawn(fakeWslExecutable, ["-d", "Ubuntu", "--exec", "node", "server.js"], { env: { ...process.env, ...env } })
 * // or: Wsl.layer({ host: { executable: fakeWslExecutable, env: { ...process.env, ...env } } })
 * ```
 * @module
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { WslHostOptions } from "../node/WslHost.ts"
import type { FakeWslConfig } from "./FakeWslModel.ts"

/** Environment variable naming the JSON configuration file `fake-wsl` reads. */
export const FAKE_WSL_CONFIG = "FAKE_WSL_CONFIG"
/** Environment variable holding inline JSON configuration (wins over the file). */
export const FAKE_WSL_CONFIG_JSON = "FAKE_WSL_CONFIG_JSON"

const locate = (): string => {
  const candidates = ["../../bin/fake-wsl.js", "../bin/fake-wsl.js", "./bin/fake-wsl.js"].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url))
  )
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!
}

/**
 * Absolute path of the `fake-wsl` executable (a Node script with a shebang; it needs Node ≥ 22.18
 * on `PATH`). Arguments, output bytes (UTF-16LE, UTF-8 under `WSL_UTF8=1`), errors on stdout with
 * exit 255 for -1: like `wsl.exe`. `--exec` runs the command here, stdin passed through, with
 * the `WSLENV`-listed variables and `WSL_DISTRO_NAME` in its environment. `--cd` takes Linux paths
 * (`/…`, `~…`) or Windows paths (converted with the model's mounts); `--user` (else the
 * model's default user) becomes `USER` and `LOGNAME`, though the command runs as the current Unix
 * user. State changes are written back to the configuration file. `wslinfo`, `wslpath` and the `Wsl` service's probes are
 * answered from the model when it has the data, else run for real.
 */
export const fakeWslExecutable: string = locate()

const temporaryDirectories = new Set<string>()

/** A fresh temporary directory, removed when this process exits. */
const temporaryDirectory = (): string => {
  if (temporaryDirectories.size === 0) {
    process.once("exit", () => {
      for (const dir of temporaryDirectories) rmSync(dir, { recursive: true, force: true })
    })
  }
  const dir = mkdtempSync(join(tmpdir(), "fake-wsl-"))
  temporaryDirectories.add(dir)
  return dir
}

/**
 * Writes `config` to a JSON file (in a fresh temporary directory, removed when this process
 * exits, unless `path` is given) and returns its path; point `FAKE_WSL_CONFIG` at it.
 */
export const writeFakeWslConfig = (config: FakeWslConfig, path?: string): string => {
  const file = path ?? join(temporaryDirectory(), "config.json")
  writeFileSync(file, JSON.stringify(config, null, 2))
  return file
}

/** The environment variables that make `fake-wsl` use `config` (written to a file). */
export const fakeWslEnv = (config: FakeWslConfig, path?: string): Record<string, string> => ({
  [FAKE_WSL_CONFIG]: writeFakeWslConfig(config, path)
})

/**
 * Options for `WslHost.layer` / `Wsl.layer({ host })` that run `fake-wsl` with `config`: the
 * executable, an environment pointing at the written configuration (on top of `baseEnv`,
 * default `process.env`) and, when the model has one, a `.wslconfig` file.
 *
 * @example
 * ```ts
 * const layer = Wsl.layer({ host: fakeWslHostOptions({ distros: [{ name: "Ubuntu", default: true }] }) })
 * ```
 */
export const fakeWslHostOptions = (
  config: FakeWslConfig,
  baseEnv: Readonly<Record<string, string | undefined>> = process.env
): WslHostOptions => {
  const file = writeFakeWslConfig(config)
  let wslConfigPath: string | undefined
  if (config.wslConfig !== undefined) {
    wslConfigPath = join(dirname(file), ".wslconfig")
    writeFileSync(wslConfigPath, config.wslConfig)
  }
  return {
    executable: fakeWslExecutable,
    env: { ...baseEnv, [FAKE_WSL_CONFIG]: file },
    wslConfigPath
  }
}
