/**
 * Decode throughput on the same messages (codex app-server style traffic: deltas, requests,
 * responses, a few large results), fed in 64 KiB chunks:
 * - our NDJSON framing + lite-dialect classification (every message validated into a typed
 *   Message) against splitting lines and calling JSON.parse (target: at least 0.5x);
 * - the same against effect/rpc's ndjson serialization (`RpcSerialization.ndjson`);
 * - our Content-Length framing + classification against vscode-jsonrpc's StreamMessageReader.
 */
import { Dialect, Framing } from "@isthmus/rpc-protocol"
import { RpcSerialization } from "effect/rpc"
import { PassThrough } from "node:stream"
import * as vscode from "vscode-jsonrpc/node"
import type { BenchRow } from "../../../scripts/bench-kit.ts"

const encoder = new TextEncoder()
const messages: Array<unknown> = []
for (let i = 0; i < 3000; i++) {
  switch (i % 6) {
    case 0:
      messages.push({ id: i, method: "thread/read", params: { threadId: "thr_1", includeTurns: true } })
      break
    case 1:
      messages.push({
        id: i - 1,
        result: { thread: { id: "thr_1", title: "Refactor the parser é", turns: [i, i + 1] } }
      })
      break
    case 5:
      messages.push({ id: i, result: { content: "x".repeat(2000), truncated: false } })
      break
    default:
      messages.push({
        method: "item/agentMessage/delta",
        params: { threadId: "thr_1", turnId: "turn_7", itemId: `msg_${i}`, delta: "Let me look at the failing test… " }
      })
  }
}
const texts = messages.map((m) => JSON.stringify(m))

const chunk = (bytes: Uint8Array, size = 64 * 1024): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size))
  return out
}
const ndjsonBytes = encoder.encode(texts.map((t) => t + "\n").join(""))
const ndjsonChunks = chunk(ndjsonBytes)
const clFraming = Framing.contentLength()
const clParts = texts.map((t) => clFraming.encode(t) as Uint8Array)
const clBytes = new Uint8Array(clParts.reduce((n, p) => n + p.length, 0))
let offset = 0
for (const part of clParts) {
  clBytes.set(part, offset)
  offset += part.length
}
const clChunks = chunk(clBytes)

/** Runs `pass` (one decode of the whole data set) for ~`ms` and returns MB/s. */
const throughput = (bytes: number, pass: () => number, ms = 800): number => {
  for (let i = 0; i < 3; i++) pass()
  let n = 0
  const start = performance.now()
  while (performance.now() - start < ms) {
    if (pass() !== messages.length) throw new Error("lost messages")
    n++
  }
  return (n * bytes) / 1e6 / ((performance.now() - start) / 1000)
}
const throughputAsync = async (bytes: number, pass: () => Promise<number>, ms = 800): Promise<number> => {
  for (let i = 0; i < 3; i++) await pass()
  let n = 0
  const start = performance.now()
  while (performance.now() - start < ms) {
    if ((await pass()) !== messages.length) throw new Error("lost messages")
    n++
  }
  return (n * bytes) / 1e6 / ((performance.now() - start) / 1000)
}

const ours = (framing: Framing.Framing, chunks: ReadonlyArray<Uint8Array>) => () => {
  const decoder = framing.makeDecoder()
  let count = 0
  for (const c of chunks) {
    for (const frame of decoder.push(c)) {
      if (frame._tag === "Text" && Dialect.lite.decode(frame.text)._tag === "Message") count++
    }
  }
  for (const frame of decoder.end()) {
    if (frame._tag === "Text" && Dialect.lite.decode(frame.text)._tag === "Message") count++
  }
  return count
}

const splitParse = () => {
  const decoder = new TextDecoder()
  let buffer = ""
  let count = 0
  for (const c of ndjsonChunks) {
    buffer += decoder.decode(c, { stream: true })
    const lines = buffer.split("\n")
    buffer = lines.pop() ?? ""
    for (const line of lines) {
      if (line.length > 0) {
        JSON.parse(line)
        count++
      }
    }
  }
  return count
}

const effectNdjson = () => {
  const parser = RpcSerialization.ndjson.makeUnsafe()
  let count = 0
  for (const c of ndjsonChunks) count += parser.decode(c).length
  return count
}

const vscodeReader = () =>
  new Promise<number>((resolve, reject) => {
    const stream = new PassThrough()
    const reader = new vscode.StreamMessageReader(stream)
    let count = 0
    reader.onError(reject)
    reader.listen(() => {
      count++
      if (count === messages.length) {
        reader.dispose()
        resolve(count)
      }
    })
    for (const c of clChunks) stream.write(c)
  })

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const oursNd = throughput(ndjsonBytes.length, ours(Framing.ndjson(), ndjsonChunks))
  const baseline = throughput(ndjsonBytes.length, splitParse)
  const effect = throughput(ndjsonBytes.length, effectNdjson)
  const oursCl = throughput(clBytes.length, ours(clFraming, clChunks))
  const vscodeCl = await throughputAsync(clBytes.length, vscodeReader)
  return [
    {
      name: "NDJSON decode + lite envelope classification",
      value: oursNd,
      unit: "MB/s",
      baseline: "split lines + JSON.parse",
      baselineValue: baseline,
      better: "higher",
      target: ">= 0.5x",
      met: oursNd >= 0.5 * baseline
    },
    {
      name: "NDJSON decode + lite envelope classification",
      value: oursNd,
      unit: "MB/s",
      baseline: "effect/rpc RpcSerialization.ndjson decode",
      baselineValue: effect,
      better: "higher"
    },
    {
      name: "Content-Length decode + lite envelope classification",
      value: oursCl,
      unit: "MB/s",
      baseline: "vscode-jsonrpc StreamMessageReader",
      baselineValue: vscodeCl,
      better: "higher"
    }
  ]
}
