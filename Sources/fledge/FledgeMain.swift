import FledgeCLI
import Foundation

/// The executable: runs the command line.
@main
enum FledgeMain {
    static func main() async {
        // Line-buffered stdout, so that piped output (make demo | tee) keeps its order with stderr.
        setvbuf(stdout, nil, _IOLBF, 0)
        await FledgeCommand.main(nil)
    }
}
