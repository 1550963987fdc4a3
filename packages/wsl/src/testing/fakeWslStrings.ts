/**
 * The text `wsl.exe` prints, per Windows display language, for the fakes. Copied from
 * `microsoft/WSL` @3e27a6a `localization/strings/<lang>/Resources.resw` (the `Message…` names
 * are the resource names); `{}` is a placeholder, filled in order. The error label
 * (`MessageErrorCode`) is localised in current builds; older builds printed a localised message
 * over an English `Error code:` label (sakai135/wsl-vpnkit#207; windows-reality.md §4).
 *
 * `invalidOption` is the old inbox `wsl.exe`'s answer to an option it does not know (en and de
 * as quoted in dorssel/usbipd-win#77 and MicrosoftDocs/WSL#1036; other languages fall back to
 * English here, which real Windows would not).
 * @internal
 */

/** The languages the fakes speak. */
export type Language = "en" | "de" | "ja" | "fr"

/** The messages the fakes print. */
export interface Strings {
  readonly errorCode: string
  readonly statusDefaultDistro: string
  readonly statusDefaultVersion: string
  readonly distroNotFound: string
  readonly noDistros: string
  readonly invalidArgument: string
  readonly noRunningDistros: string
  readonly wsl1NotSupported: string
  readonly enableVirtualization: string
  /** `MessageLocalSystemNotSupported`: `wsl.exe` run as LocalSystem (a Windows service account). */
  readonly localSystemNotSupported: string
  readonly invalidOption: string
  readonly listHeader: string
  readonly listDefault: string
  /** `MessageMirroredNetworkingNotSupportedReason`: `{}` is the reason. */
  readonly mirroredFallback: string
  /** `MessageMirroredNetworkingNotSupportedWindowsVersion`: `{}` the build, `{}` the revision. */
  readonly mirroredWindowsVersion: string
}

