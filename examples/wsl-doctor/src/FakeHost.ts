import type { FakeWslConfig } from "@isthmus/wsl/testing"

/**
 * The simulated host behind `--fake`: two distros (one WSL 1, stopped), NAT networking decided by
 * `.wslconfig`, a docker bridge listed before the real interface, and a Node that is too old.
 */
export const fakeHost: FakeWslConfig = {
  distros: [
    {
      name: "Ubuntu-24.04",
      state: "Running",
      version: 2,
      default: true,
      interfaces: [{ name: "docker0", address: "172.17.0.1" }, { name: "eth0", address: "172.28.144.7" }],
      defaultInterface: "eth0",
      node: { path: "/usr/bin/node", version: "v20.11.1" },
      tools: ["git", "node"]
    },
    { name: "Debian", state: "Stopped", version: 1 }
  ],
  hostAddresses: ["192.168.1.20"],
  wslConfig: "[wsl2]\nnetworkingMode=NAT\n",
  wslVersion: "2.6.1.0"
}
