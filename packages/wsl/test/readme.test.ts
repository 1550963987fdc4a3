// The README's examples, type-checked and run. The last test checks that every code line of
// README.md's ```ts blocks (except imports, comments and top-level runPromise calls that need
// Windows) appears in this file, so the two cannot drift apart.
import { assert, describe, it } from "@effect/vitest"
import { Networking, WslPath, WslState } from "@isthmus/wsl"
import { WslEnvironment } from "@isthmus/wsl/node"
import { Wsl } from "@isthmus/wsl/node"
import { FakeWslHost } from "@isthmus/wsl/testing"
import { fakeWslEnv, fakeWslExecutable, fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Effect, Option, Result } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

// ## Listing distros
const listDistros = Effect.gen(function*() {
  const wsl = yield* Wsl.Wsl
  const distros = yield* wsl.listDistros
  return distros.map((d) => `${d.isDefault ? "*" : " "} ${d.name} ${d.state} WSL${d.version}`)
})

// ## Testing host code with the fake host layer
const fake = FakeWslHost.layer({
  distros: [
    {
      name: "Ubuntu-24.04",
      state: "Running",
      default: true,
      interfaces: [{ name: "docker0", address: "172.17.0.1" }, { name: "eth0", address: "172.20.1.5" }],
      networkingMode: "nat",
      node: { path: "/usr/bin/node", version: "v22.16.0" },
      tools: ["git"]
    },
    { name: "Debian", state: "Stopped", networkingMode: "mirrored" }
  ]
})

const hostCode = Effect.gen(function*() {
  const wsl = yield* Wsl.Wsl
  const [ubuntu, debian] = [yield* wsl.reachableHost("Ubuntu-24.04"), yield* wsl.reachableHost("Debian")]
  return [ubuntu.host, debian.host] // ["172.20.1.5", "127.0.0.1"]
})

