import { type FakeWslConfig, FakeWslModel } from "@isthmus/wsl/testing"

/** The simulated hosts `--fake` offers: each host state of the fakes, and a machine without distributions. */
export const fakeStates = [...FakeWslModel.hostStates, "no-distros"] as const

export type FakeState = (typeof fakeStates)[number]

const nvmBin = "/home/ada/.nvm/versions/node/v22.12.0/bin"

/**
 * The simulated host behind `--fake`: two distros (one WSL 1, stopped); NAT asked for in
 * `.wslconfig` with no `wslinfo` to confirm it; a docker bridge listed before the real interface;
 * Node 22.12 installed with nvm, so only an interactive shell finds it; and `npm` only as the
 * Windows shim that leaks in through `appendWindowsPath`. `state` picks the Windows host's state.
 */
export const fakeHost = (state: FakeState = "ready"): FakeWslConfig => ({
  distros: state === "no-distros" ? [] : [
    {
      name: "Ubuntu-24.04",
      state: "Running",
      version: 2,
      default: true,
      user: "ada",
      interfaces: [{ name: "docker0", address: "172.17.0.1" }, { name: "eth0", address: "172.28.144.7" }],
      defaultInterface: "eth0",
      node: { path: `${nvmBin}/node`, version: "v22.12.0" },
      bashrc: { path: [nvmBin], output: "Now using node v22.12.0 (npm v10.9.0)\n" },
      windowsPath: ["/mnt/c/Program Files/nodejs"],
      executables: { "/mnt/c/Program Files/nodejs/npm": "windowsShim" },
      tools: ["git"]
    },
    { name: "Debian", state: "Stopped", version: 1 }
  ],
  hostState: state === "no-distros" ? "ready" : state,
  hostAddresses: ["192.168.1.20"],
  wslConfig: "[wsl2]\nnetworkingMode=NAT\n",
  wslVersion: "2.6.1.0"
})
