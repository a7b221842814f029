// The routes. Handlers parse and check the request, hand model and catalog work to the `InferencePool`, and
// answer JSON (errors too, via JSONErrorMiddleware). `routes` lists them for the OpenAPI test.
import FashionData
import Foundation
import Hummingbird
import NIOCore
import Prometheus

public struct SearchController: Sendable {
    public let engine: SearchEngine
    public let pool: InferencePool
    public let limits: SearchLimits
    let registry: PrometheusCollectorRegistry

    /// Every route as "METHOD path" with OpenAPI's {param} syntax; the router registers exactly these.
    public static let routes = [
        "GET /", "GET /healthz", "GET /metrics", "GET /openapi.json", "POST /search/text", "POST /search/image",
        "GET /items/{id}", "GET /items/{id}/image", "GET /items/{id}/similar",
    ]

    struct TextQuery: Decodable {
        var query: String
        var k: Int?
        var rerank: Bool?
        var rerankK: Int?
        enum CodingKeys: String, CodingKey { case query, k, rerank, rerankK = "rerank_k" }
    }

    struct Results: Encodable {
        var query: String?
        var k: Int
        var reranked: Bool
        var results: [SearchHit]
        var milliseconds: Double
    }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: SearchPage.html)))
        }
        router.get("/healthz") { _, _ in
            try json(["status": "ok", "products": "\(engine.catalog.rowsOfProduct.count)", "rows": "\(engine.index.count)",
                      "family": engine.checkpoint.family, "queued": "\(pool.inFlight)"])
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: registry.emitToString())))
        }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        router.post("/search/text") { request, _ in try await searchText(request) }
        router.post("/search/image") { request, _ in try await searchImage(request) }
        router.get("/items/{id}") { _, context in
            let id = try productID(context)
            return try json(try await pool.run { try engine.item(id) })
        }
        router.get("/items/{id}/image") { _, context in
            let id = try productID(context)
            let png = try await pool.run { try engine.png(id) }
            return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "max-age=3600"],
                            body: .init(byteBuffer: ByteBuffer(bytes: png)))
        }
        router.get("/items/{id}/similar") { request, context in
            let id = try productID(context)
            let k = try queryInt(request, "k") ?? 10
            let start = ContinuousClock.now
            let hits = try await pool.run { try engine.similar(to: id, k: k) }
            return try json(Results(query: nil, k: k, reranked: false, results: hits, milliseconds: milliseconds(since: start)))
        }
    }

    private func searchText(_ request: Request) async throws -> Response {
        let body = try await collect(request, upTo: limits.maxJSONBytes, what: "a JSON query")
        let q: TextQuery
        do {
            q = try JSONDecoder().decode(TextQuery.self, from: Data(body.readableBytesView))
        } catch {
            throw SearchRequestError(400, "invalid_json", #"the body must be JSON {"query": "...", "k": 10, "rerank": false, "rerank_k": 20}"#)
        }
        let k = q.k ?? 10
        let rerank = q.rerank == true ? (q.rerankK ?? 20) : nil
        let start = ContinuousClock.now
        let hits = try await pool.run { try engine.searchText(q.query, k: k, rerank: rerank) }
        return try json(Results(query: q.query, k: k, reranked: rerank != nil, results: hits, milliseconds: milliseconds(since: start)))
    }

    private func searchImage(_ request: Request) async throws -> Response {
        let k = try queryInt(request, "k") ?? 10
        let target: EmbeddingSpace
        switch request.uri.queryParameters["target"].map { String($0) } ?? "image" {
        case "image": target = .image
        case "text": target = .text
        case let other: throw SearchRequestError(400, "invalid_target", "target is image or text, got \"\(other.prefix(32))\"")
        }
        let rerank = try queryInt(request, "rerank_k")
        if let type = request.headers[.contentType]?.lowercased(),
           !["image/png", "image/jpeg", "application/octet-stream"].contains(where: { type.hasPrefix($0) }) {
            throw SearchRequestError(415, "unsupported_media_type", "upload a JPEG or PNG image (Content-Type \(type) is neither)")
        }
        let body = try await collect(request, upTo: limits.maxUploadBytes, what: "an image")
        let bytes = Data(body.readableBytesView)
        guard Self.isPNG(bytes) || Self.isJPEG(bytes) else {
            throw SearchRequestError(415, "unsupported_media_type", "the upload is neither a JPEG nor a PNG (by its first bytes)")
        }
        let start = ContinuousClock.now
        let hits = try await pool.run { try engine.searchImage(bytes, k: k, target: target, rerank: rerank) }
        return try json(Results(query: nil, k: k, reranked: rerank != nil, results: hits, milliseconds: milliseconds(since: start)))
    }

    // MARK: Helpers

    /// The body, at most `limit` bytes: a larger Content-Length is refused before reading, a longer body on the way,
    /// and a body still arriving after `limits.bodyTimeout` gets 408 (a slow client holds no model work).
    private func collect(_ request: Request, upTo limit: Int, what: String) async throws -> ByteBuffer {
        let tooLarge = SearchRequestError(413, "payload_too_large", "\(what) may be at most \(limit) bytes")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
        let timeout = limits.bodyTimeout
        do {
            return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask { try await request.body.collect(upTo: limit) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let body = first else {
                    throw SearchRequestError(408, "request_timeout", "\(what) did not arrive within \(timeout)")
                }
                return body
            }
        } catch is NIOTooManyBytesError {
            throw tooLarge
        } catch is CancellationError {
            throw SearchRequestError(408, "request_timeout", "\(what) did not arrive within \(timeout)")
        }
    }

    private func productID(_ context: BasicRequestContext) throws -> Int64 {
        let raw = context.parameters.get("id") ?? ""
        guard let id = Int64(raw), id >= 0 else {
            throw SearchRequestError(400, "invalid_id", "a product id is a non-negative integer, got \"\(raw.prefix(64))\"")
        }
        return id
    }

    private func queryInt(_ request: Request, _ name: String) throws -> Int? {
        guard let raw = request.uri.queryParameters[name[...]] else { return nil }
        guard let v = Int(String(raw)) else { throw SearchRequestError(400, "invalid_\(name)", "\(name) must be an integer, got \"\(raw.prefix(32))\"") }
        return v
    }

    private func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    private func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    static func isPNG(_ d: Data) -> Bool { d.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) }
    static func isJPEG(_ d: Data) -> Bool { d.starts(with: [0xFF, 0xD8, 0xFF]) }
}
