// The scratch consumer's program (see scripts/pack-check.ts): it imports every published entry
// point from the packed tarballs, uses real values from each, and prints "consumer ok".
import { BackendPool, BackendSpec } from "@isthmus/backend-pool"
import { formatReady } from "@isthmus/backend-pool/child"
import { FakeLauncher } from "@isthmus/backend-pool/testing"
import { BootstrapEnvelope, Dialect, Framing } from "@isthmus/rpc-protocol"
import { readBootstrap } from "@isthmus/rpc-protocol/node"
import { Wslenv, WslPath } from "@isthmus/wsl"
import { Wsl } from "@isthmus/wsl/node"
import { fakeWslEnv, fakeWslExecutable } from "@isthmus/wsl/testing"
import { Effect, Result, Schema } from "effect"
import { execFileSync } from "node:child_process"

const linux = WslPath.toLinux("C:\\Users\\me\\project", { distro: "Ubuntu" })
if (!Result.isSuccess(linux) || linux.success !== "/mnt/c/Users/me/project") throw new Error("WslPath.toLinux")

const Envelope = BootstrapEnvelope.make(Schema.Struct({ port: Schema.Number, token: Schema.String }))
const line = Envelope.encodeSync({ port: 4000, token: "t" })
if (line !== "{\"port\":4000,\"token\":\"t\"}\n") throw new Error("BootstrapEnvelope.encodeSync")

const spec = Effect.runSync(BackendSpec.decode({ id: "native", launcher: { _tag: "Local", command: "node" } }))
const checks: ReadonlyArray<unknown> = [
  BackendPool,
  FakeLauncher.layer,
  Dialect.daemon,
  Framing.ndjson(),
  readBootstrap,
  Wsl.Wsl,
  Wslenv.parse,
  fakeWslExecutable,
  formatReady({ url: "http://127.0.0.1:1" })
]
if (spec.id !== "native" || checks.some((value) => value === undefined)) throw new Error("missing export")
// The packed fake-wsl runs from the installed package like wsl.exe: UTF-16LE distro names.
const listed = execFileSync(fakeWslExecutable, ["--list", "--quiet"], {
  env: { ...process.env, ...fakeWslEnv({ distros: [{ name: "Ubuntu-24.04", default: true }] }) }
}).toString("utf16le")
if (!listed.includes("Ubuntu-24.04")) throw new Error(`fake-wsl from the tarball printed ${JSON.stringify(listed)}`)
console.log("consumer ok")
