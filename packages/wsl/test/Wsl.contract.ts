// The behaviour every Wsl backend must show. Run against the in-memory fake host
// (Wsl.fake.test.ts) and, through the real Node process layer, against fake-wsl
// (Wsl.process.test.ts).
import { assert, describe, type it } from "@effect/vitest"
import { WslCommand, WslError, WslState } from "@isthmus/wsl"
import { Wsl } from "@isthmus/wsl/node"
import type { FakeWslConfig } from "@isthmus/wsl/testing"
import { Effect, type Layer, Option, Result } from "effect"
import * as fixtures from "./fixtures.ts"
import { tag } from "./fixtures.ts"

export interface Backend {
  readonly name: string
  readonly layer: (config: FakeWslConfig, options?: { readonly env?: Record<string, string> }) => Layer.Layer<Wsl.Wsl>
  /** The argv of every wsl.exe run since the layer was built (read after the fact). */
  readonly recorded: Effect.Effect<
    ReadonlyArray<{ readonly args: ReadonlyArray<string>; readonly wslenv: string | undefined }>,
    never,
    never
  >
  readonly it: typeof it.effect
  /**
   * Per-test timeout. Every wsl.exe call of the process backend is a Node start, a few hundred ms
   * quiet and seconds on a loaded 2-core machine; a test makes up to ~20 calls.
   */
  readonly timeout?: number | undefined
}

const use = <A, E>(f: (wsl: Wsl.WslShape) => Effect.Effect<A, E>): Effect.Effect<A, E, Wsl.Wsl> => Wsl.Wsl.use(f)

/**
 * A recorded wsl.exe command line with the service's pgid wrapper taken off the `--exec` argv
 * (`sh -c 'echo @@isthmus-pgid:<token> $$ >&2; exec "$@"' sh <argv…>`), so tests read the argv
 * that was asked for. `wrapped` says whether the wrapper was there.
 */
const asked = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const at = args.indexOf("--exec")
  const inner = at === -1 ? undefined : WslCommand.unwrapReportGroup(args.slice(at + 1))
  return inner === undefined ? args : [...args.slice(0, at + 1), ...inner.argv]
}
const wrapped = (args: ReadonlyArray<string>): boolean => asked(args).length !== args.length

const oneDistro = (over: Partial<FakeWslConfig> = {}): FakeWslConfig => ({
  distros: [{ name: "Ubuntu", state: "Stopped", default: true }],
  ...over
})

