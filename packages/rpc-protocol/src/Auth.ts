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
  if (typeof params === "object" && params !== null) {
    // An array has no `token` either.
    const token = (params as { readonly token?: unknown }).token
    return typeof token === "string" ? token : undefined
  }
  return undefined
}

/**
 * A token and the role it grants (e.g. `"full"`, or `"read-only"` for a dashboard).
 *
 * @since 0.1.0
 * @category models
 */
export interface RoleToken {
  readonly token: Token
  readonly role: string
}

/**
 * The role granted by the token presented, or `undefined` when it matches none (the first of
 * several equal tokens wins; an empty token matches nothing). Every token is compared, in constant
 * time each, whether or not an earlier one matched, so the time taken says nothing about which
 * token (or how much of one) was right.
 *
 * @since 0.1.0
 * @category auth
 */
export const matchToken = (presented: string, tokens: ReadonlyArray<RoleToken>): string | undefined => {
  let role: string | undefined
  for (const entry of tokens) {
    const expected = reveal(entry.token)
    // An empty token (a misconfiguration) matches nothing, not an empty presentation.
    if (constantTimeEqual(presented, expected) && expected.length > 0 && role === undefined) role = entry.role
  }
  return role
}

/**
 * The token of an `Authorization: Bearer <token>` header value, or `undefined` for any other
 * header (the scheme is case-insensitive).
 *
 * @since 0.1.0
 * @category auth
 */
export const bearerToken = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const match = /^Bearer\s+(.+)$/i.exec(header.trim())
  return match === null ? undefined : match[1]
}

/**
 * Checks an `Authorization` header value against `Bearer <token>` in constant time.
 *
 * @since 0.1.0
 * @category auth
 */
export const checkBearer = (header: string | undefined, token: Token): boolean => {
  const presented = bearerToken(header)
  return presented !== undefined && matchToken(presented, [{ token, role: "" }]) !== undefined
}
