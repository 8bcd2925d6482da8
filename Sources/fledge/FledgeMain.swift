import FledgeCLI
import Foundation

/// The executable: runs the command line.
@main
enum FledgeMain {
    static func main() async {
        // OpenBLAS's idle threads spin (sched_yield) for about 0.1 s after each call unless
        // OPENBLAS_THREAD_TIMEOUT says otherwise, taking the cores from Fledge's own workers
        // (the first decode steps after a prefill ran up to 4× slower). The library reads it
        // when it loads, before any of our code runs, so the process restarts itself once with
        // it set; a value the user sets is kept.
        if getenv("OPENBLAS_THREAD_TIMEOUT") == nil {
            setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)
            // The binary's own path (not /proc/self/exe, which would rename the process "exe").
            var path = [CChar](repeating: 0, count: 4096)
            let length = readlink("/proc/self/exe", &path, path.count - 1)
            if length > 0 {
                execv(path, CommandLine.unsafeArgv)  // returns only on failure: run as is
            }
        }
        // Line-buffered stdout, so that piped output (make demo | tee) keeps its order with stderr.
        setvbuf(stdout, nil, _IOLBF, 0)
        await FledgeCommand.main(nil)
    }
}
