import MeshRelayBench

await BenchCommand.runMain()
