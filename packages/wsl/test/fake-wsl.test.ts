import { assert, describe, it } from "@effect/vitest"
import { type FakeWslConfig, fakeWslEnv, fakeWslExecutable } from "@isthmus/wsl/testing"
import * as Wsl from "@isthmus/wsl/Wsl"
import { Effect, Option } from "effect"

const config: FakeWslConfig = {
  distros: [
    { name: "Ubuntu-24.04", state: "Running", version: 2, default: true },
    { name: "Debian", state: "Stopped", version: 2 }
  ]
}

const layer = (c: FakeWslConfig, extraEnv: Record<string, string> = {}) =>
  Wsl.layer({ host: { executable: fakeWslExecutable, env: { ...process.env, ...fakeWslEnv(c), ...extraEnv } } })

describe("Wsl through fake-wsl", () => {
  it.live("lists distros and runs --exec with stdin and env", () =>
    Effect.gen(function*() {
      const wsl = yield* Wsl.Wsl
      const distros = yield* wsl.listDistros
      assert.deepStrictEqual(distros.map((d) => d.name), ["Ubuntu-24.04", "Debian"])
      assert.deepStrictEqual(yield* wsl.defaultDistro, Option.some("Ubuntu-24.04" as never))
      const r = yield* wsl.exec("Debian", ["sh", "-c", "printf '%s|%s|' \"$WSL_DISTRO_NAME\" \"$SECRET\"; cat"], {
        env: { SECRET: "s3cret" },
        stdin: "from stdin"
      })
      assert.strictEqual(r.exitCode, 0)
      assert.strictEqual(r.stdout, "Debian|s3cret|from stdin")
    }).pipe(Effect.provide(layer(config))))
})
