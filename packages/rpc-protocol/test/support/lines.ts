// A plain NDJSON line reader on a Node socket (no library): the tests' raw clients, the interop
// endpoints and the benchmark baseline all cut lines the same way.
import type * as net from "node:net"

/** Calls `onLine` with every line (without its `"\n"`) the socket delivers, as UTF-8 text. */
export const onLines = (socket: net.Socket, onLine: (line: string) => void): void => {
  let buffer = ""
  socket.setEncoding("utf8")
  socket.on("data", (chunk: string) => {
    buffer += chunk
    let nl: number
    while ((nl = buffer.indexOf("\n")) !== -1) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      onLine(line)
    }
  })
}
