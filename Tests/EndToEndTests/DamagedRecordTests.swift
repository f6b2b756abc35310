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

    /// Breaks a stored object the way a bad disk or a stray write would: its file keeps its
    /// name (its id) and gets other bytes.
    func damage(_ repo: TestRepo, object hex: String, with bytes: Data) throws {
        let path = repo.path(".git/ml/objects/sha256/\(hex.prefix(2))/\(hex.dropFirst(2))")
        chmod(path, 0o644)
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    @Test("a damaged output or data object is not restored: checkout fails naming it and writes nothing from it")
    func restoresAreVerified() throws {
        let repo = try TestRepo()
        let r = try repo.ml(["run", "--output", "model.bin", "--", "/bin/sh", "-c",
                             "head -c 100000 /dev/urandom > model.bin; mkdir -p \"$GITML_OUTPUTS/w\"; head -c 5000 /dev/urandom > \"$GITML_OUTPUTS/w/a.bin\"; echo ok > \"$GITML_OUTPUTS/b.txt\""])
        #expect(r.status == 0, "\(r.stderr)")
        let id = try #require(runID(from: r.stderr))
        let outputs = try #require(try repo.record(id)["outputs"] as? [[String: Any]])
        let model = try #require(outputs.first { $0["name"] as? String == "model.bin" }?["sha256"] as? String)

        // A truncated file object: the whole checkout fails and leaves the folder empty.
        try damage(repo, object: model, with: Data())
        let out = repo.path("restored")
        let c = try repo.ml("checkout", id, "--outputs", out)
        #expect(c.status != 0)
        #expect(c.stderr.contains("object \(model) for ") && c.stderr.contains("is damaged in the store: its 0 bytes hash to"), "\(c.stderr)")
        #expect(c.stderr.contains("git ml fsck"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).isEmpty, "nothing is left from a failed restore")

        // A file inside a stored folder, overwritten with two bytes.
        let folder = try #require(outputs.first { $0["name"] as? String == "outputs" }?["sha256"] as? String)
        let manifest = try String(contentsOfFile: repo.path(".git/ml/objects/sha256/\(folder.prefix(2))/\(folder.dropFirst(2))"), encoding: .utf8)
        let inner = try #require(manifest.split(separator: "\n").first { $0.contains("w/a.bin") }.flatMap { line in
            line.split(whereSeparator: { !$0.isHexDigit }).first { $0.count == 64 }.map(String.init) })
        try damage(repo, object: model, with: try Data(contentsOf: URL(fileURLWithPath: repo.path("model.bin"))))
        try damage(repo, object: inner, with: Data("xy".utf8))
        let c2 = try repo.ml("checkout", id, "--outputs", out)
        #expect(c2.status != 0 && c2.stderr.contains("object \(inner) for ") && c2.stderr.contains("its 2 bytes"), "\(c2.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/w/a.bin"))

        // A data object overwritten with two bytes is not restored over the missing file.
        try repo.write("data/x.bin", String(repeating: "0123456789", count: 1000))
        #expect(try repo.ml("data", "add", "data/x.bin").status == 0)
        let pointer = try #require(repo.read("data/x.bin.mlref"))
        let dataID = try #require(pointer.split(whereSeparator: { !$0.isHexDigit }).first { $0.count == 64 }.map(String.init))
        try damage(repo, object: dataID, with: Data("xy".utf8))
        try FileManager.default.removeItem(atPath: repo.path("data/x.bin"))
        let d = try repo.ml("data", "checkout")
        #expect(d.status != 0 && d.stderr.contains("object \(dataID)") && d.stderr.contains("damaged"), "\(d.stderr)")
        #expect(!FileManager.default.fileExists(atPath: repo.path("data/x.bin")))
        let fsck = try repo.ml("fsck")
        #expect(fsck.status != 0 && fsck.stdout.contains(dataID) && fsck.stdout.contains(inner), "\(fsck.stdout)")
    }
}
