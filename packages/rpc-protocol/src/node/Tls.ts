/**
 * TLS settings for the TCP and WebSocket transports (server and client), in PEM. Keys may be
 * `Redacted` so they never print.
 *
 * When to use which (see the package README's "Security" section): on one machine, bind loopback
 * (the default) and use a token; between machines you administer, an SSH tunnel to a loopback bind
 * is usually simpler than certificates (and `@isthmus/backend-pool`'s SSH launcher does it for
 * you); use TLS when clients connect directly across a network you do not trust (a phone, a
 * browser on another machine, `wss://` behind no proxy), always together with a token or client
 * certificates.
 *
 * @since 0.1.0
 */
import { Redacted } from "effect"
import type * as tls from "node:tls"

/**
 * PEM text or bytes; secrets may be `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export type Pem = string | Uint8Array | Redacted.Redacted<string | Uint8Array>

/**
 * A TLS server's settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsServerOptions {
  /** The server's certificate chain (PEM). */
  readonly cert: Pem
  /** The server's private key (PEM); pass it `Redacted`. */
  readonly key: Pem
  /** The key's passphrase, if it has one. */
  readonly passphrase?: Redacted.Redacted<string> | undefined
  /** The CAs that sign client certificates (with `requestCert`). */
  readonly ca?: Pem | ReadonlyArray<Pem> | undefined
  /**
   * Require a client certificate signed by `ca` (mutual TLS). Connections without one are refused
   * during the handshake. This counts as authentication for the non-loopback bind check.
   */
  readonly requestCert?: boolean | undefined
}

/**
 * A TLS client's settings. Certificates are verified against `ca` (default: Node's bundled roots)
 * and the server's name (`servername`, default the host dialled).
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsClientOptions {
  /** The CAs to trust instead of Node's bundled roots (e.g. a self-signed server's certificate). */
  readonly ca?: Pem | ReadonlyArray<Pem> | undefined
  /** A client certificate, for servers that ask for one. */
  readonly cert?: Pem | undefined
  /** The client certificate's private key. */
  readonly key?: Pem | undefined
  /** The key's passphrase, if it has one. */
  readonly passphrase?: Redacted.Redacted<string> | undefined
  /** The name the server's certificate must carry (SNI as well). Default: the host dialled. */
  readonly servername?: string | undefined
  /**
   * Whether an unverifiable certificate fails the connection. Default true; turning it off makes
   * TLS useless against an active attacker, so only do it in a test.
   */
  readonly rejectUnauthorized?: boolean | undefined
}

const pem = (value: Pem): string | Uint8Array => Redacted.isRedacted(value) ? Redacted.value(value) : value

const pems = (value: Pem | ReadonlyArray<Pem> | undefined): Array<string | Uint8Array> | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? value.map(pem) : [pem(value as Pem)]

/**
 * Node `tls` options for a server.
 *
 * @since 0.1.0
 * @category conversions
 */
export const serverOptions = (options: TlsServerOptions): tls.TlsOptions => {
  const ca = pems(options.ca)
  return {
    cert: pem(options.cert) as string | Buffer,
    key: pem(options.key) as string | Buffer,
    ...(options.passphrase === undefined ? {} : { passphrase: Redacted.value(options.passphrase) }),
    ...(ca === undefined ? {} : { ca: ca as Array<string | Buffer> }),
    requestCert: options.requestCert === true,
    rejectUnauthorized: options.requestCert === true
  }
}

/**
 * Node `tls.connect` options for a client (without host and port).
 *
 * @since 0.1.0
 * @category conversions
 */
export const clientOptions = (options: TlsClientOptions): tls.ConnectionOptions => {
  const ca = pems(options.ca)
  return {
    ...(ca === undefined ? {} : { ca: ca as Array<string | Buffer> }),
    ...(options.cert === undefined ? {} : { cert: pem(options.cert) as string | Buffer }),
    ...(options.key === undefined ? {} : { key: pem(options.key) as string | Buffer }),
    ...(options.passphrase === undefined ? {} : { passphrase: Redacted.value(options.passphrase) }),
    ...(options.servername === undefined ? {} : { servername: options.servername }),
    rejectUnauthorized: options.rejectUnauthorized ?? true
  }
}
