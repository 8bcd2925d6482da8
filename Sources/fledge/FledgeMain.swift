import FledgeCLI
import Foundation
import Logging

/// The executable: bootstraps logging (the only place that does) and runs the command line.
@main
enum FledgeMain {
    static func main() async {
        // Line-buffered stdout, so that piped output (make demo | tee) keeps its order with stderr.
        setvbuf(stdout, nil, _IOLBF, 0)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        await FledgeCommand.main(nil)
    }
}
