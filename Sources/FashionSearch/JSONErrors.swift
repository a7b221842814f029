// Every error leaves the service as {"error": {"code": "...", "message": "..."}} with its HTTP status: the
// engine's `SearchRequestError`s as they are, Hummingbird's own (an unknown route, a body over the limit) mapped
// to codes, anything else a 500 whose message is logged rather than sent.
import Foundation
import Hummingbird
import Logging

extension SearchRequestError {
    var httpStatus: HTTPResponse.Status { HTTPResponse.Status(code: status) }

    static func json(_ status: HTTPResponse.Status, code: String, message: String) -> Response {
        let body = ["error": ["code": code, "message": message]]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as SearchRequestError {
            return SearchRequestError.json(e.httpStatus, code: e.code, message: e.message)
        } catch let e as HTTPError {
            let code: String
            switch e.status {
            case .notFound: code = "not_found"
            case .contentTooLarge: code = "payload_too_large"
            case .methodNotAllowed: code = "method_not_allowed"
            case .badRequest: code = "bad_request"
            default: code = "http_\(e.status.code)"
            }
            return SearchRequestError.json(e.status, code: code, message: e.body ?? e.status.reasonPhrase)
        } catch let e as DecodingError {
            return SearchRequestError.json(.badRequest, code: "invalid_json", message: "the body is not the JSON expected: \(e)")
        } catch {
            logger.error("\(request.method) \(request.uri.path): \(error)")
            return SearchRequestError.json(.internalServerError, code: "internal", message: "the server failed on this request (logged)")
        }
    }
}
