import GazeFilterDaemon

#if canImport(Glibc)
import Glibc
#endif

// Block SIGTERM/SIGINT/SIGHUP before any thread starts, so only the signal thread sees them.
SignalWaiter.blockSignals()
exit(DaemonCommand.run(Array(CommandLine.arguments.dropFirst())))
