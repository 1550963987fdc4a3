import type { FakeWslConfig } from "@isthmus/wsl/testing"

/** One model for both fakes: the in-memory host and the fake-wsl executable. */
export const config: FakeWslConfig = {
  distros: [
    {
      name: "Ubuntu-24.04",
      state: "Running",
      version: 2,
      default: true,
      user: "ada",
      home: "/home/ada",
      interfaces: [
        { name: "lo", address: "127.0.0.1" },
        { name: "docker0", address: "172.17.0.1" },
        { name: "br-5f3c9a", address: "172.18.0.1" },
        { name: "eth0", address: "172.20.1.5" }
      ],
      networkingMode: "nat",
      node: { path: "/home/ada/.nvm/versions/node/v22.16.0/bin/node", version: "v22.16.0" },
      tools: ["git", "make"],
      symlinks: { "/mnt/c/proj/link": "target" }
    },
    {
      name: "Debian",
      state: "Stopped",
      version: 2,
      home: "/home/bob",
      interfaces: [{ name: "eth0", address: "192.168.1.50" }],
      networkingMode: "mirrored",
      node: null,
      tools: []
    },
    { name: "legacy-wsl1", state: "Stopped", version: 1, home: "/root" },
    { name: "Arch", state: "Installing", version: 2 }
  ],
  hostAddresses: ["192.168.1.50", "10.0.0.2"]
}

/** No wslinfo: the mode comes from .wslconfig. */
export const wslconfigOnly: FakeWslConfig = {
  distros: [{ name: "Ubuntu", state: "Running", default: true, interfaces: [{ name: "eth0", address: "172.22.0.9" }] }],
  wslConfig: "# mine\n[wsl2]\nmemory=8GB\nNetworkingMode = Mirrored ; set by me\n"
}

/** wslinfo says nat, but .wslconfig turns localhost forwarding off; a distro whose mode is none. */
export const noForwarding: FakeWslConfig = {
  distros: [
    {
      name: "Ubuntu",
      state: "Running",
      default: true,
      networkingMode: "nat",
      interfaces: [{ name: "eth0", address: "172.22.0.9" }]
    },
    { name: "Isolated", state: "Running", networkingMode: "none", interfaces: [{ name: "lo", address: "127.0.0.1" }] }
  ],
  wslConfig: "[wsl2]\nlocalhostForwarding=false\n"
}

/** No wslinfo, no .wslconfig: the distro address collides with a host address → mirrored. */
export const collision: FakeWslConfig = {
  distros: [
    { name: "Ubuntu", state: "Running", default: true, interfaces: [{ name: "eth0", address: "10.1.2.3" }] },
    { name: "Nat", state: "Running", interfaces: [{ name: "eth0", address: "172.30.0.2" }] }
  ],
  hostAddresses: ["10.1.2.3"]
}

/** The user's own WSLENV, odd entries included: it must survive byte for byte. */
export const userWslenv = "GOPATH/p::ODD/zz:OPENAI_API_KEY/u:"

/** The `_tag` of an error (for assertions). */
export const tag = (error: unknown): string => (error as { readonly ["_tag"]: string })["_tag"]
