/**
 * TLS for TCP and WebSocket, server and client (issue #11 point 6), with certificates made at test
 * time by the openssl CLI: a CA signs the server (localhost, 127.0.0.1) and a client certificate.
 * Certificate problems surface as `ConnectionError`s with reason `Tls` and the OpenSSL code.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, PeerDisconnectedError, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, connectWebSocket, serveTcp, serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Redacted } from "effect"
import { execFileSync } from "node:child_process"
import { makeCerts } from "./support/certs.ts"

const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

const tlsError = (error: unknown) => {
  assert.instanceOf(error, PeerDisconnectedError)
  assert.strictEqual(error.cause?.reason, "Tls", error.message)
  return error.cause!
}

const daemonServer = (framing: Framing.Framing) =>
  RpcServer.make({ dialect: Dialect.daemon, framing, methods: {}, handlers: {} })

// Without openssl there is nothing to test with; CI images have it (Debian's openssl package).
describe.skipIf(!hasOpenssl)("TLS", () => {
  it.live("TCP: a client trusting the CA talks to the server; one that does not gets a Tls error", () =>
    Effect.gen(function*() {
      const certs = yield* makeCerts
      const server = yield* daemonServer(Framing.ndjson())
      const { port } = yield* serveTcp(server, {
        tls: { cert: certs.serverCert, key: Redacted.make(certs.serverKey) }
      })
      const trusted = yield* RpcPeer.make({
        connect: connectTcp({ host: "localhost", port, tls: { ca: certs.ca } }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson()
      })
      assert.deepStrictEqual(yield* trusted.request("ping"), { ok: true })
      for (const [name, tls] of [["no CA", {}], ["another CA", { ca: certs.otherCa }]] as const) {
        const untrusted = yield* RpcPeer.make({
          connect: connectTcp({ host: "localhost", port, tls }),
          dialect: Dialect.daemon,
          framing: Framing.ndjson()
        })
        const cause = tlsError(yield* Effect.flip(untrusted.awaitReady))
        assert.match(cause.code ?? "", /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/, name)
      }
      // The certificate is for localhost and 127.0.0.1, not for this name.
      const misnamed = yield* RpcPeer.make({
        connect: connectTcp({ host: "127.0.0.1", port, tls: { ca: certs.ca, servername: "example.com" } }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson()
      })
      assert.strictEqual(tlsError(yield* Effect.flip(misnamed.awaitReady)).code, "ERR_TLS_CERT_ALTNAME_INVALID")
      // A plain-TCP client on a TLS port never gets a connection either.
      const plain = yield* RpcPeer.make({
        connect: connectTcp({ port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        requestTimeout: "1 second"
      })
      assert.isDefined(yield* Effect.flip(plain.request("ping")))
    }))

  it.live("wss://: a Bearer token over TLS; an untrusted certificate is a Tls error", () =>
    Effect.gen(function*() {
      const certs = yield* makeCerts
      const server = yield* daemonServer(Framing.webSocket())
      const { port } = yield* serveWebSocket(server, {
        tls: { cert: certs.serverCert, key: Redacted.make(certs.serverKey) },
        token: "t0k3n"
      })
      const url = `wss://localhost:${port}/`
      const peer = yield* RpcPeer.make({
        connect: connectWebSocket(url, { token: "t0k3n", tls: { ca: certs.ca } }),
        dialect: Dialect.daemon,
        framing: Framing.webSocket()
      })
      assert.deepStrictEqual(yield* peer.request("ping"), { ok: true })
      const untrusted = yield* RpcPeer.make({
        connect: connectWebSocket(url, { token: "t0k3n" }),
        dialect: Dialect.daemon,
        framing: Framing.webSocket(),
        reconnect: { maxAttempts: 1, initialDelay: "10 millis" }
      })
      tlsError(yield* Effect.flip(untrusted.awaitReady))
    }))

  it.live("client certificates (mutual TLS): with one signed by the CA it connects, without one it cannot", () =>
    Effect.gen(function*() {
      const certs = yield* makeCerts
      const server = yield* daemonServer(Framing.ndjson())
      // Client certificates count as authentication, so even a non-loopback bind is allowed.
      const { port } = yield* serveTcp(server, {
        host: "0.0.0.0",
        tls: { cert: certs.serverCert, key: Redacted.make(certs.serverKey), ca: certs.ca, requestCert: true }
      })
      const withCert = yield* RpcPeer.make({
        connect: connectTcp({
          host: "localhost",
          port,
          tls: { ca: certs.ca, cert: certs.clientCert, key: Redacted.make(certs.clientKey) }
        }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson()
      })
      assert.deepStrictEqual(yield* withCert.request("ping"), { ok: true })
      const without = yield* RpcPeer.make({
        connect: connectTcp({ host: "localhost", port, tls: { ca: certs.ca } }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        requestTimeout: "5 seconds"
      })
      // TLS 1.3 finishes the client's handshake before the server checks the certificate, so the
      // refusal arrives as the server closing the connection right after it opened.
      const error = yield* Effect.flip(without.request("ping"))
      assert.instanceOf(error, PeerDisconnectedError)
    }))
})
