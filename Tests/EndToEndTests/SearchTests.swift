import Foundation
import Testing

/// `git ml runs --filter/--order-by` over the query index, and the index's repair.
@Suite("git ml runs --filter: MLflow's filter syntax over the query index")
struct SearchTests {
    /// Four runs with an accuracy metric, a param and a tag; returns their ids by name.
    func fourRuns(_ repo: TestRepo) throws -> [String: String] {
        var ids: [String: String] = [:]
        for (name, acc, lr, team) in [("a", 0.70, "0.1", "cv"), ("b", 0.95, "0.01", "nlp"), ("c", 0.90, "0.1", "nlp"), ("d", 0.99, "0.001", "cv")] {
            let r = try repo.ml(["run", "--name", name, "--param", "lr=\(lr)", "--tag", "team=\(team)", "--",
                                 "/bin/sh", "-c", "echo '{\"key\": \"acc\", \"value\": \(acc)}' >> \"$GITML_METRICS\""])
            #expect(r.status == 0, "\(r.stderr)")
            ids[name] = try #require(runID(from: r.stderr))
        }
        return ids
    }

    func names(_ repo: TestRepo, _ args: [String]) throws -> (names: [String], stderr: String) {
        let r = try repo.ml(["runs", "--json"] + args)
        #expect(r.status == 0, "\(r.stderr)")
        let list = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
        return (list.compactMap { $0["name"] as? String }, r.stderr)
    }

