import Foundation
import Testing

@Suite("git ml model promote: an alias moves only when the candidate's run beats the base")
struct PromoteTests {
    /// A run that logs `acc` and `loss` and writes a model; registered as the next version of churn.
    func trainAndRegister(_ repo: TestRepo, acc: Double, loss: Double) throws -> String {
        let r = try repo.ml("run", "--", "sh", "-c", """
            mkdir -p "$GITML_OUTPUTS/model" && echo \(acc) > "$GITML_OUTPUTS/model/w.txt" && \
            printf '{"key":"acc","value":\(acc)}\\n{"key":"loss","value":\(loss)}\\n' >> "$GITML_METRICS"
            """)
        guard r.status == 0, let id = runID(from: r.stderr) else { throw TestFailure("run: \(r.stderr)") }
        let reg = try repo.ml("model", "register", "churn", "--run", id, "--path", "outputs/model", "--json")
        guard reg.status == 0, let json = try JSONSerialization.jsonObject(with: Data(reg.stdout.utf8)) as? [String: Any],
              let version = json["version"] as? String else { throw TestFailure("register: \(reg.stdout) \(reg.stderr)") }
        return version
    }

    func alias(_ repo: TestRepo) throws -> String? {
        let r = try repo.ml("model", "alias", "list", "churn", "--json")
        return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: String])?["production"]
    }

    @Test("the first promotion has no base to beat; a better candidate moves the alias; a worse one fails the gate and leaves it")
    func gate() throws {
        let repo = try TestRepo()
        let v1 = try trainAndRegister(repo, acc: 0.80, loss: 0.5)
        let first = try repo.ml("model", "promote", "churn", v1, "--alias", "production", "--if", "metrics.acc >= base")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try alias(repo) == v1)

        let v2 = try trainAndRegister(repo, acc: 0.85, loss: 0.4)
        let better = try repo.ml("model", "promote", "churn", v2, "--alias", "production", "--if", "metrics.acc >= base", "--if", "metrics.loss < 0.45", "--json")
        #expect(better.status == 0, "\(better.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(better.stdout.utf8)) as! [String: Any]
        #expect(result["promoted"] as? Bool == true)
        #expect(result["base"] as? String == v1)
        let checks = try #require(result["checks"] as? [[String: Any]])
        #expect(checks.first?["candidate"] as? Double == 0.85 && checks.first?["against"] as? Double == 0.80)
        #expect(try alias(repo) == v2)

        let v3 = try trainAndRegister(repo, acc: 0.70, loss: 0.3)
        let worse = try repo.ml("model", "promote", "churn", v3, "--alias", "production", "--if", "metrics.acc >= base")
        #expect(worse.status == 1)
        #expect(worse.stdout.contains("NO  metrics.acc 0.7 >= 0.85"), "\(worse.stdout)")
        #expect(worse.stderr.contains("not promoted: churn@production stays at churn:\(v2)"), "\(worse.stderr)")
        #expect(try alias(repo) == v2)

        let unknown = try repo.ml("model", "promote", "churn", v3, "--alias", "production", "--if", "metrics.f1 >= base")
        #expect(unknown.status != 0 && unknown.stderr.contains("logged no metric 'f1'"), "\(unknown.stderr)")
        let bad = try repo.ml("model", "promote", "churn", v3, "--alias", "production", "--if", "acc better")
        #expect(bad.status == 2 && bad.stderr.contains("expected metrics.<key> <op> base|<number>"), "\(bad.stderr)")
        #expect(try alias(repo) == v2)
    }
}
