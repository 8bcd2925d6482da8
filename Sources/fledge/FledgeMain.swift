import FledgeCLI
import Logging

/// The executable: bootstraps logging (the only place that does) and runs the command line.
@main
enum FledgeMain {
    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        await FledgeCommand.main(nil)
    }
}