    @Test("filters with AND, OR, parentheses, LIKE and IN, ordered by a metric")
    func filtersAndOrders() throws {
        let repo = try TestRepo()
        _ = try fourRuns(repo)
        #expect(try names(repo, ["--filter", "metrics.acc > 0.85", "--order-by", "metrics.acc DESC"]).names == ["d", "b", "c"])
        #expect(try names(repo, ["--filter", "metrics.acc > 0.85 and tags.team = 'nlp'", "--order-by", "metrics.acc"]).names == ["c", "b"])
        #expect(try names(repo, ["--filter", "params.lr = '0.001' or (tags.team = 'nlp' and metrics.acc < 0.93)", "--order-by", "attributes.run_name"]).names == ["c", "d"])
        #expect(try names(repo, ["--filter", "params.lr IN ('0.1', '0.01')", "--order-by", "metrics.acc ASC"]).names == ["a", "c", "b"])
        #expect(try names(repo, ["--filter", "attributes.run_name LIKE 'a%' or attributes.run_name ILIKE 'D'"]).names.sorted() == ["a", "d"])
        #expect(try names(repo, ["--filter", "attributes.status = 'FINISHED' and params.lr != '0.1'", "--order-by", "params.lr DESC"]).names == ["b", "d"])
        #expect(try names(repo, ["--filter", "metrics.missing > 0"]).names == [])

        let bad = try repo.ml("runs", "--filter", "metrics.acc > 0.5 and params.lr >")
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("invalid filter at column 33") && bad.stderr.split(separator: "\n").count <= 2, "\(bad.stderr)")
    }

    @Test("the index rebuilds after being deleted (silently) and after being overwritten with garbage (with a warning)")
    func indexRebuilds() throws {
        let repo = try TestRepo()
        _ = try fourRuns(repo)
        let query = ["--filter", "metrics.acc >= 0.9", "--order-by", "metrics.acc DESC"]
        #expect(try names(repo, query).names == ["d", "b", "c"])
        let index = repo.root + "/.git/ml/index.sqlite"
        #expect(FileManager.default.fileExists(atPath: index))

        try FileManager.default.removeItem(atPath: index)
        let again = try names(repo, query)
        #expect(again.names == ["d", "b", "c"])
        #expect(!again.stderr.contains("warning"), "a missing index is rebuilt without a word: \(again.stderr)")

        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: index))
        let repaired = try names(repo, query)
        #expect(repaired.names == ["d", "b", "c"])
        #expect(repaired.stderr.contains("warning: the query index") && repaired.stderr.contains("rebuilding it"), "\(repaired.stderr)")

        // A new run is picked up without a reindex; a reindex counts them all.
        let r = try repo.ml(["run", "--name", "e", "--", "/bin/sh", "-c", "echo '{\"key\": \"acc\", \"value\": 0.97}' >> \"$GITML_METRICS\""])
        #expect(r.status == 0)
        #expect(try names(repo, query).names == ["d", "e", "b", "c"])
        let re = try repo.ml("reindex")
        #expect(re.status == 0 && re.stdout.contains("indexed 5 runs"), "\(re.stdout)\(re.stderr)")
    }

    @Test("every listing answers from the index: plain git ml runs, --status, a run by name; no other cache is written")
    func listingsUseTheIndex() throws {
        let repo = try TestRepo()
        let ids = try fourRuns(repo)
        let index = repo.root + "/.git/ml/index.sqlite"
        #expect(try names(repo, []).names == ["d", "c", "b", "a"])
        #expect(FileManager.default.fileExists(atPath: index))
        #expect(!FileManager.default.fileExists(atPath: repo.root + "/.git/ml/cache/runs-v2.tsv"), "the summary cache is gone")

        // Deleted, the index is built again by the next plain listing, and lookups by name use it.
        try FileManager.default.removeItem(atPath: index)
        #expect(try names(repo, ["--limit", "2"]).names == ["d", "c"])
        #expect(FileManager.default.fileExists(atPath: index))
        try FileManager.default.removeItem(atPath: index)
        let shown = try repo.ml("show", "b", "--json")
        #expect(shown.status == 0 && shown.stdout.contains(ids["b"]!), "\(shown.stderr)")

        // A failed run, and the status filter in the query.
        let failed = try repo.ml(["run", "--name", "f", "--", "/bin/sh", "-c", "exit 3"])
        #expect(failed.status == 3)
        #expect(try names(repo, ["--status", "failed"]).names == ["f"])
        #expect(try names(repo, ["--status", "completed", "--limit", "3"]).names == ["d", "c", "b"])
        #expect(try names(repo, ["--status", "running"]).names == [])

        // Records written behind git-ml's back (a fetch) show up: the index follows the refs.
        try repo.git("update-ref", "-d", "refs/ml/runs/" + ids["a"]!)
        #expect(try names(repo, []).names == ["f", "d", "c", "b"])
    }

    @Test("a record the index cannot hold (metric keys with NUL bytes) is left out and named by fsck; searches and reindex go on")
    func unindexableRecord() throws {
        let repo = try TestRepo()
        _ = try fourRuns(repo)
        // Two keys that differ only after a NUL byte, written through the metrics file as any script could.
        let bad = try repo.ml(["run", "--name", "nul", "--", "/bin/sh", "-c",
                               #"printf '{"key":"k\\u0000a","value":1}\n{"key":"k\\u0000b","value":2}\n' >> "$GITML_METRICS""#])
        #expect(bad.status == 0, "\(bad.stderr)")
        let badID = try #require(runID(from: bad.stderr))
        #expect(try repo.git("show", "refs/ml/runs/\(badID):run.json").contains("k\\u0000a"), "the record holds the NUL key")

        let found = try names(repo, ["--filter", "metrics.acc > 0.85", "--order-by", "metrics.acc DESC"])
        #expect(found.names == ["d", "b", "c"], "\(found.stderr)")
        #expect(try names(repo, []).names == ["d", "c", "b", "a"], "the run the index cannot hold is left out of listings")
        let re = try repo.ml("reindex")
        #expect(re.status == 0 && re.stdout.contains("indexed 4 runs") && re.stderr.contains("1 run record(s) could not be indexed"), "\(re.stdout)\(re.stderr)")
        let fsck = try repo.ml("fsck")
        #expect(fsck.status != 0 && fsck.stdout.contains("run \(badID)") && fsck.stdout.contains("left out of the query index"), "\(fsck.stdout)\(fsck.stderr)")
        // The record itself is intact and shown by id.
        #expect(try repo.ml("show", badID).status == 0)
    }
}
