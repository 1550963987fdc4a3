// Helpers for the dialect tests (Dialect.test.ts, Dialect.ids.test.ts): what one text decodes to.
import type { Dialect, Message } from "@isthmus/rpc-protocol"

/** The kind of message `text` decodes to: its tag, `Batch(tags…)`, or `Invalid:<reason>`. */
export const kind = (d: Dialect.Dialect, text: string): string => {
  const decoded = d.decode(text)
  if (decoded._tag === "Message") return decoded.message._tag
  if (decoded._tag === "Batch") return `Batch(${decoded.items.map((i) => i._tag).join(",")})`
  return `Invalid:${decoded.reason}`
}

/** The one message `text` decodes to; throws (failing the test) when it is not one. */
export const message = (d: Dialect.Dialect, text: string): Message.Message => {
  const decoded = d.decode(text)
  if (decoded._tag !== "Message") throw new Error(`not a message: ${text}`)
  return decoded.message
}