export const contract = (backend: Backend) =>
  describe(`Wsl contract: ${backend.name}`, () => {
    const test = (name: string, self: () => Effect.Effect<unknown, unknown, never>) =>
      backend.it(name, self, backend.timeout)
    const recorded = backend.recorded.pipe(
      Effect.map((calls) => calls.map((c) => ({ ...c, args: asked(c.args), wrapped: wrapped(c.args) })))
    )
    const main = backend.layer(fixtures.config, { env: { WSLENV: fixtures.userWslenv, API_TOKEN: "t0ps3cret" } })

    test("isAvailable, listDistros (all states), defaultDistro, status, version", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* use((w) => w.isAvailable))
        const distros = yield* use((w) => w.listDistros)
        assert.deepStrictEqual(distros.map((d) => [d.name, d.state, d.version, d.isDefault]), [
          ["Ubuntu-24.04", "Running", 2, true],
          ["Debian", "Stopped", 2, false],
          ["legacy-wsl1", "Stopped", 1, false],
          ["Arch", "Installing", 2, false]
        ])
        assert.deepStrictEqual(yield* use((w) => w.defaultDistro), Option.some("Ubuntu-24.04" as never))
        const status = yield* use((w) => w.status)
        assert.deepStrictEqual(status.defaultDistro, Option.some("Ubuntu-24.04" as never))
        const version = yield* use((w) => w.version)
        assert.isTrue(Option.isSome(version))
      }).pipe(Effect.provide(main)))

    // windows-reality.md §3: each host state, with the bytes and exit codes the fakes model.
    const stateOf = (config: FakeWslConfig, options?: Wsl.StateOptions) =>
      use((w) => w.state(options)).pipe(Effect.provide(backend.layer(config)))

    test("state: ready (the default distribution started), no distributions, the installer stub", () =>
      Effect.gen(function*() {
        const ready = yield* stateOf(oneDistro())
        assert.strictEqual(ready._tag, "Ready")
        if (ready._tag === "Ready") {
          assert.isTrue(ready.started)
          assert.deepStrictEqual(ready.defaultDistro, Option.some("Ubuntu" as never))
          assert.isTrue(Option.isSome(ready.version))
        }
        const empty = yield* stateOf({ distros: [] })
        assert.strictEqual(empty._tag, "NoDistributions")
        assert.include(WslState.advice(empty), "wsl.exe --install -d Ubuntu")
        const stub = yield* stateOf(oneDistro({ hostState: "stub" }))
        assert.strictEqual(stub._tag, "NotInstalled")
        if (stub._tag === "NotInstalled") assert.include(stub.reason, "installer stub")
        assert.include(WslState.advice(stub), "wsl.exe --install")
      }))

    test("state: an old inbox wsl.exe is installed (no --status, no --version)", () =>
      Effect.gen(function*() {
        const inbox = yield* stateOf(oneDistro({ hostState: "inbox-old", language: "de" }))
        assert.strictEqual(inbox._tag, "Ready")
        if (inbox._tag === "Ready") assert.isTrue(Option.isNone(inbox.version))
        const status = yield* use((w) => w.status).pipe(
          Effect.provide(backend.layer(oneDistro({ hostState: "inbox-old", language: "de" }))),
          Effect.flip
        )
        assert.strictEqual(tag(status), "WslUnsupportedError")
        assert.include(status.message, "does not support --status")
        if (status instanceof WslError.WslUnsupportedError) assert.include(status.output, "--distribution")
      }))

    test("state: virtualization off or the platform missing shows only when a WSL 2 distribution starts", () =>
      Effect.gen(function*() {
        for (const hostState of ["vmp-missing", "firmware-off"] as const) {
          const off = yield* stateOf(oneDistro({ hostState, language: "ja" }))
          assert.strictEqual(off._tag, "VirtualizationDisabled", hostState)
          if (off._tag === "VirtualizationDisabled") {
            assert.strictEqual(off.errorCode, "Wsl/Service/CreateInstance/CreateVm/HCS/HCS_E_HYPERV_NOT_INSTALLED")
          }
          assert.include(WslState.advice(off), "firmware")
          const notStarted = yield* stateOf(oneDistro({ hostState }), { start: false })
          assert.deepStrictEqual([notStarted._tag, notStarted._tag === "Ready" && notStarted.started], ["Ready", false])
        }
        const partial = yield* stateOf(oneDistro({ hostState: "vmp-partial", language: "fr" }))
        assert.deepStrictEqual(
          [partial._tag, partial._tag === "ComponentMissing" ? partial.component : ""],
          ["ComponentMissing", "VirtualMachinePlatform"]
        )
        const wsl1 = yield* stateOf({
          distros: [{ name: "Old", version: 1, default: true }],
          hostState: "store-no-oc"
        })
        assert.deepStrictEqual(
          [wsl1._tag, wsl1._tag === "ComponentMissing" ? wsl1.component : ""],
          ["ComponentMissing", "WindowsSubsystemForLinux"]
        )
        const store = yield* stateOf(oneDistro({ hostState: "store-no-oc" }))
        assert.strictEqual(store._tag, "Ready")
      }))

    // LxssUserSessionFactory.cpp refuses a LocalSystem token (a host running as a Windows service).
    test("state: a host running as LocalSystem is Unknown, keeps the code in any language, and says what to do", () =>
      Effect.gen(function*() {
        for (const language of ["en", "de", "ja", "fr"] as const) {
          const system = yield* stateOf(oneDistro({ hostState: "local-system", language }))
          assert.strictEqual(system._tag, "Unknown", language)
          if (system._tag === "Unknown") {
            assert.deepStrictEqual(system.errorCode, Option.some("Wsl/WSL_E_LOCAL_SYSTEM_NOT_SUPPORTED"), language)
            assert.strictEqual(system.command, "wsl.exe --status")
          }
          assert.include(WslState.advice(system), "signed-in user", language)
        }
      }))

    test("status by rules in every language: no default line without distributions, extra component lines", () =>
      Effect.gen(function*() {
        for (const language of ["en", "de", "ja", "fr"] as const) {
          const none = yield* use((w) => w.status).pipe(Effect.provide(backend.layer({ distros: [], language })))
          assert.deepStrictEqual([none.defaultDistro, none.defaultVersion], [Option.none(), Option.some(2)], language)
          const vmp = yield* use((w) => w.status).pipe(
            Effect.provide(backend.layer(oneDistro({ language, hostState: "vmp-missing" })))
          )
          assert.deepStrictEqual([vmp.defaultDistro, vmp.defaultVersion], [
            Option.some("Ubuntu" as never),
            Option.some(2)
          ], language)
        }
      }))

    test("a wsl.exe error is recognised by its code in every language, with the legacy English label too", () =>
      Effect.gen(function*() {
        for (
          const over of [{ language: "de" }, { language: "fr" }, { language: "ja", legacyErrorLabel: true }] as const
        ) {
          const error = yield* use((w) => w.exec("Nope", ["true"])).pipe(
            Effect.provide(backend.layer(oneDistro(over))),
            Effect.flip
          )
          assert.strictEqual(tag(error), "WslExeError")
          if (error instanceof WslError.WslExeError) {
            assert.strictEqual(error.errorCode, "Wsl/Service/WSL_E_DISTRO_NOT_FOUND", JSON.stringify(over))
          }
        }
      }))

    test("no distros: [] and None, not an error", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* use((w) => w.listDistros), [])
        assert.isTrue(Option.isNone(yield* use((w) => w.defaultDistro)))
      }).pipe(Effect.provide(backend.layer({ distros: [] }))))

    test("exec: argv via --exec, stdin in, stdout out, the command's own exit code", () =>
      Effect.gen(function*() {
        const echoed = yield* use((w) => w.exec("Ubuntu-24.04", ["cat"], { stdin: "hello\nworld\n" }))
        assert.deepStrictEqual([echoed.exitCode, echoed.stdout], [0, "hello\nworld\n"])
        const failed = yield* use((w) => w.exec("ubuntu-24.04", ["false"]))
        assert.strictEqual(failed.exitCode, 1)
        const spaced = yield* use((w) => w.exec("Debian", ["echo", "a b", "$HOME", "'q'"]))
        assert.strictEqual(spaced.stdout, "a b $HOME 'q'\n")
        const calls = yield* recorded
        const last = calls[calls.length - 1]!
        assert.deepStrictEqual(last.args, ["--distribution", "Debian", "--exec", "echo", "a b", "$HOME", "'q'"])
        // The command reports its process group first, so a stop can act inside the distro.
        assert.isTrue(last.wrapped)
      }).pipe(Effect.provide(main)))

    test("exec: env goes through WSLENV, appended to the user's value and never rewritten", () =>
      Effect.gen(function*() {
        const r = yield* use((w) =>
          w.exec("Ubuntu-24.04", ["printenv", "SECRET", "OPENAI_API_KEY", "WSL_DISTRO_NAME", "USER"], {
            env: { SECRET: "s3cr3t value", OPENAI_API_KEY: "sk-1" }
          })
        )
        assert.strictEqual(r.stdout, "s3cr3t value\nsk-1\nUbuntu-24.04\nada\n")
        const calls = yield* recorded
        const last = calls[calls.length - 1]!
        assert.strictEqual(last.wslenv, `${fixtures.userWslenv}SECRET/u`)
        assert.isFalse(last.args.some((a) => a.includes("s3cr3t") || a.includes("sk-1")))
        // A name the user's WSLENV lists as /w (never crosses to Linux) or /p is taken over for the call.
        const taken = yield* use((w) =>
          w.exec("Ubuntu-24.04", ["printenv", "GOPATH", "ODD"], { env: { GOPATH: "C:\\go", ODD: "o" } })
        )
        assert.strictEqual(taken.stdout, "C:\\go\no\n")
        assert.strictEqual((yield* recorded).at(-1)!.wslenv, ":OPENAI_API_KEY/u:GOPATH/u:ODD/u")
        const refused = yield* use((w) => w.exec("Ubuntu-24.04", ["true"], { env: { "BAD-NAME": "x" } })).pipe(
          Effect.flip
        )
        assert.strictEqual(tag(refused), "WslArgumentError")
      }).pipe(Effect.provide(main)))

    test("exec: cwd and user become --cd and --user; bad values are refused before running", () =>
      Effect.gen(function*() {
        const asRoot = yield* use((w) => w.exec("Ubuntu-24.04", ["printenv", "USER"], { cwd: "/tmp", user: "root" }))
        assert.strictEqual(asRoot.stdout, "root\n")
        const calls = yield* recorded
        assert.deepStrictEqual(calls[calls.length - 1]!.args, [
          "--distribution",
          "Ubuntu-24.04",
          "--user",
          "root",
          "--cd",
          "/tmp",
          "--exec",
          "printenv",
          "USER"
        ])
        const before = (yield* recorded).length
        const e1 = yield* use((w) => w.exec("Ubuntu-24.04", ["true"], { cwd: "C:relative" })).pipe(Effect.flip)
        const e2 = yield* use((w) => w.exec("Ubuntu-24.04", ["true"], { user: "root --exec rm" })).pipe(Effect.flip)
        assert.deepStrictEqual([tag(e1), tag(e2)], ["WslArgumentError", "WslArgumentError"])
        assert.strictEqual((yield* recorded).length, before)
      }).pipe(Effect.provide(main)))

    test("bad distro names never reach a command line", () =>
      Effect.gen(function*() {
        const before = (yield* recorded).length
        for (const bad of ["Ubuntu --exec rm -rf /", "", "a\nb", "x".repeat(300), "C:\\"]) {
          const calls = [
            use((w) => w.exec(bad, ["true"])),
            use((w) => w.runScript(bad, "true")),
            use((w) => w.wslpath(bad, "C:\\", "toLinux")),
            use((w) => w.distroIp(bad)),
            use((w) => w.networkingMode(bad)),
            use((w) => w.reachableHost(bad)),
            use((w) => w.userHome(bad)),
            use((w) => w.preWarm(bad)),
            use((w) => w.terminate(bad)),
            use((w) => w.preflight(bad, { node: "^22" }))
          ]
          for (const call of calls) {
            const error = yield* Effect.flip(call)
            assert.strictEqual(tag(error), "InvalidDistroNameError")
          }
        }
        assert.strictEqual((yield* recorded).length, before)
      }).pipe(Effect.provide(main)))

    test("a distribution named Legacy (an lxrun migration) is listed and runs commands", () =>
      Effect.gen(function*() {
        const listed = yield* use((w) => w.listDistros)
        assert.deepStrictEqual(listed.map((d) => [d.name, d.version]), [["Legacy", 1], ["Ubuntu", 2]])
        const r = yield* use((w) => w.exec("Legacy", ["echo", "hi"]))
        assert.strictEqual(r.stdout, "hi\n")
      }).pipe(Effect.provide(backend.layer({
        distros: [{ name: "Legacy", version: 1, default: true }, { name: "Ubuntu" }]
      }))))

    test("a wsl.exe-level failure (exit -1 / 255, message on stdout) is a WslExeError", () =>
      Effect.gen(function*() {
        const error = yield* use((w) => w.exec("NoSuchDistro", ["true"])).pipe(Effect.flip)
        assert.strictEqual(tag(error), "WslExeError")
        if (error instanceof WslError.WslExeError) {
          assert.strictEqual(error.errorCode, "Wsl/Service/WSL_E_DISTRO_NOT_FOUND")
          assert.include(error.message, "There is no distribution with the supplied name.")
          assert.strictEqual(error.exitCode, 255)
        }
        const t = yield* use((w) => w.terminate("NoSuchDistro")).pipe(Effect.flip)
        assert.strictEqual(tag(t), "WslExeError")
      }).pipe(Effect.provide(main)))

    test("exit 255 from the Linux command is its own exit code, not a wsl.exe failure", () =>
      Effect.gen(function*() {
        const r = yield* use((w) => w.exec("Ubuntu-24.04", ["sh", "-c", "exit 255"]))
        assert.strictEqual(r.exitCode, 255)
      }).pipe(Effect.provide(main)))

    test("runScript: the script goes on stdin to a login shell, never on the command line", () =>
      Effect.gen(function*() {
        const r = yield* use((w) => w.runScript("Ubuntu-24.04", "echo one\necho two\nexit 3"))
        // A login shell runs ~/.profile first, and what it prints is part of the output.
        assert.deepStrictEqual([r.exitCode, r.stdout], [3, "Welcome to Ubuntu 24.04 LTS\none\ntwo\n"])
        const calls = yield* recorded
        assert.deepStrictEqual(calls[calls.length - 1]!.args, [
          "--distribution",
          "Ubuntu-24.04",
          "--exec",
          "bash",
          "-l",
          "-s"
        ])
      }).pipe(Effect.provide(main)))

    test("wslpath runs the real wslpath (symlinks) and caches", () =>
      Effect.gen(function*() {
        assert.strictEqual(
          yield* use((w) => w.wslpath("Ubuntu-24.04", "C:\\Users\\ada", "toLinux")),
          "/mnt/c/Users/ada"
        )
        assert.strictEqual(
          yield* use((w) => w.wslpath("Ubuntu-24.04", "/mnt/c/proj/link", "toWindows")),
          "C:\\proj\\target"
        )
        assert.strictEqual(
          yield* use((w) => w.wslpath("Ubuntu-24.04", "/home/ada", "mixed")),
          "//wsl.localhost/Ubuntu-24.04/home/ada"
        )
        const before = (yield* recorded).length
        assert.strictEqual(
          yield* use((w) => w.wslpath("Ubuntu-24.04", "C:\\Users\\ada", "toLinux")),
          "/mnt/c/Users/ada"
        )
        assert.strictEqual((yield* recorded).length, before)
        const calls = yield* recorded
        assert.deepStrictEqual(calls[calls.length - 1]!.args.slice(-4), ["wslpath", "-m", "--", "/home/ada"])
        // relative paths resolve against the cwd (--cd), made absolute with -a
        const relative = { cwd: "/mnt/c/proj", absolute: true }
        assert.strictEqual(
          yield* use((w) => w.wslpath("Ubuntu-24.04", "src\\app.ts", "toLinux", relative)),
          "/mnt/c/proj/src/app.ts"
        )
        assert.strictEqual(
          yield* use((w) => w.wslpath("Ubuntu-24.04", "notes.txt", "toWindows", relative)),
          "C:\\proj\\notes.txt"
        )
        const withCwd = (yield* recorded).at(-1)!.args
        assert.deepStrictEqual(withCwd.slice(0, 4), ["--distribution", "Ubuntu-24.04", "--cd", "/mnt/c/proj"])
        // The cache key has the cwd: the same relative path from another directory is another answer.
        const count = (yield* recorded).length
        assert.strictEqual(
          yield* use((w) =>
            w.wslpath("Ubuntu-24.04", "notes.txt", "toWindows", { cwd: "/mnt/c/other", absolute: true })
          ),
          "C:\\other\\notes.txt"
        )
        assert.strictEqual((yield* recorded).length, count + 1)
        // wslpath.cpp: a path rooted at \ is on the cwd's drive.
        assert.strictEqual(
          yield* use((w) => w.wslpath("Ubuntu-24.04", "\\foo", "toLinux", { cwd: "/mnt/c/proj" })),
          "/mnt/c/foo"
        )
        const error = yield* use((w) => w.wslpath("Ubuntu-24.04", "\\\\server\\share", "toLinux")).pipe(Effect.flip)
        assert.strictEqual(tag(error), "WslCommandError")
      }).pipe(Effect.provide(main)))

    test("distroIp skips loopback, docker and bridge addresses", () =>
      Effect.gen(function*() {
        const ip = yield* use((w) => w.distroIp("Ubuntu-24.04"))
        assert.deepStrictEqual(ip, Option.some({ address: "172.20.1.5", interface: Option.some("eth0") }))
      }).pipe(Effect.provide(main)))

    test("networkingMode: wslinfo first, then .wslconfig, then the IP collision check", () =>
      Effect.gen(function*() {
        const nat = yield* use((w) => w.networkingMode("Ubuntu-24.04")).pipe(Effect.provide(main))
        assert.deepStrictEqual([nat.mode, nat.source], ["nat", "wslinfo"])
        const old = yield* use((w) => w.networkingMode("legacy-wsl1")).pipe(Effect.provide(main))
        assert.deepStrictEqual([old.mode, old.source], ["wsl1", "wslinfo"])
        const conf = yield* use((w) => w.networkingMode("Ubuntu")).pipe(
          Effect.provide(backend.layer(fixtures.wslconfigOnly))
        )
        assert.deepStrictEqual([conf.mode, conf.source], ["mirrored", "wslconfig"])
        const collisionLayer = backend.layer(fixtures.collision)
        const hit = yield* use((w) => w.networkingMode("Ubuntu")).pipe(Effect.provide(collisionLayer))
        assert.deepStrictEqual([hit.mode, hit.source], ["mirrored", "ipCollision"])
        const miss = yield* use((w) => w.networkingMode("Nat")).pipe(Effect.provide(collisionLayer))
        assert.deepStrictEqual([miss.mode, miss.source], ["nat", "ipCollision"])
      }))

    test("reachableHost: loopback when mirrored or WSL 1, else the distro address, with the reason", () =>
      Effect.gen(function*() {
        const mirrored = yield* use((w) => w.reachableHost("Debian"))
        assert.deepStrictEqual([mirrored.host, mirrored.mode], ["127.0.0.1", "mirrored"])
        assert.include(mirrored.reason, "mirrored")
        const nat = yield* use((w) => w.reachableHost("Ubuntu-24.04"))
        assert.deepStrictEqual([nat.host, nat.mode, nat.modeSource], ["172.20.1.5", "nat", "wslinfo"])
        const wsl1 = yield* use((w) => w.reachableHost("legacy-wsl1"))
        assert.strictEqual(wsl1.host, "127.0.0.1")
      }).pipe(Effect.provide(main)))

    test("reachableHost(distro, bind): the relay, localhostForwarding=false from .wslconfig, mode none", () =>
      Effect.gen(function*() {
        const relay = yield* use((w) => w.reachableHost("Ubuntu-24.04", "127.0.0.1")).pipe(Effect.provide(main))
        assert.deepStrictEqual([relay.host, relay.route, relay.delayed], ["127.0.0.1", "localhostRelay", true])
        const dual = yield* use((w) => w.reachableHost("Ubuntu-24.04", "::")).pipe(Effect.provide(main))
        assert.deepStrictEqual([dual.host, dual.alternatives.map((a) => a.host)], ["::1", ["172.20.1.5"]])
        const noForwarding = backend.layer(fixtures.noForwarding)
        const loopback = yield* use((w) => w.reachableHost("Ubuntu", "127.0.0.1")).pipe(
          Effect.provide(noForwarding),
          Effect.flip
        )
        assert.strictEqual(tag(loopback), "WslUnreachableError")
        assert.include(loopback.message, "localhostForwarding=false")
        const wildcard = yield* use((w) => w.reachableHost("Ubuntu", "0.0.0.0")).pipe(Effect.provide(noForwarding))
        assert.deepStrictEqual([wildcard.host, wildcard.route], ["172.22.0.9", "distroAddress"])
        const none = yield* use((w) => w.reachableHost("Isolated", "0.0.0.0")).pipe(
          Effect.provide(noForwarding),
          Effect.flip
        )
        assert.strictEqual(tag(none), "WslUnreachableError")
        assert.include(none.message, "none")
      }))

    // windows-reality.md §6.5 and §6.7: mirrored asked for, NAT in use; the fallback warning is
    // wsl.exe's, on the call that boots the VM only, in its own encoding, never the command's stderr.
    test("a networking fallback: wslinfo tells the mode in use; the warning comes apart, on the booting call only", () =>
      Effect.gen(function*() {
        const layer = backend.layer({
          distros: [{ name: "Ubuntu", state: "Stopped", default: true, networkingMode: "nat" }],
          wslConfig: "[wsl2]\nnetworkingMode=mirrored\n",
          language: "de"
        })
        yield* Effect.gen(function*() {
          const first = yield* use((w) => w.exec("Ubuntu", ["sh", "-c", "echo out; echo err >&2"]))
          assert.deepStrictEqual([first.stdout, first.stderr], ["out\n", "err\n"])
          assert.strictEqual(first.warnings.length, 2)
          assert.match(first.warnings[0]!, /^wsl: Der gespiegelte Netzwerkmodus wird nicht unterstützt/)
          const second = yield* use((w) => w.exec("Ubuntu", ["true"]))
          assert.deepStrictEqual(second.warnings, [])
          const mode = yield* use((w) => w.networkingMode("Ubuntu"))
          assert.deepStrictEqual([mode.mode, mode.source], ["nat", "wslinfo"])
        }).pipe(Effect.provide(layer))
      }))

    test("networkingMode without wslinfo: WSL 1 from the list, nat inferred on inbox wsl.exe, .wslconfig only as a hint", () =>
      Effect.gen(function*() {
        const inbox = yield* use((w) => w.networkingMode("Ubuntu")).pipe(
          Effect.provide(backend.layer({ ...fixtures.wslconfigOnly, inbox: true }))
        )
        assert.deepStrictEqual([inbox.mode, inbox.source], ["nat", "inbox"])
        const hint = yield* use((w) => w.networkingMode("Ubuntu")).pipe(
          Effect.provide(backend.layer(fixtures.wslconfigOnly))
        )
        assert.include(hint.detail, "wslinfo was not available to confirm it")
      }))

    test("userHome, preWarm, terminate, shutdown; distribution states follow them", () =>
      Effect.gen(function*() {
        const state = (name: string) =>
          use((w) => w.listDistros).pipe(Effect.map((ds) => ds.find((d) => d.name === name)?.state))
        assert.strictEqual(yield* use((w) => w.userHome("Ubuntu-24.04")), "/home/ada")
        assert.strictEqual(yield* state("Debian"), "Stopped")
        assert.strictEqual(yield* use((w) => w.userHome("Debian")), "/home/bob")
        yield* use((w) => w.preWarm("Debian"))
        assert.strictEqual(yield* state("Debian"), "Running")
        yield* use((w) => w.terminate("Debian"))
        assert.strictEqual(yield* state("Debian"), "Stopped")
        yield* use((w) => w.shutdown)
        const args = (yield* recorded).map((c) => c.args).filter((a) => a[0] !== "--list")
        assert.deepStrictEqual(args.slice(-3), [
          ["--distribution", "Debian", "--exec", "true"],
          ["--terminate", "Debian"],
          ["--shutdown"]
        ])
        const after = yield* use((w) => w.listDistros)
        assert.deepStrictEqual(after.map((d) => d.state), ["Stopped", "Stopped", "Stopped", "Installing"])
      }).pipe(Effect.provide(main)))

    test("shellEnvironment: PATH as the terminal has it (interactive, login), startup chatter ignored", () =>
      Effect.gen(function*() {
        const env = yield* use((w) => w.shellEnvironment("Ubuntu-24.04"))
        assert.strictEqual(env.shell, "/bin/bash")
        assert.strictEqual(env.path.split(":")[0], fixtures.nvmBin)
        assert.include(env.output, "Now using node v22.16.0")
        assert.strictEqual(env.automountRoot, "/mnt/")
        // Cached per distro: a second ask runs nothing.
        const before = (yield* recorded).length
        yield* use((w) => w.shellEnvironment("ubuntu-24.04"))
        assert.strictEqual((yield* recorded).length, before)
        const probe = (yield* recorded).find((c) => c.args.includes("-ilc"))!
        assert.deepStrictEqual(probe.args.slice(0, 5), [
          "--distribution",
          "Ubuntu-24.04",
          "--exec",
          "/bin/bash",
          "-ilc"
        ])
      }).pipe(Effect.provide(main)))

    // Dotfiles that `exec tmux` when interactive replace the probe's shell: the service sets
    // VSCODE_RESOLVING_ENVIRONMENT (through WSLENV) so guarded ones skip it, and says what
    // happened when one does not.
    test("shellEnvironment: a ~/.bashrc that execs tmux is skipped when it checks VSCODE_RESOLVING_ENVIRONMENT, named when not", () =>
      Effect.gen(function*() {
        const guarded = yield* use((w) => w.shellEnvironment("Guarded"))
        assert.strictEqual(guarded.path.split(":")[0], fixtures.nvmBin)
        const trapped = yield* use((w) => w.shellEnvironment("Trapped")).pipe(Effect.flip)
        assert.strictEqual(tag(trapped), "WslParseError")
        assert.include(trapped.message, "exec another program (tmux, zsh)")
        assert.include(trapped.message, "VSCODE_RESOLVING_ENVIRONMENT")
        if (trapped instanceof WslError.WslParseError) assert.include(trapped.output, "open terminal failed")
      }).pipe(Effect.provide(backend.layer(fixtures.tmuxDotfiles))))

    test("resolveCommands: found on the interactive PATH (nvm), missing, or only a Windows shim", () =>
      Effect.gen(function*() {
        const r = yield* use((w) => w.resolveCommands("Ubuntu-24.04", ["node", "isthmus-missing-tool"]))
        assert.deepStrictEqual(r, [
          { _tag: "Found", name: "node", path: `${fixtures.nvmBin}/node` },
          { _tag: "Missing", name: "isthmus-missing-tool" }
        ])
        const shim = yield* use((w) => w.resolveCommands("Shims", ["npm"])).pipe(
          Effect.provide(backend.layer(fixtures.shims))
        )
        assert.deepStrictEqual(shim, [
          { _tag: "WindowsShim", name: "npm", path: `${fixtures.sandbox}/mnt/c/Program Files/nodejs/npm` }
        ])
        const bad = yield* use((w) => w.resolveCommands("Ubuntu-24.04", ["git; rm -rf /"])).pipe(Effect.flip)
        assert.strictEqual(tag(bad), "WslArgumentError")
      }).pipe(Effect.provide(main)))

    test("preflight: node from the interactive PATH run by its path, missing tools, Windows shims, actionable messages", () =>
      Effect.gen(function*() {
        const ok = yield* use((w) => w.preflight("Ubuntu-24.04", { node: "^22.16 || >=24.10", tools: ["sed"] }))
        assert.isTrue(ok.ok, ok.message)
        assert.deepStrictEqual(ok.nodeVersion, Option.some("v22.16.0"))
        assert.deepStrictEqual(ok.nodePath, Option.some(`${fixtures.nvmBin}/node`))
        assert.include(ok.message, "is ready")
        const old = yield* use((w) =>
          w.preflight("Ubuntu-24.04", { node: ">=24.10", tools: ["sed", "isthmus-missing-tool"] })
        )
        assert.isFalse(old.ok)
        assert.isFalse(old.nodeSatisfies)
        assert.deepStrictEqual(old.missingTools, ["isthmus-missing-tool"])
        assert.include(old.message, "does not satisfy >=24.10")
        assert.include(old.message, "isthmus-missing-tool")
        const none = yield* use((w) => w.preflight("Debian", { node: "^22" }))
        assert.isFalse(none.ok)
        assert.include(none.message, "Node.js was not found")
        const shim = yield* use((w) => w.preflight("Shims", { tools: ["npm"] })).pipe(
          Effect.provide(backend.layer(fixtures.shims))
        )
        assert.isFalse(shim.ok)
        assert.deepStrictEqual(shim.windowsShims.map((s) => s.name), ["npm"])
        assert.include(shim.message, "Windows")
        const bad = yield* use((w) => w.preflight("Debian", { node: "not a range" })).pipe(Effect.flip)
        assert.strictEqual(tag(bad), "WslArgumentError")
        const badTool = yield* use((w) => w.preflight("Debian", { tools: ["git; rm -rf /"] })).pipe(Effect.flip)
        assert.strictEqual(tag(badTool), "WslArgumentError")
      }).pipe(Effect.provide(main)))
  })

