import Foundation
import Testing

@Suite("embedded assets")
struct AssetTests {
    @Test("EmbeddedAssets.swift matches hooks/ and the Python helper it is generated from")
    func generatedFileIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let r = try exec(["python3", "scripts/embed-assets", "--check"], cwd: root)
        #expect(r.status == 0, "\(r.stderr)")
    }
}
