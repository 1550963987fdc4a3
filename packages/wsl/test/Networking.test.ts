import { assert, describe, it } from "@effect/vitest"
import { Networking } from "@isthmus/wsl"
import { Option, Result } from "effect"

describe("Networking", () => {
  it("parseAddressProbe: default-route device first, bridges and docker skipped", () => {
    const out = [
      "route:",
      "default via 172.25.160.1 dev eth1 proto kernel",
      "addr:",
      "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
      "3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever",
      "4: br-9a8b7c    inet 172.18.0.1/16 brd 172.18.255.255 scope global br-9a8b7c\\       valid_lft forever",
      "5: eth0    inet 10.5.0.2/24 scope global eth0\\       valid_lft forever",
      "6: eth1    inet 172.25.170.4/20 brd 172.25.175.255 scope global eth1\\       valid_lft forever",
      "7: veth12@if6    inet 169.254.3.3/16 scope link veth12\\       valid_lft forever",
      ""
    ].join("\n")
    const got = Networking.parseAddressProbe(out)
    assert.deepStrictEqual(got.map((a) => a.address), ["172.25.170.4", "10.5.0.2"])
  })
  it("hostname -I fallback: the docker default network and DNS tunnelling address are skipped", () => {
    const got = Networking.parseAddressProbe("hostname:\n172.17.0.1 10.255.255.254 172.28.5.9 fe80::1\n")
    assert.deepStrictEqual(got, [{ address: "172.28.5.9", interface: Option.none() }])
    assert.deepStrictEqual(Networking.parseAddressProbe("hostname:\n\n"), [])
  })
  it("parseWslConfig: [wsl2] networkingMode, case-insensitive, comments, experimental fallback", () => {
    assert.deepStrictEqual(Networking.parseWslConfig("[wsl2]\nnetworkingMode=mirrored\n"), Option.some("mirrored"))
    assert.deepStrictEqual(Networking.parseWslConfig("[WSL2]\r\nNETWORKINGMODE = NAT # x\r\n"), Option.some("nat"))
    assert.deepStrictEqual(
      Networking.parseWslConfig("[experimental]\nnetworkingMode=Mirrored\n"),
      Option.some("mirrored")
    )
    assert.deepStrictEqual(Networking.parseWslConfig("[wsl2]\nnetworkingMode=VirtioProxy\n"), Option.some("consomme"))
    assert.deepStrictEqual(Networking.parseWslConfig("[other]\nnetworkingMode=mirrored\n"), Option.none())
    assert.deepStrictEqual(Networking.parseWslConfig("[wsl2]\n;networkingMode=mirrored\n"), Option.none())
  })
  it("parseWslinfo", () => {
    assert.deepStrictEqual(Networking.parseWslinfo("mirrored\n"), Option.some("mirrored"))
    assert.deepStrictEqual(Networking.parseWslinfo("virtioproxy"), Option.some("consomme"))
    assert.deepStrictEqual(Networking.parseWslinfo("Failed to query networking mode"), Option.none())
  })
})

// The oracle: windows-reality.md §6, the table "Backend binds (inside distro)" (read from
// microsoft/WSL src/linux/init/localhost.cpp and src/windows/wslrelay/localhost.cpp), written
// out row by row. "✗" means WslUnreachableError. Columns: NAT with forwarding (the default), NAT
// with localhostForwarding=false, mirrored, none; plus WSL 1 (a shared stack).
const distroAddress = "172.20.1.5"
const table: ReadonlyArray<
  readonly [bind: string, nat: string, natNoForwarding: string, mirrored: string, none: string, wsl1: string]
> = [
  ["127.0.0.1", "127.0.0.1", "✗", "127.0.0.1", "✗", "127.0.0.1"],
  ["0.0.0.0", "127.0.0.1", distroAddress, "127.0.0.1", "✗", "127.0.0.1"],
  ["::", "::1", distroAddress, "127.0.0.1", "✗", "127.0.0.1"],
  ["[::]", "::1", distroAddress, "127.0.0.1", "✗", "127.0.0.1"],
  ["::1", "::1", "✗", "✗", "✗", "::1"],
  [distroAddress, distroAddress, distroAddress, "✗", "✗", distroAddress],
  ["127.0.0.2", "✗", "✗", "✗", "✗", "127.0.0.2"],
  ["172.17.0.1", "✗", "✗", "✗", "✗", "172.17.0.1"],
  ["localhost", "✗", "✗", "✗", "✗", "✗"]
]

const facts = (
  mode: Networking.NetworkingMode,
  over: Partial<Networking.NetworkFacts> = {}
): Networking.NetworkFacts => ({
  distro: "Ubuntu",
  mode: { mode, source: "wslinfo", detail: "" },
  localhostForwarding: true,
  hostAddressLoopback: false,
  distroAddress: Option.some({ address: distroAddress, interface: Option.some("eth0") }),
  ...over
})

const answer = (bind: string, f: Networking.NetworkFacts): string => {
  const r = Networking.reachableHost(bind, f)
  return Result.isSuccess(r) ? r.success.host : "✗"
}

