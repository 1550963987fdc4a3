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
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
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
 * the `WSLENV`-listed variables and `WSL_DISTRO_NAME` in its environment.
 */
export const fakeWslExecutable: string = locate()

/**
 * Writes `config` to a JSON file (in a fresh temporary directory unless `path` is given) and
 * returns its path; point `FAKE_WSL_CONFIG` at it.
 */
export const writeFakeWslConfig = (config: FakeWslConfig, path?: string): string => {
  const file = path ?? join(mkdtempSync(join(tmpdir(), "fake-wsl-")), "config.json")
  writeFileSync(file, JSON.stringify(config, null, 2))
  return file
}

/** The environment variables that make `fake-wsl` use `config` (written to a file). */
export const fakeWslEnv = (config: FakeWslConfig, path?: string): Record<string, string> => ({
  [FAKE_WSL_CONFIG]: writeFakeWslConfig(config, path)
})
