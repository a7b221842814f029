// A minimal blocking HTTP/1.1 client over one keep-alive TCP connection to 127.0.0.1 (never another host): what
// the load test and the abuse tests need — whole requests, or raw bytes at any pace (a slow body, a slow head),
// and each response read by its Content-Length. POSIX sockets, one connection per thread.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct LoopbackResponse: Sendable {
    public var status: Int
    /// Header names lower-cased.
    public var headers: [String: String]
    public var body: Data
}

public enum LoopbackError: Error, CustomStringConvertible {
    case socket(String)
    /// The server closed the connection (before or during a response).
    case closed
    case malformed(String)

    public var description: String {
        switch self {
        case let .socket(s): return "loopback client: \(s)"
        case .closed: return "loopback client: the server closed the connection"
        case let .malformed(s): return "loopback client: malformed response: \(s)"
        }
    }
}

public final class LoopbackConnection {
    private var fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:`port`; reads wait at most `timeout` seconds.
    public init(port: Int, timeout: Double = 30) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoopbackError.socket("socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw LoopbackError.socket("connect 127.0.0.1:\(port): \(reason)")
        }
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Writes all of `bytes`.
    public func send(_ bytes: some Collection<UInt8>) throws {
        let data = Array(bytes)
        var sent = 0
        while sent < data.count {
            let n = data[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw n == 0 ? LoopbackError.closed : LoopbackError.socket("send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// The head of a request with a Content-Length of `bodyCount` (the body is sent separately, or by `request`).
    public static func head(_ method: String, _ path: String, headers: [String: String] = [:], bodyCount: Int) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(bodyCount)\r\n"
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { text += "\(k): \(v)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    /// One request and its response on this connection.
    public func request(_ method: String, _ path: String, headers: [String: String] = [:], body: Data = Data()) throws -> LoopbackResponse {
        try send(Self.head(method, path, headers: headers, bodyCount: body.count) + Array(body))
        return try readResponse()
    }

    /// Reads one response: status line, headers, then Content-Length bytes of body.
    public func readResponse() throws -> LoopbackResponse {
        var end: Int?
        while true {
            if let e = headEnd() { end = e; break }
            try fill()
        }
        guard let end, let text = String(bytes: buffer[..<end], encoding: .utf8) else { throw LoopbackError.malformed("head is not UTF-8") }
        buffer.removeFirst(end + 4)
        let lines = text.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw LoopbackError.malformed("status line \"\(lines[0])\"") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        guard let length = headers["content-length"].flatMap(Int.init) else {
            throw LoopbackError.malformed("no Content-Length (chunked responses are not read by this client)")
        }
        while buffer.count < length { try fill() }
        let body = Data(buffer[..<length])
        buffer.removeFirst(length)
        return LoopbackResponse(status: status, headers: headers, body: body)
    }

    /// True when the server closes the connection (a read returns end of file) within the read timeout; false if
    /// bytes arrive instead or the timeout passes.
    public func closedByServer() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { throw LoopbackError.closed }
        guard n > 0 else {
            throw LoopbackError.socket(errno == EAGAIN || errno == EWOULDBLOCK ? "no response within the read timeout" : "recv: \(String(cString: strerror(errno)))")
        }
        buffer += chunk[..<n]
    }
}