describe("Networking.reachableHost: the reachability table of windows-reality.md §6", () => {
  for (const [bind, nat, natOff, mirrored, none, wsl1] of table) {
    it(`bind ${bind}`, () => {
      assert.deepStrictEqual(
        [
          answer(bind, facts("nat")),
          answer(bind, facts("nat", { localhostForwarding: false })),
          answer(bind, facts("mirrored", { distroAddress: Option.none() })),
          answer(bind, facts("none")),
          answer(bind, facts("wsl1", { distroAddress: Option.none() }))
        ],
        [nat, natOff, mirrored, none, wsl1]
      )
    })
  }

  it("bridged and consomme use the relay like NAT", () => {
    for (const mode of ["bridged", "consomme"] as const) {
      assert.strictEqual(answer("127.0.0.1", facts(mode)), "127.0.0.1")
      assert.strictEqual(answer("0.0.0.0", facts(mode, { localhostForwarding: false })), distroAddress)
    }
  })

  it("the relay is marked delayed, shared loopback and direct addresses are not; IPv6 is bracketed in URLs", () => {
    const relay = Result.getOrThrow(Networking.reachableHost("::", facts("nat")))
    assert.deepStrictEqual([relay.route, relay.delayed, relay.urlHost], ["localhostRelay", true, "[::1]"])
    assert.deepStrictEqual(relay.alternatives.map((e) => [e.host, e.route, e.delayed]), [
      [distroAddress, "distroAddress", false]
    ])
    const mirrored = Result.getOrThrow(Networking.reachableHost("0.0.0.0", facts("mirrored")))
    assert.deepStrictEqual([mirrored.route, mirrored.delayed], ["sharedLoopback", false])
  })

  it("mirrored: the host's own address only with hostAddressLoopback", () => {
    assert.strictEqual(answer("192.168.1.20", facts("mirrored")), "✗")
    assert.strictEqual(answer("192.168.1.20", facts("mirrored", { hostAddressLoopback: true })), "192.168.1.20")
    // Mirrored mode shares 127.0.0.1, not the rest of 127.0.0.0/8, which is no host address either.
    assert.strictEqual(answer("127.0.0.2", facts("mirrored", { hostAddressLoopback: true })), "✗")
  })

  it("NAT with forwarding off and no distro address: unreachable, and says what to change", () => {
    const r = Networking.reachableHost(
      "0.0.0.0",
      facts("nat", { localhostForwarding: false, distroAddress: Option.none() })
    )
    assert.isTrue(Result.isFailure(r))
    if (Result.isFailure(r)) assert.include(r.failure.message, "localhostForwarding")
  })

  it("errors name the bind and the fix", () => {
    const none = Networking.reachableHost("127.0.0.1", facts("none"))
    if (Result.isSuccess(none)) return assert.fail("mode none must be unreachable")
    assert.strictEqual(none.failure._tag, "WslUnreachableError")
    assert.include(none.failure.message, "127.0.0.1")
    assert.include(none.failure.message, "networkingMode=nat")
    const local = Networking.reachableHost("localhost", facts("nat"))
    if (Result.isSuccess(local)) return assert.fail("localhost must be refused")
    assert.include(local.failure.message, "bind the server to 127.0.0.1")
  })

  it("reachableUrl rewrites the host of a printed URL, keeping port, path and query", () => {
    assert.deepStrictEqual(
      Networking.reachableUrl("http://0.0.0.0:3000", facts("nat", { localhostForwarding: false })),
      Result.succeed(`http://${distroAddress}:3000`)
    )
    assert.deepStrictEqual(
      Networking.reachableUrl("ws://[::]:8080/rpc?x=1", facts("nat")),
      Result.succeed("ws://[::1]:8080/rpc?x=1")
    )
    assert.deepStrictEqual(
      Networking.reachableUrl("http://127.0.0.1:1/", facts("mirrored")),
      Result.succeed("http://127.0.0.1:1/")
    )
    assert.isTrue(Result.isFailure(Networking.reachableUrl("http://localhost:3000", facts("nat"))))
    assert.isTrue(Result.isFailure(Networking.reachableUrl("not a url", facts("nat"))))
  })
})

describe("Networking: .wslconfig keys", () => {
  it("localhostForwarding defaults to true, false only when it says so", () => {
    assert.isTrue(Networking.parseLocalhostForwarding(undefined))
    assert.isTrue(Networking.parseLocalhostForwarding("[wsl2]\nmemory=4GB\n"))
    assert.isFalse(Networking.parseLocalhostForwarding("[wsl2]\nLocalhostForwarding = False\n"))
    assert.isTrue(Networking.parseLocalhostForwarding("[experimental]\nlocalhostForwarding=false\n"))
  })
  it("hostAddressLoopback defaults to false, read from [experimental]", () => {
    assert.isFalse(Networking.parseHostAddressLoopback(undefined))
    assert.isTrue(Networking.parseHostAddressLoopback("[experimental]\nhostAddressLoopback=true\n"))
    assert.isFalse(Networking.parseHostAddressLoopback("[wsl2]\nhostAddressLoopback=true\n"))
  })
})
