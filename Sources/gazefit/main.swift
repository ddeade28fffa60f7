import GazefitCommands

#if canImport(Glibc)
import Glibc
#endif

exit(Gazefit.run(Array(CommandLine.arguments.dropFirst())))
