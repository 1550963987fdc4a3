/**
 * The Promise facade from plain TypeScript: this file imports nothing from `effect` (checked by
 * the last test). It runs the real `Wsl` service over `fake-wsl` processes, configured by a model
 * whose facts (names, states, default, versions) are what the answers must show.
 */
import { createWsl, type WslClient } from "@isthmus/wsl/promise"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { readFileSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"

const model = {
  distros: [
    { name: "Ubuntu-24.04", state: "Running" as const, version: 2 as const, default: true },
    { name: "Debian", state: "Stopped" as const, version: 1 as const }
  ]
}

const clients: Array<WslClient> = []
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close()
})
const client = (options: Parameters<typeof createWsl>[0]) => {
  const wsl = createWsl(options)
  clients.push(wsl)
  return wsl
}

// Every call spawns fake-wsl (a Node process): generous time for a loaded 2-core machine.
describe("createWsl (Promise facade)", { timeout: 120_000 }, () => {
  it("lists the model's distros, its default and its status", async () => {
    const wsl = client({ host: fakeWslHostOptions(model) })
    expect(await wsl.isAvailable()).toBe(true)
    const distros = await wsl.listDistros()
    expect(distros.map((d) => [d.name, d.state, d.version, d.isDefault])).toEqual([
      ["Ubuntu-24.04", "Running", 2, true],
      ["Debian", "Stopped", 1, false]
    ])
    expect(await wsl.defaultDistro()).toBe("Ubuntu-24.04")
    expect((await wsl.status()).defaultDistro).toBe("Ubuntu-24.04")
  })

  it("exec runs argv without a shell, env through WSLENV, and returns the command's own exit code", async () => {
    const wsl = client({ host: fakeWslHostOptions(model) })
    const printed = await wsl.exec("Ubuntu-24.04", ["printenv", "API_TOKEN"], { env: { API_TOKEN: "s3cret" } })
    expect(printed).toMatchObject({ exitCode: 0, stdout: "s3cret\n" })
    const literal = await wsl.exec("Ubuntu-24.04", ["echo", "$HOME;", "`id`"])
    expect(literal.stdout).toBe("$HOME; `id`\n")
    expect((await wsl.exec("Ubuntu-24.04", ["sh", "-c", "exit 3"])).exitCode).toBe(3)
  })

  it("bad input and a missing distro reject with typed errors", async () => {
    const wsl = client({ host: fakeWslHostOptions(model) })
    await expect(wsl.exec("no such distro!", ["true"])).rejects.toMatchObject({ _tag: "InvalidDistroNameError" })
    const missing = await wsl.exec("Fedora", ["true"]).catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(Error)
    expect(missing).toMatchObject({ _tag: "WslExeError" })
  })

  it("without wsl.exe (this Linux machine) it says WSL is unavailable", async () => {
    const wsl = client({})
    expect(await wsl.isAvailable()).toBe(false)
    await expect(wsl.listDistros()).rejects.toMatchObject({ _tag: "WslUnavailableError" })
  })

  it("after close, calls reject with WslClosedError", async () => {
    const wsl = createWsl({ host: fakeWslHostOptions(model) })
    await wsl.close()
    await expect(wsl.listDistros()).rejects.toMatchObject({ _tag: "WslClosedError" })
    await wsl.close() // idempotent
  })

  it("this file uses the facade without importing effect", () => {
    const source = readFileSync(new URL(import.meta.url), "utf8")
    expect(source).not.toMatch(/from\s+["'](effect|@effect\/)/)
  })
})
