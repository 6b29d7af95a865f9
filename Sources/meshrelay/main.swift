import Foundation
import MeshRelayCLI

let code = await MeshRelayCommand.runMain()
exit(code)
