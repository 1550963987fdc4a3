/**
 * Talking to a supervised backend across its runs.
 *
 * - **Stdio backends** (`spec.stdio`): each run gets a {@link RunChannel}, an `RpcPeer` over the
 *   child's stdin/stdout (stderr still goes to the instance log), handshaken before the run counts
 *   as Ready; `BackendInstance.channels` streams the current run's channel, and `RpcBridge` takes
 *   that stream as its upstream (`{ attach: instance.channels }`).
 * - **URL backends**: {@link connect} is a socket that waits for the instance to be Ready and dials
 *   the URL of *that* run, so an `RpcPeer` with `reconnect` follows the instance across restarts.
 *
 * @module
 */
import { type Auth, Dialect, Framing, type Message, RpcError, RpcPeer } from "@isthmus/rpc-protocol"
import type { RpcBridge } from "@isthmus/rpc-protocol"
import { connectTcp, connectWebSocket } from "@isthmus/rpc-protocol/node"
import { Cause, Effect, type Scope, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Socket from "effect/socket/Socket"
import type { StdioChannel } from "./BackendSpec.ts"
import type { ProcessStdin } from "./Launcher.ts"

/**
 * One run's stdio channel: the peer (ready once the spec's handshake succeeded), the handshake's
 * answer, and `serve` to route what the backend sends (its requests and notifications) to a
 * consumer. It is an `RpcBridge` attached upstream.
 */
export interface RunChannel extends RpcBridge.AttachedUpstream {
  readonly id: string
  readonly runId: number
}

const closed = () => new Socket.SocketError({ reason: new Socket.SocketCloseError({ code: 1000 }) })
const readError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketReadError({ cause }) })
const encoder = new TextEncoder()

/**
 * A `Socket` over a process's stdout (read) and stdin (written). Readable once: the run's channel
 * lives as long as the run.
 */
export const socketOf = (stdout: Stream.Stream<Uint8Array, unknown>, stdin: ProcessStdin): Socket.Socket => {
  const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
    Socket.isCloseEvent(chunk)
      ? stdin.close
      : Effect.flatMap(
        stdin.write(typeof chunk === "string" ? encoder.encode(chunk) : chunk),
        (ok) => (ok ? Effect.void : Effect.fail(closed()))
      )
  return Socket.make({
    reader: Effect.map(Stream.toPull(stdout), (pull) => ({
      pull: pull.pipe(
        Effect.map((chunks) => chunks as NonEmptyReadonlyArray<Uint8Array>),
        Effect.catchIf(Cause.isDone, () => Effect.fail(closed())),
        Effect.mapError((e) => (Socket.isSocketError(e) ? e : readError(e)))
      ),
      upgrade: Socket.SocketUpgradeError.unsupported
    })),
    writer: Effect.succeed({
      write,
      writeAll: (chunks) => Effect.forEach(chunks, write, { discard: true })
    })
  })
}

const dialects = { strict: Dialect.strict, lite: Dialect.lite, daemon: Dialect.daemon } as const

/**
 * Opens a run's channel in the run's scope: the peer connects at once and runs the handshake;
 * `channel.peer.awaitReady` tells when it succeeded. Requests the backend sends before a consumer
 * `serve`s get the dialect's "method not found"; notifications before that go only to the peer's
 * own subscribers.
 */
export const open = (options: {
  readonly id: string
  readonly runId: number
  readonly spec: StdioChannel
  readonly stdout: Stream.Stream<Uint8Array, unknown>
  readonly stdin: ProcessStdin
}): Effect.Effect<RunChannel, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dialect = dialects[options.spec.dialect ?? "lite"]
    const handshakeSpec = options.spec.handshake
    let handlers: RpcBridge.UpstreamHandlers | undefined
    let handshake: unknown
    const peer = yield* RpcPeer.make({
      connect: socketOf(options.stdout, options.stdin),
      dialect,
      framing: Framing.ndjson(
        options.spec.maxLineBytes === undefined ? {} : { maxLineBytes: options.spec.maxLineBytes }
      ),
      requestTimeout: options.spec.requestTimeoutMs ?? 60_000,
      dispatch: (request: Message.Request) =>
        handlers === undefined
          ? Effect.fail(RpcError.fromObject(dialect.errors.methodNotFound(request.method)))
          : handlers.onRequest(request),
      onNotification: (notification) => (handlers === undefined ? Effect.void : handlers.onNotification(notification)),
      handshake: handshakeSpec === undefined ? undefined : (context) =>
        Effect.gen(function*() {
          const method = handshakeSpec.method ?? "initialize"
          // A refusal (an RpcError answer) is fatal for this run's channel: the run never gets Ready.
          handshake = yield* context.request(method, handshakeSpec.params ?? {})
          const notification = handshakeSpec.notification === undefined ? "initialized" : handshakeSpec.notification
          if (notification !== null) yield* context.notify(notification)
        })
    })
    const channel: RunChannel = {
      id: options.id,
      runId: options.runId,
      peer,
      get handshake() {
        return handshake
      },
      serve: (next) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            handlers = next
          }),
          () =>
            Effect.sync(() => {
              if (handlers === next) handlers = undefined
            })
        )
    }
    return channel
  })

/** What {@link connect} needs of an instance (a `BackendInstance` has it). */
export interface ReadyAwaitable {
  readonly id: string
  readonly awaitReady: Effect.Effect<
    { readonly url: string | undefined; readonly runId: number },
    { readonly message: string }
  >
}

/**
 * A socket to the instance's current run: waits until the instance is Ready (not the Ready of a run
 * that already ended), then dials its URL (`ws://`/`wss://` as WebSocket, anything else as TCP
 * `host:port`). Give it to an `RpcPeer` with `reconnect` and the peer follows the instance across
 * restarts (new port included).
 */
export const connect = (
  instance: ReadyAwaitable,
  options?: { readonly token?: Auth.Token | undefined }
): Effect.Effect<Socket.Socket, Socket.SocketError> =>
  instance.awaitReady.pipe(
    Effect.mapError((e) =>
      new Socket.SocketError({
        reason: new Socket.SocketOpenError({ kind: "Unknown", cause: new Error(`${instance.id}: ${e.message}`) })
      })
    ),
    Effect.flatMap((snapshot) => {
      const url = snapshot.url
      if (url === undefined) {
        return Effect.fail(
          new Socket.SocketError({
            reason: new Socket.SocketOpenError({
              kind: "Unknown",
              cause: new Error(`${instance.id} is ready without a URL; give it a port or report its URL`)
            })
          })
        )
      }
      if (url.startsWith("ws://") || url.startsWith("wss://")) {
        return connectWebSocket(url, options?.token === undefined ? undefined : { token: options.token })
      }
      const parsed = new URL(url.includes("://") ? url : `tcp://${url}`)
      return connectTcp({ host: parsed.hostname, port: Number(parsed.port) })
    })
  )
