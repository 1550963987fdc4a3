import { assert, describe, it } from "@effect/vitest"
import { Networking } from "@isthmus/wsl"
import { Preflight } from "@isthmus/wsl/node"
import { Option } from "effect"

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
  it("reachableHost: NAT without an address falls back to localhost forwarding", () => {
    const r = Networking.reachableHost("U", { mode: "nat", source: "default", detail: "" }, Option.none())
    assert.strictEqual(r.host, "127.0.0.1")
    assert.include(r.reason, "localhost forwarding")
  })
})

const probe = (version: string) => ({
  nodePath: Option.some("/n"),
  nodeVersion: Option.some(version),
  missingTools: [],
  complete: true
})

describe("Preflight", () => {
  it("parseProbe tolerates CRLF and profile noise", () => {
    const p = Preflight.parseProbe(
      "Welcome!\r\nnodePath:/usr/bin/node\r\nnodeVersion:v22.1.0\r\nmissing:make\r\npreflight:done\r\n"
    )
    assert.deepStrictEqual(p, {
      nodePath: Option.some("/usr/bin/node"),
      nodeVersion: Option.some("v22.1.0"),
      missingTools: ["make"],
      complete: true
    })
  })
  it("report: ranges with ||, prereleases, an incomplete probe", () => {
    assert.isTrue(Preflight.report("U", { node: "^22.16 || ^23.11 || >=24.10" }, probe("v24.10.0")).ok)
    assert.isFalse(Preflight.report("U", { node: "^22.16 || ^23.11 || >=24.10" }, probe("v22.12.0")).ok)
    assert.isTrue(Preflight.report("U", { node: ">=22" }, probe("v23.0.0-nightly2024")).ok)
    assert.isTrue(Preflight.report("U", {}, { ...probe(""), nodePath: Option.none() }).ok)
    const cut = Preflight.report("U", {}, { ...probe("v22.1.0"), complete: false })
    assert.isFalse(cut.ok)
    assert.include(cut.message, "did not finish")
  })
  it("the script lists the tools and starts with the marker", () => {
    const s = Preflight.script(["git", "make"])
    assert.isTrue(s.startsWith(Preflight.marker))
    assert.include(s, "for t in git make; do")
  })
})
