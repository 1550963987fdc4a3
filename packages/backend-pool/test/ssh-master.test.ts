/**
 * Master connections against a real OpenSSH server (the `SshTestServer` lab: its own network
 * namespace when root allows it, else a loopback port; the describe line says which).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { SshConnection, SshMaster } from "@isthmus/backend-pool"
import { SshTestServer } from "@isthmus/backend-pool/testing"
import { Effect, Exit, Scope } from "effect"
import { ChildProcessSpawner } from "effect/process"
import * as NodeFs from "node:fs"

// Where OpenSSH is not installed these tests skip, with the reason in their describe line.
const missing = SshTestServer.unavailable()
const isolation = missing !== undefined
  ? `skipped: ${missing}`
  : SshTestServer.canUseNamespace()
  ? "own network namespace"
  : "loopback port"

const alive = (pid: number) => {
  try {
    const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
    return state !== "Z" && state !== "X"
  } catch {
    return false
  }
}

const echo = (connection: SshConnection.SshConnection, master: SshMaster.Master | undefined, text: string) =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    return yield* SshMaster.run(
      spawner,
      connection,
      SshConnection.sessionArgs(connection, SshMaster.modeOf(master), [], `echo ${text}`),
      { timeoutMs: 30_000 }
    )
  })

describe.skipIf(missing !== undefined)(`SshMaster against a real sshd (${isolation})`, () => {
  it.live("one master per host, shared by sessions up to the limit, then a second one", () =>
    Effect.gen(function*() {
      const lab = yield* SshTestServer.make()
      const masters = yield* SshMaster.makeMasters({ sessionsPerMaster: 2 })
      assert.strictEqual(NodeFs.statSync(masters.dir).mode & 0o777, 0o700)
      const a = yield* masters.session(lab.connection)
      const b = yield* masters.session(lab.connection)
      const c = yield* masters.session(lab.connection)
      assert.isDefined(a)
      assert.strictEqual(a!.pid, b!.pid)
      assert.notStrictEqual(a!.pid, c!.pid)
      assert.isAtMost(a!.controlPath.length, SshConnection.maxControlPathLength(process.platform))
      const over = yield* echo(lab.connection, a, "over-the-master")
      assert.deepStrictEqual([over.code, over.stdout], [0, "over-the-master\n"])
      assert.deepStrictEqual((yield* masters.list).map((m) => m.sessions).toSorted(), [1, 2])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("closing the pool's scope ends every master and removes the control directory", () =>
    Effect.gen(function*() {
      const lab = yield* SshTestServer.make()
      const scope = yield* Scope.make()
      const masters = yield* SshMaster.makeMasters().pipe(Scope.provide(scope))
      const master = (yield* masters.any(lab.connection))!
      assert.isTrue(alive(master.pid))
      assert.isTrue(NodeFs.existsSync(master.controlPath))
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(master.isAlive())
      assert.isFalse(alive(master.pid))
      assert.isFalse(NodeFs.existsSync(masters.dir))
      // Nothing of ours is left on the server either (the master's session ended with it).
      assert.deepStrictEqual(yield* lab.sessionProcesses, [])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("a master that died is replaced by a new one on the next use", () =>
    Effect.gen(function*() {
      const lab = yield* SshTestServer.make()
      const masters = yield* SshMaster.makeMasters()
      const first = (yield* masters.any(lab.connection))!
      process.kill(first.pid, "SIGKILL")
      yield* first.exited
      const second = (yield* masters.any(lab.connection))!
      assert.notStrictEqual(second.pid, first.pid)
      const r = yield* echo(lab.connection, second, "again")
      assert.strictEqual(r.stdout, "again\n")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("multiplex never: no master, every command is a connection of its own", () =>
    Effect.gen(function*() {
      const lab = yield* SshTestServer.make()
      const masters = yield* SshMaster.makeMasters()
      const connection = { ...lab.connection, multiplex: "never" as const }
      assert.isFalse(masters.multiplexed(connection))
      assert.isUndefined(yield* masters.session(connection))
      const r = yield* echo(connection, undefined, "direct")
      assert.strictEqual(r.stdout, "direct\n")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("a changed host key is a fatal HostKeyChanged error with the fix", () =>
    Effect.gen(function*() {
      const lab = yield* SshTestServer.make()
      yield* lab.rotateHostKey
      const masters = yield* SshMaster.makeMasters()
      const error = yield* Effect.flip(masters.any(lab.connection))
      assert.strictEqual(error._tag, "SshError")
      assert.strictEqual(error.reason, "HostKeyChanged")
      assert.strictEqual(error.failureClass, "fatal")
      assert.include(error.message, "ssh-keygen -R")
      assert.include(error.message, lab.knownHostsFile)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("no server: a transient ConnectionRefused error", () =>
    Effect.gen(function*() {
      const lab = yield* SshTestServer.make()
      yield* lab.stop
      const masters = yield* SshMaster.makeMasters()
      const error = yield* Effect.flip(masters.any(lab.connection))
      assert.strictEqual(error.reason, "ConnectionRefused")
      assert.strictEqual(error.failureClass, "transient")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("the loopback fallback (no namespace) serves the same way", () =>
    Effect.gen(function*() {
      const lab = yield* SshTestServer.make({ isolation: "loopback" })
      assert.strictEqual(lab.isolation, "loopback")
      assert.strictEqual(lab.host, "127.0.0.1")
      const masters = yield* SshMaster.makeMasters()
      const r = yield* echo(lab.connection, yield* masters.any(lab.connection), "$ISTHMUS_SSH_LAB")
      assert.strictEqual(r.stdout.trim(), lab.id)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("an ssh client that does not exist is a fatal ClientMissing error", () =>
    Effect.gen(function*() {
      const lab = yield* SshTestServer.make()
      const masters = yield* SshMaster.makeMasters()
      const error = yield* Effect.flip(masters.any({ ...lab.connection, executable: "/nonexistent/ssh" }))
      assert.strictEqual(error.reason, "ClientMissing")
      assert.strictEqual(error.failureClass, "fatal")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)
})
