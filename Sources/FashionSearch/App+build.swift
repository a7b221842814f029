// buildApplication: the whole service from an engine and limits, testable in-process (`app.test(.router)`);
// `fashionvl serve` only opens the engine and runs what this returns (SIGTERM/SIGINT shut it down gracefully:
// the listener closes, requests in flight finish, then the process exits 0).
import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus

public struct SearchLimits: Sendable {
    /// Largest image upload and largest JSON body, in bytes.
    public var maxUploadBytes = 4 << 20
    public var maxJSONBytes = 64 << 10
    /// Requests running or waiting for the model before 503 `busy`.
    public var queueLimit = 32
    /// Longest wait for the model before 503 `timeout`.
    public var queueTimeout: Duration = .seconds(10)
    /// Longest time to receive a request's body once its head is in, before 408 `request_timeout` (a slow body).
    public var bodyTimeout: Duration = .seconds(10)
    /// A connection that sends nothing for this long (a slow or stalled head or body, or an idle keep-alive) is
    /// closed by the server.
    public var idleTimeout: Duration = .seconds(30)

    public init(maxUploadBytes: Int = 4 << 20, maxJSONBytes: Int = 64 << 10, queueLimit: Int = 32,
                queueTimeout: Duration = .seconds(10), bodyTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(30)) {
        self.maxUploadBytes = maxUploadBytes
        self.maxJSONBytes = maxJSONBytes
        self.queueLimit = queueLimit
        self.queueTimeout = queueTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
    }
}

/// The router of the service: request logs (at `logRequests`, when given) and metrics outermost (they see every
/// final status), JSON errors inside them.
public func buildRouter(engine: SearchEngine, limits: SearchLimits = SearchLimits(), pool: InferencePool? = nil,
                        logger: Logger = Logger(label: "fashionvl.search"), logRequests: Logger.Level? = nil) -> Router<BasicRequestContext> {
    let router = Router()
    if let logRequests { router.add(middleware: LogRequestsMiddleware(logRequests)) }
    let registry = PrometheusCollectorRegistry()
    router.add(middleware: RequestMetricsMiddleware(registry: registry))
    router.add(middleware: JSONErrorMiddleware(logger: logger))
    let pool = pool ?? InferencePool(queueLimit: limits.queueLimit, queueTimeout: limits.queueTimeout)
    SearchController(engine: engine, pool: pool, limits: limits, registry: registry).add(to: router)
    return router
}

/// The service on `host`:`port` (port 0: any free one; `onServerRunning` is given the listening channel, whose
/// `localAddress` tells the port). `pool`: the model's queue (default: one of `limits.queueLimit`).
public func buildApplication(engine: SearchEngine, host: String = "127.0.0.1", port: Int = 8080,
                             limits: SearchLimits = SearchLimits(), pool: InferencePool? = nil,
                             logger: Logger = Logger(label: "fashionvl.search"), logRequests: Logger.Level? = nil,
                             onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> some ApplicationProtocol
{
    let idle = TimeAmount.nanoseconds(Int64(limits.idleTimeout.components.seconds) * 1_000_000_000
        + limits.idleTimeout.components.attoseconds / 1_000_000_000)
    return Application(router: buildRouter(engine: engine, limits: limits, pool: pool, logger: logger, logRequests: logRequests),
                       server: .http1(configuration: .init(idleTimeout: idle)),
                       configuration: .init(address: .hostname(host, port: port), serverName: "fashionvl"),
                       onServerRunning: onServerRunning, logger: logger)
}
