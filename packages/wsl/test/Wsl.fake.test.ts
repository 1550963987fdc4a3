import { assert, describe, it } from "@effect/vitest"
import { DistroList } from "@isthmus/wsl"
import { Wsl, WslHost } from "@isthmus/wsl/node"
import { FakeWslHost } from "@isthmus/wsl/testing"
import { Duration, Effect, Fiber, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import * as fixtures from "./fixtures.ts"
import { tag } from "./fixtures.ts"
import { contract } from "./Wsl.contract.ts"

// Each layer build gets a fresh fake; `recorded` reads the calls of the host in scope.
let current: Effect.Effect<FakeWslHost.FakeWslHostShape> = Effect.die("no fake host built yet")

contract({
  name: "in-memory FakeWslHost",
  layer: (config, options) =>
    FakeWslHost.layer(config, { env: options?.env ?? {} }).pipe(
      Layer.tap((ctx) =>
        Effect.sync(() => {
          current = Effect.succeed(ctx.mapUnsafe.get(FakeWslHost.FakeWslHost.key) as FakeWslHost.FakeWslHostShape)
        })
      )
    ),
  recorded: Effect.flatMap(Effect.suspend(() => current), (c) => c.calls).pipe(
    Effect.map((calls) => calls.map((c) => ({ args: c.args, wslenv: c.wslenv })))
  ),
  it: it.effect
})

describe("FakeWslHost specifics", () => {
  // windows-reality.md §2.1: killing wsl.exe only hangs up on the command; one that ignores
  // SIGHUP (Puma in microsoft/WSL#2496) runs on until the service stops its group in the distro.
  it.effect("a timeout stops the Linux process group inside the distro: TERM, then KILL after the grace (TestClock)", () =>
    Effect.gen(function*() {
      const wsl = yield* Wsl.Wsl
      const fake = yield* FakeWslHost.FakeWslHost
      const fiber = yield* wsl.exec("Ubuntu-24.04", ["sh", "-c", "trap '' HUP TERM; exec sleep 100"], {
        timeout: "2 seconds"
      }).pipe(
        Effect.flip,
        Effect.forkChild({ startImmediately: true })
      )
      yield* TestClock.adjust("2 seconds")
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(tag(error), "WslTimeoutError")
      assert.include(error.message, "timed out after 2000 ms")
      assert.include(error.message, "killed inside the distro (SIGKILL after 2000 ms)")
      const [sleeper] = yield* fake.processes
      assert.deepStrictEqual([sleeper!.alive, sleeper!.exitCode, sleeper!.signals], [false, 9, [
        "TERM",
        "CONT",
        "KILL"
      ]])
      // The stop is one more wsl.exe call in the same distro, made before the backstop kill of the
      // first wsl.exe (which then has nothing left to hang up on).
      const calls = (yield* fake.calls).map((c) => c.args)
      assert.strictEqual(calls.length, 2)
      assert.deepStrictEqual(calls[1]!.slice(0, 5), ["--distribution", "Ubuntu-24.04", "--exec", "sh", "-c"])
      assert.include(calls[1]![5]!, `kill -s TERM -- -${sleeper!.pgid}`)
    }).pipe(Effect.provide(FakeWslHost.layer(fixtures.config))))

  // windows-reality.md §5: rc files can be slow (nvm takes seconds); the PATH probe gives up
  // after timeouts.environment (10 s, as VS Code) and a failure is not cached.
  it.effect("a ~/.bashrc slower than the environment timeout: WslTimeoutError, not cached, stopped inside the distro (TestClock)", () =>
    Effect.gen(function*() {
      const wsl = yield* Wsl.Wsl
      const fake = yield* FakeWslHost.FakeWslHost
      const fiber = yield* wsl.shellEnvironment("Ubuntu-24.04").pipe(
        Effect.flip,
        Effect.forkChild({ startImmediately: true })
      )
      yield* TestClock.adjust("9 seconds")
      assert.isUndefined(fiber.pollUnsafe(), "still waiting before the 10 s timeout")
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(tag(error), "WslTimeoutError")
      assert.include(error.message, "Wsl.shellEnvironment")
      assert.isTrue((yield* fake.processes).every((p) => !p.alive), "the probe's shell was stopped")
      // The user makes ~/.bashrc fast: the next ask runs the probe again (failures are not cached).
      yield* fake.update((c) => ({
        ...c,
        distros: c.distros.map((d) => ({ ...d, bashrc: { ...d.bashrc, delayMillis: 0 } }))
      }))
      const env = yield* wsl.shellEnvironment("Ubuntu-24.04")
      assert.strictEqual(env.path.split(":")[0], fixtures.nvmBin)
    }).pipe(Effect.provide(FakeWslHost.layer({
      ...fixtures.config,
      distros: fixtures.config.distros.map((d) =>
        d.name === "Ubuntu-24.04" ? { ...d, bashrc: { ...d.bashrc, delayMillis: 60_000 } } : d
      )
    }))))

  it.effect("killing wsl.exe alone hangs up on the command: a plain one dies of SIGHUP, one that ignores it runs on", () =>
    Effect.gen(function*() {
      const host = yield* WslHost.WslHost
      const fake = yield* FakeWslHost.FakeWslHost
      const start = (argv: ReadonlyArray<string>) =>
        host.run({
          operation: "test",
          args: ["--distribution", "Ubuntu-24.04", "--exec", ...argv],
          timeout: Duration.seconds(1)
        }).pipe(
          Effect.flip
        )
      assert.strictEqual(tag(yield* start(["sleep", "100"])), "WslTimeoutError")
      assert.strictEqual(tag(yield* start(["sh", "-c", "trap '' HUP; exec sleep 100"])), "WslTimeoutError")
      const [plain, stubborn] = yield* fake.processes
      assert.deepStrictEqual([plain!.alive, plain!.exitCode, plain!.signals], [false, 1, ["HUP"]])
      assert.deepStrictEqual([stubborn!.alive, stubborn!.signals], [true, ["HUP"]])
      assert.strictEqual((yield* fake.killed).length, 2)
    }).pipe(
      Effect.provide(FakeWslHost.layerHost(fixtures.config)),
      (self) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(self, { startImmediately: true })
          yield* TestClock.adjust("1 second")
          yield* TestClock.adjust("1 second")
          return yield* Fiber.join(fiber)
        })
    ))

  it.effect("UTF-8 output (WSL_UTF8=1) parses the same", () =>
    Effect.gen(function*() {
      const wsl = yield* Wsl.Wsl
      assert.strictEqual((yield* wsl.listDistros).length, 4)
    }).pipe(Effect.provide(FakeWslHost.layer(fixtures.config, { utf8: true }))))

  it.effect("no WSL on this machine", () =>
    Effect.gen(function*() {
      const wsl = yield* Wsl.Wsl
      assert.isFalse(yield* wsl.isAvailable)
      const error = yield* Effect.flip(wsl.listDistros)
      assert.strictEqual(tag(error), "WslUnavailableError")
    }).pipe(Effect.provide(FakeWslHost.layer(fixtures.config, { available: false }))))

  it.effect("custom programs see the translated environment", () =>
    Effect.gen(function*() {
      const wsl = yield* Wsl.Wsl
      const r = yield* wsl.exec("Ubuntu-24.04", ["show-path"], { env: { WORK: "C:\\work" } })
      assert.strictEqual(r.stdout, "C:\\work|Ubuntu-24.04")
      const hostPaths = yield* wsl.exec("Ubuntu-24.04", ["printenv", "GOPATH"])
      assert.strictEqual(hostPaths.stdout, "/mnt/c/go\n")
    }).pipe(Effect.provide(FakeWslHost.layer(fixtures.config, {
      env: { WSLENV: "GOPATH/p", GOPATH: "C:\\go" },
      programs: {
        "show-path": (i) => Effect.succeed({ exitCode: 0, stdout: `${i.env["WORK"]}|${i.env["WSL_DISTRO_NAME"]}` })
      }
    }))))

  it.effect("version: a wsl.exe failure with an error code is a WslExeError, not None", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Wsl.Wsl.use((wsl) => wsl.version))
      assert.strictEqual(tag(error), "WslExeError")
      assert.include(error.message, "Wsl/Service/E_UNEXPECTED")
    }).pipe(Effect.provide(
      Wsl.layerNoDeps().pipe(Layer.provide(Layer.succeed(
        WslHost.WslHost,
        WslHost.WslHost.of({
          executable: "wsl.exe",
          env: {},
          isAvailable: Effect.succeed(true),
          run: () =>
            Effect.succeed({
              exitCode: 4294967295,
              stdout: DistroList.encode("Catastrophic failure\nError code: Wsl/Service/E_UNEXPECTED\n"),
              stderr: new Uint8Array()
            }),
          hostAddresses: Effect.succeed([]),
          wslConfig: Effect.succeed(Option.none())
        })
      )))
    )))
})
