import GazecatCommands

#if canImport(Glibc)
import Glibc
#endif

exit(Gazecat.run(Array(CommandLine.arguments.dropFirst())))
