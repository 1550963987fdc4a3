/**
 * Recognises the start of an HTTP request on a raw connection (a browser's `fetch` to a local
 * JSON-RPC port sends `POST / HTTP/1.1` first, with JSON lines in its body). A JSON text never
 * starts with an upper-case letter, so the first bytes decide.
 *
 * @internal
 */

const methods = new Set(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PRI"])

/** The longest method name plus its space. */
const decisive = 8

/**
 * `true` when `bytes` start like an HTTP request line (a method and a space), `false` when they
 * cannot, `undefined` when more bytes are needed to tell.
 *
 * @internal
 */
export const looksLikeHttp = (bytes: Uint8Array): boolean | undefined => {
  let token = ""
  for (let i = 0; i < bytes.length && i < decisive; i++) {
    const c = bytes[i]!
    if (c === 32) return methods.has(token)
    if (c < 65 || c > 90) return false
    token += String.fromCharCode(c)
  }
  return bytes.length >= decisive ? false : undefined
}

/**
 * What the server writes back to an HTTP request before closing the connection.
 *
 * @internal
 */
export const httpRefusal = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n" +
  "Content-Length: 38\r\n\r\nThis port speaks JSON-RPC, not HTTP.\r\n"
