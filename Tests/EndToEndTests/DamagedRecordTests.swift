import Foundation
import Testing

/// Records that git-ml did not write as they are: named, never shown as something else.
@Suite("damaged records are named, not shown under another id")
struct DamagedRecordTests {
    @Test("a run ref pointing at another run's commit makes show, metrics, logs and checkout fail naming both runs")
    func refPointingAtAnotherRun() throws {
        let repo = try TestRepo()
        let a = try repo.ml(["run", "--name", "a", "--", "/bin/sh", "-c", "echo a; echo '{\"key\":\"m\",\"value\":1}' >> \"$GITML_METRICS\""])
        let b = try repo.ml(["run", "--name", "b", "--", "/bin/sh", "-c", "echo b; echo '{\"key\":\"m\",\"value\":2}' >> \"$GITML_METRICS\""])
        let idA = try #require(runID(from: a.stderr)), idB = try #require(runID(from: b.stderr))
        try repo.git("update-ref", "refs/ml/runs/\(idA)", try repo.git("rev-parse", "refs/ml/runs/\(idB)"))
        for args in [["show", idA], ["metrics", idA], ["logs", idA], ["checkout", idA, "--outputs", repo.path("out")]] {
            let r = try repo.ml(args)
            #expect(r.status != 0, "git ml \(args[0]) showed the other run: \(r.stdout)")
            #expect(r.stderr.contains("refs/ml/runs/\(idA) points at the record of another run, \(idB)"), "git ml \(args[0]): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
        // The other run is shown as itself, and fsck names the damage.
        #expect(try repo.ml("show", idB).stdout.contains(" b\n"))
        let fsck = try repo.ml("fsck")
        #expect(fsck.status != 0 && fsck.stdout.contains("run \(idA)"), "\(fsck.stdout)")
    }
}
