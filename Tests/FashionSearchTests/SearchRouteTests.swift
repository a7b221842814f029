// The service's routes in-process (HummingbirdTesting's router client) over a tiny trained SyncMask checkpoint.
import FashionData
import FashionSearch
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import XCTest

final class SearchRouteTests: XCTestCase {
    private func app(limits: SearchLimits = SearchLimits(maxUploadBytes: 64 << 10)) throws -> (some ApplicationProtocol, SearchFixture.Made) {
        let made = try SearchFixture.get()
        return (buildApplication(engine: made.engine, limits: limits), made)
    }

    private func object(_ body: ByteBuffer) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any], String(buffer: body))
    }

    /// {"error": {"code": code}} with `status`.
    private func assertError(_ r: TestResponse, _ status: HTTPResponse.Status, _ code: String, file: StaticString = #filePath,
                             line: UInt = #line) throws {
        XCTAssertEqual(r.status, status, String(buffer: r.body), file: file, line: line)
        XCTAssertEqual(r.headers[.contentType], "application/json", file: file, line: line)
        let error = try XCTUnwrap(try object(r.body)["error"] as? [String: Any], file: file, line: line)
        XCTAssertEqual(error["code"] as? String, code, file: file, line: line)
        XCTAssertFalse((error["message"] as? String ?? "").isEmpty, file: file, line: line)
    }

    private func results(_ body: ByteBuffer) throws -> [[String: Any]] {
        try XCTUnwrap(try object(body)["results"] as? [[String: Any]])
    }

    func testTextSearchReturnsKProductsSortedByScore() async throws {
        let (app, made) = try app()
        try await app.test(.router) { client in
            let body = ByteBuffer(string: #"{"query": "black leather jacket", "k": 5}"#)
            let r = try await client.execute(uri: "/search/text", method: .post, headers: [.contentType: "application/json"], body: body)
            XCTAssertEqual(r.status, .ok, String(buffer: r.body))
            let hits = try self.results(r.body)
            XCTAssertEqual(hits.count, 5)
            let scores = hits.compactMap { ($0["score"] as? NSNumber)?.floatValue }
            XCTAssertEqual(scores.count, 5)
            XCTAssertEqual(scores, scores.sorted(by: >), "best first")
            let ids = hits.compactMap { ($0["id"] as? NSNumber)?.int64Value }
            XCTAssertEqual(Set(ids).count, 5, "one result per product")
            for (hit, id) in zip(hits, ids) {
                XCTAssertEqual(hit["title"] as? String, made.catalog.item(id)?.title)
                XCTAssertEqual(hit["itc_score"] as? NSNumber, hit["score"] as? NSNumber)
                XCTAssertNil(hit["itm_score"])
            }
            // The scores are the cosines of the model's own embeddings: the top score is the best over all rows.
            XCTAssertLessThanOrEqual(scores[0], 1.0001)
        }
    }

    func testRerankOrdersTheITCTopByMatchProbability() async throws {
        let (app, _) = try app()
        try await app.test(.router) { client in
            let plain = try await client.execute(uri: "/search/text", method: .post,
                                                 body: ByteBuffer(string: #"{"query": "white cotton shirt", "k": 8}"#))
            let body = ByteBuffer(string: #"{"query": "white cotton shirt", "k": 8, "rerank": true, "rerank_k": 4}"#)
            let r = try await client.execute(uri: "/search/text", method: .post, body: body)
            XCTAssertEqual(r.status, .ok, String(buffer: r.body))
            XCTAssertEqual(try self.object(r.body)["reranked"] as? Bool, true)
            let hits = try self.results(r.body), before = try self.results(plain.body)
            XCTAssertEqual(hits.count, 8)
            let itm = hits.prefix(4).compactMap { ($0["itm_score"] as? NSNumber)?.floatValue }
            XCTAssertEqual(itm.count, 4, "the top 4 carry both scores")
            XCTAssertEqual(itm, itm.sorted(by: >))
            XCTAssertTrue(itm.allSatisfy { (0...1).contains($0) })
            XCTAssertTrue(hits.dropFirst(4).allSatisfy { $0["itm_score"] == nil })
            // The same four products as ITC's top 4, re-ordered; the rest keep ITC's order.
            let id = { (h: [String: Any]) in (h["id"] as? NSNumber)?.int64Value ?? -1 }
            XCTAssertEqual(Set(hits.prefix(4).map(id)), Set(before.prefix(4).map(id)))
            XCTAssertEqual(hits.dropFirst(4).map(id), before.dropFirst(4).map(id))
        }
    }

    func testBadRequestsGetJSONErrors() async throws {
        let (app, made) = try app()
        let known = try XCTUnwrap(made.catalog.productIDs.first)
        let unknown = (made.catalog.productIDs.max() ?? 0) + 1000
        try await app.test(.router) { client in
            try self.assertError(try await client.execute(uri: "/items/\(unknown)", method: .get), .notFound, "unknown_item")
            try self.assertError(try await client.execute(uri: "/items/\(unknown)/image", method: .get), .notFound, "unknown_item")
            try self.assertError(try await client.execute(uri: "/items/\(unknown)/similar", method: .get), .notFound, "unknown_item")
            try self.assertError(try await client.execute(uri: "/items/..%2F..%2Fetc%2Fpasswd", method: .get), .badRequest, "invalid_id")
            try self.assertError(try await client.execute(uri: "/items/../../etc/passwd", method: .get), .notFound, "not_found")
            try self.assertError(try await client.execute(uri: "/nowhere", method: .get), .notFound, "not_found")
            try self.assertError(try await client.execute(uri: "/items/\(known)/similar?k=0", method: .get), .badRequest, "invalid_k")
            try self.assertError(try await client.execute(uri: "/search/text", method: .post, body: ByteBuffer(string: #"{"query": "   "}"#)),
                                 .badRequest, "empty_query")
            try self.assertError(try await client.execute(uri: "/search/text", method: .post, body: ByteBuffer(string: "not json")),
                                 .badRequest, "invalid_json")
            let long = String(repeating: "a", count: 5000)
            try self.assertError(try await client.execute(uri: "/search/text", method: .post, body: ByteBuffer(string: #"{"query": "\#(long)"}"#)),
                                 .badRequest, "query_too_long")
            let huge = ByteBuffer(string: #"{"query": ""# + String(repeating: "b", count: 100 << 10) + #""}"#)
            try self.assertError(try await client.execute(uri: "/search/text", method: .post, body: huge), .contentTooLarge, "payload_too_large")
            try self.assertError(try await client.execute(uri: "/search/text", method: .post,
                                                          body: ByteBuffer(string: #"{"query": "shirt", "rerank": true, "rerank_k": 500}"#)),
                                 .badRequest, "invalid_rerank_k")
            // Uploads: over the 64 KiB limit, not an image, an image type that is not JPEG/PNG, a truncated PNG.
            var big = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            big += Data(repeating: 7, count: 70 << 10)
            try self.assertError(try await client.execute(uri: "/search/image", method: .post, headers: [.contentType: "image/png"],
                                                          body: ByteBuffer(bytes: big)), .contentTooLarge, "payload_too_large")
            try self.assertError(try await client.execute(uri: "/search/image", method: .post, body: ByteBuffer(string: "hello, not an image")),
                                 .unsupportedMediaType, "unsupported_media_type")
            try self.assertError(try await client.execute(uri: "/search/image", method: .post, headers: [.contentType: "image/gif"],
                                                          body: ByteBuffer(string: "GIF89a")), .unsupportedMediaType, "unsupported_media_type")
            // A PNG whose header announces 117901063² pixels (the decompression-bomb guard), and a real PNG cut short.
            try self.assertError(try await client.execute(uri: "/search/image", method: .post, headers: [.contentType: "image/png"],
                                                          body: ByteBuffer(bytes: big.prefix(40))), .contentTooLarge, "image_too_large")
            let png = Data(try await client.execute(uri: "/items/\(known)/image", method: .get).body.readableBytesView)
            try self.assertError(try await client.execute(uri: "/search/image", method: .post, headers: [.contentType: "image/png"],
                                                          body: ByteBuffer(bytes: png.prefix(png.count / 2))), .badRequest, "undecodable_image")
            // Still serving afterwards.
            let ok = try await client.execute(uri: "/items/\(known)", method: .get)
            XCTAssertEqual(ok.status, .ok)
        }
    }

    func testItemImageSimilarAndImageSearch() async throws {
        let (app, made) = try app()
        let ids = Array(made.catalog.rowsOfProduct.keys.sorted().prefix(3))
        try await app.test(.router) { client in
            for id in ids {
                let item = try self.object(try await client.execute(uri: "/items/\(id)", method: .get).body)
                XCTAssertEqual((item["id"] as? NSNumber)?.int64Value, id)
                XCTAssertEqual(item["title"] as? String, made.catalog.item(id)?.title)

                let png = try await client.execute(uri: "/items/\(id)/image", method: .get)
                XCTAssertEqual(png.status, .ok)
                XCTAssertEqual(png.headers[.contentType], "image/png")
                let bytes = Data(png.body.readableBytesView)
                let image = try ImageDecoder().decode(data: bytes, name: "item")
                let row = try XCTUnwrap(made.catalog.rowsOfProduct[id]?.first)
                XCTAssertEqual(image.pixels, try made.catalog.file.image(row), "the catalog image, losslessly")

                let similar = try self.results(try await client.execute(uri: "/items/\(id)/similar?k=4", method: .get).body)
                XCTAssertEqual(similar.count, 4)
                XCTAssertFalse(similar.contains { ($0["id"] as? NSNumber)?.int64Value == id }, "the item itself is not 'more like this'")

                // Its own image, uploaded, finds the item first (the same pixels, the same preprocessing: cosine 1).
                let found = try self.results(try await client.execute(uri: "/search/image?k=3", method: .post,
                                                                      headers: [.contentType: "image/png"], body: ByteBuffer(bytes: bytes)).body)
                XCTAssertEqual((found.first?["id"] as? NSNumber)?.int64Value, id)
                XCTAssertEqual((found.first?["score"] as? NSNumber)?.floatValue ?? 0, 1, accuracy: 1e-4)
            }
        }
    }

    func testImageToTextSearchWithRerank() async throws {
        let (app, made) = try app()
        let id = try XCTUnwrap(made.catalog.rowsOfProduct.keys.sorted().first)
        try await app.test(.router) { client in
            let png = try await client.execute(uri: "/items/\(id)/image", method: .get).body
            let plain = try await client.execute(uri: "/search/image?k=6&target=text", method: .post, headers: [.contentType: "image/png"], body: png)
            XCTAssertEqual(plain.status, .ok, String(buffer: plain.body))
            let hits = try self.results(plain.body)
            XCTAssertEqual(hits.count, 6)
            let scores = hits.compactMap { ($0["itc_score"] as? NSNumber)?.floatValue }
            XCTAssertEqual(scores, scores.sorted(by: >))
            // The scores are cosines with the catalog's text embeddings: the best equals the exact index's best.
            let rowHits = try made.engine.index.nearest(try made.engine.index.embedding(slot: try XCTUnwrap(made.catalog.rowsOfProduct[id]?.first), in: .image).unsqueeze(0),
                                                        in: .text, k: 1)
            XCTAssertEqual(scores[0], try XCTUnwrap(rowHits.first?.first).score, accuracy: 1e-4)
            let r = try await client.execute(uri: "/search/image?k=6&target=text&rerank_k=3", method: .post, headers: [.contentType: "image/png"], body: png)
            XCTAssertEqual(r.status, .ok, String(buffer: r.body))
            XCTAssertEqual(try self.object(r.body)["reranked"] as? Bool, true)
            let reranked = try self.results(r.body)
            let itm = reranked.prefix(3).compactMap { ($0["itm_score"] as? NSNumber)?.floatValue }
            XCTAssertEqual(itm.count, 3)
            XCTAssertEqual(itm, itm.sorted(by: >))
            let ids = { (h: [[String: Any]]) in h.map { ($0["id"] as? NSNumber)?.int64Value ?? -1 } }
            XCTAssertEqual(Set(ids(Array(reranked.prefix(3)))), Set(ids(Array(hits.prefix(3)))), "the ITC top 3, re-ordered")
            XCTAssertEqual(ids(Array(reranked.dropFirst(3))), ids(Array(hits.dropFirst(3))))
            try self.assertError(try await client.execute(uri: "/search/image?target=sound", method: .post, headers: [.contentType: "image/png"], body: png),
                                 .badRequest, "invalid_target")
            try self.assertError(try await client.execute(uri: "/search/image?rerank_k=3", method: .post, headers: [.contentType: "image/png"], body: png),
                                 .badRequest, "rerank_unavailable")
        }
    }

    func testOpenAPIDocumentListsExactlyTheRoutes() async throws {
        let made = try SearchFixture.get()
        let router = buildRouter(engine: made.engine)
        let registered = Set(router.routes.map { "\($0.method) \($0.path)" }.map { $0 == "GET " ? "GET /" : $0 })
        XCTAssertEqual(registered, Set(SearchController.routes))
        try await buildApplication(engine: made.engine).test(.router) { client in
            let r = try await client.execute(uri: "/openapi.json", method: .get)
            let doc = try self.object(r.body)
            let paths = try XCTUnwrap(doc["paths"] as? [String: [String: Any]])
            let documented = Set(paths.flatMap { path, ops in ops.keys.map { "\($0.uppercased()) \(path)" } })
            XCTAssertEqual(documented, registered, "every route is documented and every documented route exists")
        }
    }

    func testHealthPageAndMetrics() async throws {
        let (app, made) = try app()
        try await app.test(.router) { client in
            let health = try self.object(try await client.execute(uri: "/healthz", method: .get).body)
            XCTAssertEqual(health["status"] as? String, "ok")
            XCTAssertEqual(health["rows"] as? String, "\(made.catalog.rowCount)")
            let page = try await client.execute(uri: "/", method: .get)
            XCTAssertEqual(page.headers[.contentType], "text/html; charset=utf-8")
            let html = String(buffer: page.body)
            for needle in ["/search/text", "/search/image", "/similar", "rerank", "drop"] { XCTAssertTrue(html.contains(needle), needle) }
            XCTAssertFalse(html.contains("http://") || html.contains("https://"), "no external assets")
            _ = try await client.execute(uri: "/search/text", method: .post, body: ByteBuffer(string: #"{"query": "dress", "k": 2}"#))
            _ = try await client.execute(uri: "/items/abc", method: .get)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            XCTAssertTrue(metrics.contains(#"fashionvl_search_requests_total{route="/search/text",method="POST",status="200"} 1"#), metrics)
            XCTAssertTrue(metrics.contains(#"route="/items/{id}",method="GET",status="400"} 1"#), metrics)
            XCTAssertTrue(metrics.contains("fashionvl_search_request_duration_seconds_bucket"), metrics)
        }
    }
}
