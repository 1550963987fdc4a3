/**
 * Token helpers shared by the server's auth gate and the transports.
 *
 * @since 0.1.0
 */
import { Redacted } from "effect"

const utf8 = new TextEncoder()

/**
 * Compares a presented token with the expected one in time that depends only on the expected
 * token's length, not on where the first difference is.
 *
 * @since 0.1.0
 * @category auth
 */
export const constantTimeEqual = (presented: string, expected: string): boolean => {
  const a = utf8.encode(presented)
  const b = utf8.encode(expected)
  let diff = a.length ^ b.length
  for (let i = 0; i < b.length; i++) diff |= (a[i] ?? 0) ^ b[i]!
  return diff === 0
}

/**
 * A secret token: a plain string or an Effect `Redacted` (which never prints its value).
 *
 * @since 0.1.0
 * @category models
 */
export type Token = string | Redacted.Redacted<string>

/**
 * The token's value.
 *
 * @since 0.1.0
 * @category auth
 */
export const reveal = (token: Token): string => typeof token === "string" ? token : Redacted.value(token)

/**
 * Extracts the token from `auth` params in either accepted shape: `{"token":"…"}` or a bare string.
 *
 * @since 0.1.0
 * @category auth
 */
export const tokenFromParams = (params: unknown): string | undefined => {
  if (typeof params === "string") return params
  if (typeof params === "object" && params !== null && !Array.isArray(params)) {
    const token = (params as { readonly token?: unknown }).token
    return typeof token === "string" ? token : undefined
  }
  return undefined
}

/**
 * Checks an `Authorization` header value against `Bearer <token>` in constant time.
 *
 * @since 0.1.0
 * @category auth
 */
export const checkBearer = (header: string | undefined, token: Token): boolean => {
  if (header === undefined) return false
  const match = /^Bearer\s+(.+)$/i.exec(header.trim())
  return match !== null && constantTimeEqual(match[1]!, reveal(token))
}
