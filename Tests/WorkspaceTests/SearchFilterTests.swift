import Foundation
import Testing
@testable import Workspace

@Suite struct SearchFilterTests {
    typealias F = SearchFilter

    func cmp(_ entity: F.Entity, _ key: String, _ op: String, _ value: F.Value) -> F {
        .comparison(.init(column: .init(entity: entity, key: key), op: op, value: value))
    }

    @Test func parsesMLflowFilters() throws {
        #expect(try F.parse("  ") == nil)
        #expect(try F.parse("metrics.acc > 0.9 and params.model = 'cnn'")
                == .and(cmp(.metric, "acc", ">", .number(0.9)), cmp(.param, "model", "=", .string("cnn"))))
        #expect(try F.parse("tags.`mlflow.runName` LIKE \"base%\"") == cmp(.tag, "mlflow.runName", "LIKE", .string("base%")))
        #expect(try F.parse("attribute.status IN ('FINISHED', 'FAILED')") == cmp(.attribute, "status", "IN", .list(["FINISHED", "FAILED"])))
        #expect(try F.parse("attributes.run_name not in ('a')") == cmp(.attribute, "run_name", "NOT IN", .list(["a"])))
        #expect(try F.parse("metric.loss <= -1e-3") == cmp(.metric, "loss", "<=", .number(-0.001)))
        #expect(try F.parse("params.name = 'it''s'") == cmp(.param, "name", "=", .string("it's")))
    }

    @Test func orBindsLooserThanAndAndParenthesesGroup() throws {
        let a = cmp(.metric, "a", ">", .number(1)), b = cmp(.metric, "b", ">", .number(2)), c = cmp(.metric, "c", ">", .number(3))
        #expect(try F.parse("metrics.a > 1 OR metrics.b > 2 AND metrics.c > 3") == .or(a, .and(b, c)))
        #expect(try F.parse("(metrics.a > 1 or metrics.b > 2) and metrics.c > 3") == .and(.or(a, b), c))
    }

    @Test func errorsPointAtTheColumn() {
        func column(_ text: String) -> (Int, String)? {
            do { _ = try F.parse(text); return nil } catch let e as SearchFilterError { return (e.column, e.message) } catch { return nil }
        }
        #expect(column("metrics.acc >")?.0 == 14)
        #expect(column("metrics.acc ~ 3")?.0 == 13)
        #expect(column("metricz.acc > 3")?.0 == 1)
        #expect(column("params.lr > 3")?.1.contains("compares numbers") == true)
        #expect(column("metrics.acc LIKE 'x'")?.1.contains("compares strings") == true)
        #expect(column("(metrics.a > 1")?.1.contains("not closed") == true)
        #expect(column("metrics.a > 1)")?.1.contains("unbalanced") == true)
        #expect(column("params.lr = 'abc")?.0 == 13)
        #expect(column("attributes.color = 'red'")?.1.contains("unknown attribute") == true)
        #expect(column("metrics.a > 1 metrics.b > 2")?.0 == 15)
    }

    @Test func orderings() throws {
        #expect(try SearchOrder.parse("metrics.acc DESC") == .init(column: .init(entity: .metric, key: "acc"), descending: true))
        #expect(try SearchOrder.parse("attributes.start_time") == .init(column: .init(entity: .attribute, key: "start_time"), descending: false))
        #expect(throws: SearchFilterError.self) { try SearchOrder.parse("metrics.acc sideways") }
    }

    @Test func likeIsCaseSensitiveAsInMLflow() {
        #expect(RunIndex.likeToGlob("ba_e%") == "ba?e*")
        #expect(RunIndex.likeToGlob("a*b") == "a[*]b")
    }
}
