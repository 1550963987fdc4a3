import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { parseSettings, toSpec } from "../src/Settings.ts"

const context = {
  node: "/usr/bin/node",
  daemonEntry: "/srv/daemon.ts",
  tokenFor: (id: string) => `token-${id}`,
  logDir: "/tmp/logs"
}
const parse = (text: string) => Effect.runSync(Effect.result(parseSettings("backends.json", text)))

describe("settings", () => {
  it("maps a local backend to fd3 bootstrap and a WSL one to stdin, with the token only in the envelope", () => {
    const result = parse(JSON.stringify({
      backends: [
        { id: "native", label: "Native", kind: "local", tickMs: 500 },
        { id: "wsl", label: "WSL", kind: "wsl", distro: "Ubuntu" }
      ]
    }))
    if (result._tag !== "Success") throw new Error("expected success")
    const [local, wsl] = result.success.backends.map((b) => toSpec(b, context))
    expect(local?.launcher).toEqual({ _tag: "Local", command: "/usr/bin/node", args: ["/srv/daemon.ts"] })
    expect(local?.bootstrap).toEqual({
      delivery: "fd3",
      envelope: { name: "native", token: "token-native", tickMs: 500 }
    })
    expect(wsl?.launcher).toEqual({ _tag: "Wsl", distro: "Ubuntu", command: "/usr/bin/node", args: ["/srv/daemon.ts"] })
    expect(wsl?.bootstrap?.delivery).toBe("stdin")
    expect(JSON.stringify(local?.launcher)).not.toContain("token")
  })

  it("maps an ssh backend to the Ssh launcher with the bootstrap on stdin; without a host, to the demo server or nothing", () => {
    const result = parse(JSON.stringify({
      backends: [
        { id: "far", label: "Far", kind: "ssh", connection: { host: "build-box", user: "dev" } },
        { id: "lab", label: "Lab", kind: "ssh" }
      ]
    }))
    if (result._tag !== "Success") throw new Error("expected success")
    const [far, lab] = result.success.backends
    const farSpec = toSpec(far!, context)
    expect(farSpec?.launcher).toEqual({
      _tag: "Ssh",
      connection: { host: "build-box", user: "dev" },
      command: "/usr/bin/node",
      args: ["/srv/daemon.ts"]
    })
    expect(farSpec?.bootstrap?.delivery).toBe("stdin")
    expect(JSON.stringify(farSpec?.launcher)).not.toContain("token")
    expect(toSpec(lab!, context)).toBeUndefined()
    const labSpec = toSpec(lab!, { ...context, sshLab: { host: "10.250.0.2", port: 22 } })
    expect(labSpec?.launcher).toMatchObject({ _tag: "Ssh", connection: { host: "10.250.0.2", port: 22 } })
  })

  it("rejects bad JSON, unknown kinds and duplicate ids with a message naming the file", () => {
    for (
      const [text, expected] of [
        ["{", /backends\.json is not JSON/],
        [JSON.stringify({ backends: [{ id: "a", label: "A", kind: "k8s" }] }), /backends\.json: /],
        [
          JSON.stringify({
            backends: [{ id: "a", label: "A", kind: "ssh", connection: { host: "-oProxyCommand=x" } }]
          }),
          /backends\.json: /
        ],
        [
          JSON.stringify({
            backends: [{ id: "a", label: "A", kind: "local" }, { id: "a", label: "B", kind: "local" }]
          }),
          /"a" appears twice/
        ],
        [JSON.stringify({ backends: [{ id: "../x", label: "A", kind: "local" }] }), /backends\.json: /]
      ] as const
    ) {
      const result = parse(text)
      const message = result._tag === "Failure" ? result.failure.message : "(parsed without error)"
      expect(message).toMatch(expected)
    }
  })
})
