// GET /metrics: Prometheus text of this service's own registry (not the process-wide MetricsSystem, so two
// applications in one test process keep separate counts): requests by route, method and status, and their
// latency histogram by route.
import Foundation
import Hummingbird
import Prometheus

struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let registry: PrometheusCollectorRegistry
    static var buckets: [Duration] {
        [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
         .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        // The route pattern ("/items/{id}"), not the path, so ids do not make new series.
        let route = context.endpointPath ?? "unmatched"
        registry.makeCounter(name: "fashionvl_search_requests_total",
                             labels: [("route", route), ("method", request.method.rawValue), ("status", "\(response.status.code)")])
            .increment()
        registry.makeDurationHistogram(name: "fashionvl_search_request_duration_seconds", labels: [("route", route)],
                                       buckets: Self.buckets)
            .record(ContinuousClock.now - start)
        return response
    }
}