type LiveIt = typeof it

const liveTest =
  (layer: Layer.Layer<Wsl.Wsl>, it: LiveIt) => (name: string, self: () => Effect.Effect<unknown, unknown, Wsl.Wsl>) =>
    it.live(name, () => self().pipe(Effect.provide(layer)), 120_000)

/**
 * The part of the contract any real Windows host with WSL must show, whatever its distros,
 * language and settings: run against `Wsl.layer()` (the real `wsl.exe`) by `Wsl.live.test.ts` on
 * Windows, with `ISTHMUS_WSL_DISTRO` naming a WSL 2 distribution that has `sh`, `sleep` and `kill`.
 * The model-bound tests of {@link contract} (named distros, host states, languages) need a fake.
 */
export const liveContract = (
  distro: string,
  layer: Layer.Layer<Wsl.Wsl>,
  it: LiveIt,
  /** Why it cannot run here; `undefined` runs it. */
  skip: string | undefined
) =>
  describe.skipIf(skip !== undefined)(`Wsl contract on this machine's wsl.exe (${skip ?? distro})`, () => {
    const test = liveTest(layer, it)

    test("state is Ready and lists the distro; status reads its default version", () =>
      Effect.gen(function*() {
        const state = yield* use((w) => w.state())
        assert.strictEqual(state._tag, "Ready", WslState.advice(state))
        assert.isTrue((yield* use((w) => w.listDistros)).some((d) => d.name.toLowerCase() === distro.toLowerCase()))
        assert.isTrue(Option.isSome((yield* use((w) => w.status)).defaultVersion))
      }))

    test("exec: argv word for word, stdin, the command's own exit codes (7, 255), env through WSLENV", () =>
      Effect.gen(function*() {
        const echoed = yield* use((w) => w.exec(distro, ["printf", "%s|", "a b", "$HOME", "'q'"]))
        assert.strictEqual(echoed.stdout, "a b|$HOME|'q'|")
        assert.strictEqual((yield* use((w) => w.exec(distro, ["cat"], { stdin: "in\n" }))).stdout, "in\n")
        assert.strictEqual((yield* use((w) => w.exec(distro, ["sh", "-c", "exit 7"]))).exitCode, 7)
        assert.strictEqual((yield* use((w) => w.exec(distro, ["sh", "-c", "exit 255"]))).exitCode, 255)
        const env = yield* use((w) => w.exec(distro, ["printenv", "ISTHMUS_LIVE"], { env: { ISTHMUS_LIVE: "v 1" } }))
        assert.strictEqual(env.stdout, "v 1\n")
      }))

    test("a wsl.exe error is read by its code, in any display language", () =>
      Effect.gen(function*() {
        const error = yield* use((w) => w.exec("isthmus-no-such-distro", ["true"])).pipe(Effect.flip)
        assert.strictEqual(tag(error), "WslExeError")
        if (error instanceof WslError.WslExeError) {
          assert.strictEqual(error.errorCode, "Wsl/Service/WSL_E_DISTRO_NOT_FOUND")
        }
      }))

    test("a timeout stops the Linux process inside the distro, even one that ignores SIGHUP (microsoft/WSL#2496)", () =>
      Effect.gen(function*() {
        const file = `/tmp/isthmus-live-${Date.now()}`
        const error = yield* use((w) =>
          w.exec(distro, ["sh", "-c", `trap '' HUP; echo $$ > ${file}; exec sleep 120`], { timeout: "5 seconds" })
        ).pipe(Effect.flip)
        assert.strictEqual(tag(error), "WslTimeoutError")
        assert.include(error.message, "inside the distro")
        const pid = (yield* use((w) => w.exec(distro, ["cat", file]))).stdout.trim()
        assert.notStrictEqual((yield* use((w) => w.exec(distro, ["kill", "-0", pid]))).exitCode, 0, `${pid} still runs`)
        yield* use((w) => w.exec(distro, ["rm", "-f", file]))
      }))

    test("wslpath, networking, the interactive PATH", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* use((w) => w.wslpath(distro, "/", "toWindows")), `\\\\wsl.localhost\\${distro}\\`)
        const mode = yield* use((w) => w.networkingMode(distro))
        assert.include(["nat", "mirrored", "bridged", "consomme", "none", "wsl1"], mode.mode)
        const reach = yield* use((w) => w.reachableHost(distro, "0.0.0.0")).pipe(Effect.result)
        if (mode.mode !== "none") assert.isTrue(Result.isSuccess(reach))
        const env = yield* use((w) => w.shellEnvironment(distro))
        assert.isAbove(env.path.length, 0)
        const [sh] = yield* use((w) => w.resolveCommands(distro, ["sh"]))
        assert.strictEqual(sh?._tag, "Found")
      }))
  })