describe("README", () => {
  it.effect("listing distros", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* listDistros, ["* Ubuntu-24.04 Running WSL2", "  Debian Stopped WSL2"])
    }).pipe(Effect.provide(fake)))

  it("converting a path", () => {
    const context = { distro: "Ubuntu-24.04" } // automount root /mnt/ by default
    const linux = WslPath.toLinux("C:\\Users\\ada\\project", context) // Success("/mnt/c/Users/ada/project")
    const unc = WslPath.toWindows("/home/ada/project", context) // Success("\\\\wsl.localhost\\Ubuntu-24.04\\home\\ada\\project")
    const other = WslPath.toLinux("\\\\wsl$\\Debian\\etc", context) // Failure: belongs to distribution "Debian"
    const picked = WslPath.parseUnc("\\\\wsl.localhost\\Debian\\home\\bob") // Some({ distro: "Debian", linuxPath: "/home/bob" })
    assert.strictEqual(Result.getOrThrow(linux), "/mnt/c/Users/ada/project")
    assert.strictEqual(Result.getOrThrow(unc), "\\\\wsl.localhost\\Ubuntu-24.04\\home\\ada\\project")
    assert.isTrue(Result.isFailure(other))
    assert.deepStrictEqual(Option.map(picked, (p) => [p.distro, p.linuxPath]), Option.some(["Debian", "/home/bob"]))
  })

  it.effect("the real wslpath through the service", () =>
    Effect.gen(function*() {
      const realPath = Wsl.Wsl.use((wsl) => wsl.wslpath("Ubuntu-24.04", "/home/ada/link", "toWindows"))
      assert.strictEqual(yield* realPath, "\\\\wsl.localhost\\Ubuntu-24.04\\home\\ada\\target")
    }).pipe(Effect.provide(FakeWslHost.layer({
      distros: [{ name: "Ubuntu-24.04", default: true, symlinks: { "/home/ada/link": "target" } }]
    }))))

  it.effect("finding the address a UI should use", () =>
    Effect.gen(function*() {
      const address = Effect.gen(function*() {
        const wsl = yield* Wsl.Wsl
        // the server listens on 127.0.0.1:3773 inside Ubuntu-24.04
        const target = yield* wsl.reachableHost("Ubuntu-24.04", "127.0.0.1")
        // NAT (the default): 127.0.0.1 through WSL's localhost relay (route "localhostRelay", delayed:
        // retry a refused connection for a moment after the server is ready); mirrored: 127.0.0.1;
        // localhostForwarding=false or mode none: a WslUnreachableError that says what to change
        return `http://${target.urlHost}:3773 (${target.mode} via ${target.modeSource}: ${target.reason})`
      })
      assert.isTrue((yield* address).startsWith("http://127.0.0.1:3773 (nat via wslinfo: "))
    }).pipe(Effect.provide(fake)))

  it.effect("running things in a distro", () =>
    Effect.gen(function*() {
      const run = Effect.gen(function*() {
        const wsl = yield* Wsl.Wsl
        // --exec, one argument per value, no shell; env goes through WSLENV (appended), never argv
        const r = yield* wsl.exec("Ubuntu-24.04", ["printenv", "API_TOKEN"], {
          env: { API_TOKEN: "s3cret" },
          timeout: "10 seconds"
        })
        // scripts go on stdin to a login shell, so wsl.exe never re-quotes them
        const s = yield* wsl.runScript("Ubuntu-24.04", "echo one\necho two")
        // can this distro run our Node backend?
        const report = yield* wsl.preflight("Ubuntu-24.04", { node: "^22.16 || >=24.10", tools: ["git"] })
        return [r.stdout, s.stdout, report.ok, report.message]
      })
      const [token, script, ok, message] = yield* run
      assert.deepStrictEqual([token, script, ok], ["s3cret\n", "one\ntwo\n", true])
      assert.include(message, "Ubuntu-24.04 is ready")
    }).pipe(Effect.provide(fake)))

  it.effect("is WSL usable here?", () =>
    Effect.gen(function*() {
      const usable = Effect.gen(function*() {
        const wsl = yield* Wsl.Wsl
        const state = yield* wsl.state() // starts the default distro: only that shows virtualization off
        // NotInstalled | VirtualizationDisabled | ComponentMissing | NoDistributions | Ready | Unknown
        return WslState.isReady(state) ? "ready" : WslState.advice(state)
      })
      assert.strictEqual(yield* usable, "ready")
      const off = yield* usable.pipe(
        Effect.provide(FakeWslHost.layer({ distros: [{ name: "U" }], hostState: "firmware-off" }))
      )
      assert.include(off, "firmware")
    }).pipe(Effect.provide(fake)))

  it.effect("inside a distro", () =>
    Effect.gen(function*() {
      const whereAmI = WslEnvironment.WslEnvironment.use((env) =>
        Effect.succeed(env.isWsl ? `WSL ${env.version} in ${env.distro}, drives under ${env.automountRoot}` : "not WSL")
      )
      assert.include(yield* whereAmI, "drives under /mnt/")
    }).pipe(Effect.provide(WslEnvironment.layerFromFacts({
      platform: "linux",
      kernelRelease: "5.15.167.4-microsoft-standard-WSL2",
      procVersion: Option.none(),
      env: { WSL_DISTRO_NAME: "Ubuntu" },
      interopBinfmt: Option.some("enabled\n"),
      runWslExists: true,
      wslConf: Option.none(),
      inContainer: false,
      wslinfoNetworkingMode: Option.none()
    }))))

  it.effect("testing host code with the fake host layer", () =>
    Effect.gen(function*() {
      const hosts = Effect.runPromise(hostCode.pipe(Effect.provide(fake)))
      assert.deepStrictEqual(yield* Effect.promise(() => hosts), ["172.20.1.5", "127.0.0.1"])
    }))

  it.live("process-level tests with fake-wsl", () =>
    Effect.gen(function*() {
      // The Wsl service over real processes:
      const overProcesses = Wsl.layer({ host: fakeWslHostOptions({ distros: [{ name: "Ubuntu", default: true }] }) })
      // Or spawn it yourself, like wsl.exe:
      const env = { ...process.env, ...fakeWslEnv({ distros: [{ name: "Ubuntu", default: true }] }) }
      assert.isString(env["FAKE_WSL_CONFIG"])
      assert.isTrue(fakeWslExecutable.endsWith("fake-wsl.js"))
      const names = yield* listDistros.pipe(Effect.provide(overProcesses))
      assert.deepStrictEqual(names, ["* Ubuntu Stopped WSL2"])
    }))

  // The README's reachability table is what Networking.reachableHost answers: every cell. The
  // table itself was written from windows-reality.md §6 (the relay's rules in microsoft/WSL).
  it("the reachability table, cell by cell", () => {
    const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8")
    const table = /<!-- reachability-table -->([\s\S]*?)<!-- \/reachability-table -->/.exec(readme)?.[1] ?? ""
    const rows = table.split("\n").filter((l) => l.startsWith("|")).map((l) =>
      l.split("|").slice(1, -1).map((c) => c.trim())
    )
    const [header, , ...body] = rows
    type Column = {
      readonly mode: Networking.NetworkingMode
      readonly localhostForwarding?: boolean
      readonly hostAddressLoopback?: boolean
    }
    const columns: Record<string, Column> = {
      "NAT, forwarding on": { mode: "nat" },
      "NAT, forwarding off": { mode: "nat", localhostForwarding: false },
      "bridged, forwarding on": { mode: "bridged" },
      "bridged, forwarding off": { mode: "bridged", localhostForwarding: false },
      "consomme (virtioproxy)": { mode: Option.getOrThrow(Networking.parseWslinfo("virtioproxy")) },
      "mirrored": { mode: "mirrored" },
      "mirrored, hostAddressLoopback": { mode: "mirrored", hostAddressLoopback: true },
      "WSL 1": { mode: "wsl1" },
      "none": { mode: "none" }
    }
    assert.deepStrictEqual(header?.slice(1), Object.keys(columns))
    assert.isAbove(body.length, 7)
    for (const [bindCell, ...cells] of body) {
      const bind = /`([^`]+)`/.exec(bindCell ?? "")?.[1] ?? ""
      cells.forEach((cell, i) => {
        const column = Object.values(columns)[i]!
        const got = Networking.reachableHost(bind, {
          distro: "Ubuntu",
          mode: { mode: column.mode, source: "wslinfo", detail: "" },
          localhostForwarding: column.localhostForwarding ?? true,
          hostAddressLoopback: column.hostAddressLoopback ?? false,
          distroAddress: Option.some({ address: "172.20.1.5", interface: Option.some("eth0") })
        })
        const where = `${bind} in ${Object.keys(columns)[i]}`
        if (cell === "✗") return assert.isTrue(Result.isFailure(got), where)
        const host = /^`([^`]+)`( R)?$/.exec(cell)
        assert.isNotNull(host, `${where}: cell ${cell}`)
        assert.isTrue(Result.isSuccess(got), where)
        if (Result.isSuccess(got)) {
          assert.deepStrictEqual([got.success.host, got.success.route === "localhostRelay"], [
            host![1],
            host![2] !== undefined
          ], where)
        }
      })
    }
  })

  it("every README code line is in this file", () => {
    const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8")
    const self = readFileSync(fileURLToPath(import.meta.url), "utf8")
    const selfLines = new Set(self.split("\n").map((l) => l.trim()))
    // The Promise facade's block has its own test (test/promise.test.ts); every block type-checks
    // in test/readme-compiles.test.ts.
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) =>
      !b.includes(`from "@isthmus/wsl/promise"`)
    )
    assert.isAbove(blocks.length, 5)
    const missing = blocks.flatMap((b) => b.split("\n")).map((l) => l.trim()).filter((l) =>
      l.length > 0 && !l.startsWith("import ") && !l.startsWith("//") && !l.startsWith("Effect.runPromise(")
    ).filter((l) => !selfLines.has(l))
    assert.deepStrictEqual(missing, [])
  })
})