/** Per language. */
export const strings: Readonly<Record<Language, Strings>> = {
  en: {
    errorCode: "{}\nError code: {}",
    statusDefaultDistro: "Default Distribution: {}",
    statusDefaultVersion: "Default Version: {}",
    distroNotFound: "There is no distribution with the supplied name.",
    noDistros:
      "Windows Subsystem for Linux has no installed distributions.\nYou can resolve this by installing a distribution with the instructions below:\n\nUse 'wsl.exe --list --online' to list available distributions\nand 'wsl.exe --install <Distro>' to install.",
    invalidArgument: "Invalid command line argument: {}\nPlease use '{} --help' to get a list of supported arguments.",
    noRunningDistros: "There are no running distributions.",
    wsl1NotSupported:
      "WSL1 is not supported with your current machine configuration.\nPlease enable the \"Windows Subsystem for Linux\" optional component to use WSL1.",
    localSystemNotSupported: "Running WSL as local system is not supported.",
    enableVirtualization:
      "WSL2 is unable to start since virtualization is not enabled on this machine.\nPlease ensure the \"Virtual Machine Platform\" optional component is enabled and virtualization is turned on in your computer's firmware settings.\n\nEnable \"Virtual Machine Platform\" by running: wsl.exe --install --no-distribution\n\nFor information please visit https://aka.ms/enablevirtualization",
    invalidOption: "Invalid command line option: {}",
    listHeader: "Windows Subsystem for Linux Distributions:",
    listDefault: "{} (Default)",
    mirroredFallback: "Mirrored networking mode is not supported: {}.\nFalling back to NAT networking.",
    mirroredWindowsVersion: "Windows version {}.{} does not have the required features"
  },
  de: {
    errorCode: "{}\nFehlercode: {}",
    statusDefaultDistro: "Standarddistribution: {}",
    statusDefaultVersion: "Standardversion: {}",
    distroNotFound: "Es ist keine Distribution mit dem angegebenen Namen vorhanden.",
    noDistros:
      "Windows-Subsystem für Linux verfügt über keine installierten Distributionen.\nSie können dies beheben, indem Sie eine Distribution mit den folgenden Anweisungen installieren:\n\n\"wsl.exe --list --online' zum Auflisten verfügbarer Distributionen verwenden\nund \"wsl.exe --install <Distro>\".",
    invalidArgument:
      "Ungültiges Befehlszeilenargument: {}\nVerwenden Sie \"{}\" --help', um eine Liste der unterstützten Argumente abzurufen.",
    noRunningDistros: "Es werden keine Distributionen ausgeführt.",
    wsl1NotSupported:
      "WSL1 wird mit Ihrer aktuellen Computer-Konfiguration nicht unterstützt.\nAktivieren Sie bitte die optionale Komponente „Windows Subsystem für Linux“, um WSL1 zu verwenden.",
    localSystemNotSupported: "Das Ausführen von WSL als lokales System wird nicht unterstützt.",
    enableVirtualization:
      "WSL2 kann nicht gestartet werden, da die Virtualisierung auf diesem Computer nicht aktiviert ist.\nStellen Sie sicher, dass die optionale Komponente „VM-Plattform“ aktiviert ist und die Virtualisierung in den Firmwareeinstellungen Ihres Computers eingeschaltet ist.\n\nAktivieren Sie „VM-Plattform“, indem Sie folgenden Befehl ausführen: wsl.exe --install --no-distribution\n\nWeitere Informationen finden Sie unter https://aka.ms/enablevirtualization",
    invalidOption: "Ungültige Befehlszeilenoption: {}",
    listHeader: "Windows Subsystem für Linux-Distributionen:",
    listDefault: "{} (Standard)",
    mirroredFallback: "Der gespiegelte Netzwerkmodus wird nicht unterstützt: {}.\nFallback auf NAT-Netzwerk.",
    mirroredWindowsVersion: "Windows-Version {}. {} verfügt nicht über die erforderlichen Features."
  },
  ja: {
    errorCode: "{}\nエラー コード: {}",
    statusDefaultDistro: "既定のディストリビューション: {}",
    statusDefaultVersion: "既定のバージョン: {}",
    distroNotFound: "指定された名前のディストリビューションはありません。",
    noDistros:
      "Linux 用 Windows サブシステムにインストールされているディストリビューションはありません。\nこの問題を解決するには、以下の手順に従ってディストリビューションをインストールしてください:\n\n'wsl.exe --list --online' を使用して利用可能な配布を一覧表示する\nおよび 'wsl.exe --install <Distro>' を使用してインストールしてください。",
    invalidArgument:
      "無効なコマンド ライン引数: {}\nサポートされている引数の一覧を取得するには、'{} --help' を使用してください。",
    noRunningDistros: "実行中のディストリビューションはありません。",
    wsl1NotSupported:
      "WSL1 は、現在のマシン構成ではサポートされていません。\nWSL1 を使用するには、\"Linux 用 Windows サブシステム\" オプション コンポーネントを有効にしてください。",
    localSystemNotSupported: "ローカル システムとして WSL を実行することはサポートされていません。",
    enableVirtualization:
      "このコンピューターで仮想化が有効になっていないため、WSL2 を開始できません。\n[仮想マシン プラットフォーム] オプション　コンポーネントが有効になっており、コンピューターのファームウェア設定で仮想化がオンになっていることを確認してください。\n\n次のコマンドを実行して [仮想マシン プラットフォーム] を有効にします: wsl.exe --install --no-distribution\n\n詳細については、https://aka.ms/enablevirtualization をご覧ください",
    invalidOption: "Invalid command line option: {}",
    listHeader: "Linux 用 Windows サブシステム ディストリビューション:",
    listDefault: "{} (既定値)",
    mirroredFallback:
      "ミラー化されたネットワーク モードはサポートされていません: {}\nNAT ネットワークにフォールバックしています。",
    mirroredWindowsVersion: "Windows バージョン {}.{} には必要な機能がありません"
  },
  fr: {
    errorCode: "{}\nCode d'erreur : {}",
    statusDefaultDistro: "Distribution par défaut : {}",
    statusDefaultVersion: "Version par défaut : {}",
    distroNotFound: "Il n’existe aucune distribution avec le nom fourni.",
    noDistros:
      "Sous-système Windows pour Linux n’a aucune distribution installée.\nVous pouvez résoudre ce problème en installant une distribution avec les instructions ci-dessous :\n\nUtiliser wsl.exe --list --online' pour répertorier les distributions disponibles\net 'wsl.exe --install <Distro>' à installer.",
    invalidArgument:
      "Argument de ligne de commande non valide : {}\nUtilisez « {} --help' pour obtenir la liste des arguments pris en charge.",
    noRunningDistros: "Aucune distribution en cours d'exécution.",
    wsl1NotSupported:
      "WSL1 n’est pas pris en charge avec votre configuration d’ordinateur actuelle.\nVeuillez activer le composant facultatif « Windows Subsystem for Linux » pour utiliser WSL1.\n",
    localSystemNotSupported: "L’exécution de WSL en tant que système local n’est pas prise en charge.",
    enableVirtualization:
      "WSL2 ne peut pas démarrer, car la virtualisation n’est pas activée sur cet ordinateur.\nVérifiez que le composant facultatif « Plateforme d’ordinateur virtuel » est activé et que la virtualisation est activée dans les paramètres du microprogramme de votre ordinateur.\n\nActiver « Plateforme d’ordinateur virtuel » en exécutant : wsl.exe --install --no-distribution\n\nPour plus d’informations, visitez https://aka.ms/enablevirtualization",
    invalidOption: "Invalid command line option: {}",
    listHeader: "Distributions du Sous-système Windows pour Linux :",
    listDefault: "{} (par défaut)",
    mirroredFallback: "Le mode réseau mis en miroir n’est pas pris en charge : {}.\nRetour à la mise en réseau NAT.",
    mirroredWindowsVersion: "Windows version {}. {} ne dispose pas des fonctionnalités requises"
  }
}

/** Fills `{}` placeholders in order. */
export const fill = (template: string, ...values: ReadonlyArray<string>): string => {
  let i = 0
  return template.replace(/\{\}/g, () => values[i++] ?? "")
}
