// Helpers for the framing tests (Framing.test.ts, Framing.edges.test.ts): feed chunks through a
// decoder, cut bytes into chunks, and show a frame as one comparable string.
import type { Framing } from "@isthmus/rpc-protocol"

/**
 * Pushes every chunk through one decoder (a framing's fresh one, or the decoder given), then ends
 * it: all the frames it produced, in order.
 */
export const feed = (
  source: Framing.Framing | Framing.Decoder,
  chunks: ReadonlyArray<Uint8Array | string>
): Array<Framing.Frame> => {
  const decoder = "makeDecoder" in source ? source.makeDecoder() : source
  const out: Array<Framing.Frame> = []
  for (const chunk of chunks) out.push(...decoder.push(chunk))
  out.push(...decoder.end())
  return out
}

/** Splits `bytes` at the given cut points (taken modulo its length + 1): never an empty piece. */
export const cut = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].toSorted((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let last = 0
  for (const p of points) {
    out.push(bytes.subarray(last, p))
    last = p
  }
  out.push(bytes.subarray(last))
  return out.filter((c) => c.length > 0)
}

/** A frame as a string: its text, or its tag and details in angle brackets. */
export const show = (f: Framing.Frame): string =>
  f._tag === "Text"
    ? f.text
    : f._tag === "Oversized"
    ? `<Oversized ${f.bytes}/${f.limit}>`
    : f._tag === "BadHeader"
    ? `<BadHeader ${f.detail}>`
    : `<Binary ${f.bytes}>`
