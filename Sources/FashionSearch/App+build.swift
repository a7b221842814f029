// buildApplication: the whole service from an engine and limits, testable in-process (`app.test(.router)`);
// `fashionvl serve` only opens the engine and runs what this returns (SIGTERM/SIGINT shut it down gracefully).
import Foundation
import Hummingbird
import Logging
import Prometheus

public struct SearchLimits: Sendable {
    /// Largest image upload and largest JSON body, in bytes.
    public var maxUploadBytes = 4 << 20
    public var maxJSONBytes = 64 << 10
    /// Requests running or waiting for the model before 503.
    public var queueLimit = 32

    public init(maxUploadBytes: Int = 4 << 20, maxJSONBytes: Int = 64 << 10, queueLimit: Int = 32) {
        self.maxUploadBytes = maxUploadBytes
        self.maxJSONBytes = maxJSONBytes
        self.queueLimit = queueLimit
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
    SearchController(engine: engine, pool: pool ?? InferencePool(queueLimit: limits.queueLimit), limits: limits, registry: registry)
        .add(to: router)
    return router
}

public func buildApplication(engine: SearchEngine, host: String = "127.0.0.1", port: Int = 8080,
                             limits: SearchLimits = SearchLimits(), logger: Logger = Logger(label: "fashionvl.search"),
                             logRequests: Logger.Level? = nil) -> some ApplicationProtocol
{
    Application(router: buildRouter(engine: engine, limits: limits, logger: logger, logRequests: logRequests),
                configuration: .init(address: .hostname(host, port: port), serverName: "fashionvl"), logger: logger)
}
