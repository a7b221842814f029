import CTorch

/// Host element types that map to a tensor dtype.
public protocol TensorElement {
    static var dtype: DType { get }
}
extension Float: TensorElement { public static var dtype: DType { .float32 } }
extension Double: TensorElement { public static var dtype: DType { .float64 } }
extension Int64: TensorElement { public static var dtype: DType { .int64 } }
extension Int32: TensorElement { public static var dtype: DType { .int32 } }
extension UInt8: TensorElement { public static var dtype: DType { .uint8 } }
extension Bool: TensorElement { public static var dtype: DType { .bool } }

/// A libtorch tensor. The handle is owned by this object and released when ARC frees it. Ops are generated
/// from ops.def (Ops/Tensor+<Section>.swift, one file per section) and read like PyTorch: `try x.matmul(w).softmax(dim: -1)`.
public final class Tensor: @unchecked Sendable {
    public let handle: OpaquePointer

    /// Takes ownership of a handle returned by libctorch.
    public init(owning handle: OpaquePointer) { self.handle = handle }

    deinit { ctorch_free(handle) }

    // MARK: calling libctorch

    static func lastError() -> String { String(cString: ctorch_last_error()) }

    /// Throws the pending libctorch error when `status` is non-zero.
    @inline(__always)
    public static func check(_ op: String, _ status: Int32) throws {
        if status != 0 { throw TorchError.libtorch(op: op, message: lastError()) }
    }

    @inline(__always)
    static func make(_ op: String, _ body: (UnsafeMutablePointer<OpaquePointer?>) -> Int32) throws -> Tensor {
        var out: OpaquePointer?
        try check(op, body(&out))
        guard let h = out else { throw TorchError.libtorch(op: op, message: "returned no tensor") }
        return Tensor(owning: h)
    }

    static func makeTuple2(_ op: String, _ body: (UnsafeMutablePointer<OpaquePointer?>) -> Int32) throws
        -> (Tensor, Tensor) {
        var out: [OpaquePointer?] = [nil, nil]
        try check(op, out.withUnsafeMutableBufferPointer { body($0.baseAddress!) })
        return (Tensor(owning: out[0]!), Tensor(owning: out[1]!))
    }

    static func makeTuple3(_ op: String, _ body: (UnsafeMutablePointer<OpaquePointer?>) -> Int32) throws
        -> (Tensor, Tensor, Tensor) {
        var out: [OpaquePointer?] = [nil, nil, nil]
        try check(op, out.withUnsafeMutableBufferPointer { body($0.baseAddress!) })
        return (Tensor(owning: out[0]!), Tensor(owning: out[1]!), Tensor(owning: out[2]!))
    }

    static func makeList(
        _ op: String,
        _ body: (UnsafeMutablePointer<UnsafeMutablePointer<OpaquePointer?>?>, UnsafeMutablePointer<Int64>) -> Int32
    ) throws -> [Tensor] {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        var count: Int64 = 0
        try check(op, body(&list, &count))
        guard let list else { return [] }
        defer { ctorch_free_list(list) }
        return (0..<Int(count)).map { Tensor(owning: list[$0]!) }
    }

    // MARK: host data

    /// A tensor holding a copy of `values` with the given shape.
    public convenience init<T: TensorElement>(_ values: [T], shape: [Int], device: Device = .cpu) throws {
        let n = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), n == values.count else {
            throw TorchError.shapeMismatch(op: "Tensor.init", expected: [values.count], actual: shape)
        }
        let h = try Tensor.fromHost(values, shape: shape, dtype: T.dtype, device: device)
        self.init(owning: h)
    }

    /// A 1-D tensor holding a copy of `values`.
    public convenience init<T: TensorElement>(_ values: [T], device: Device = .cpu) throws {
        try self.init(values, shape: [values.count], device: device)
    }

    /// A 0-dimensional tensor.
    public convenience init<T: TensorElement>(scalar: T, device: Device = .cpu) throws {
        try self.init([scalar], shape: [], device: device)
    }

    /// A tensor copied from raw bytes of the given dtype (used by safetensors and batches).
    public static func fromBytes(_ bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType,
                                 device: Device = .cpu) throws -> Tensor {
        let n = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), n * dtype.itemSize == bytes.count else {
            throw TorchError.shapeMismatch(op: "Tensor.fromBytes", expected: [bytes.count / Swift.max(dtype.itemSize, 1)],
                                           actual: shape)
        }
        let dims = shape.map(Int64.init)
        return try make("from_host") { out in
            dims.withUnsafeBufferPointer { ctorch_from_host(out, bytes.baseAddress, $0.baseAddress, Int64(dims.count),
                                                            dtype.rawValue, device.code) }
        }
    }

    private static func fromHost<T>(_ values: [T], shape: [Int], dtype: DType, device: Device) throws
        -> OpaquePointer {
        let dims = shape.map(Int64.init)
        var out: OpaquePointer?
        let status = values.withUnsafeBytes { bytes in
            dims.withUnsafeBufferPointer {
                ctorch_from_host(&out, bytes.baseAddress, $0.baseAddress, Int64(dims.count), dtype.rawValue, device.code)
            }
        }
        try check("from_host", status)
        guard let h = out else { throw TorchError.libtorch(op: "from_host", message: "returned no tensor") }
        return h
    }

    /// A copy in page-locked host memory, so that `to(device:nonBlocking: true)` copies to the GPU asynchronously
    /// (throws without CUDA).
    public func pinned() throws -> Tensor { try Tensor.make("pin_memory") { ctorch_pin_memory($0, handle) } }

    /// Copies the elements to a Swift array (the tensor is moved to the CPU and made contiguous first).
    public func toArray<T: TensorElement>(_: T.Type = T.self) throws -> [T] {
        guard dtype == T.dtype else { throw TorchError.dtypeMismatch(op: "toArray", expected: T.dtype, actual: dtype) }
        let n = numel
        var out = [T](unsafeUninitializedCapacity: n) { _, count in count = n }
        try out.withUnsafeMutableBytes { try Tensor.check("to_host", ctorch_to_host(handle, $0.baseAddress, $0.count)) }
        return out
    }

    /// Copies the raw bytes of the tensor (contiguous, on the CPU).
    public func toBytes() throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: numel * dtype.itemSize)
        try out.withUnsafeMutableBytes { try Tensor.check("to_host", ctorch_to_host(handle, $0.baseAddress, $0.count)) }
        return out
    }

    /// The value of a one-element tensor.
    public func item() throws -> Double {
        var v = 0.0
        try Tensor.check("item", ctorch_item_double(&v, handle))
        return v
    }

    public func itemInt() throws -> Int {
        var v: Int64 = 0
        try Tensor.check("item", ctorch_item_int64(&v, handle))
        return Int(v)
    }

    // MARK: metadata

    public var shape: [Int] {
        let n = Int(ctorch_ndim(handle))
        var dims = [Int64](repeating: 0, count: n)
        dims.withUnsafeMutableBufferPointer { ctorch_shape(handle, $0.baseAddress) }
        return dims.map(Int.init)
    }

    public var ndim: Int { Int(ctorch_ndim(handle)) }
    public var numel: Int { Int(ctorch_numel(handle)) }
    public var dtype: DType { DType(rawValue: ctorch_dtype(handle)) ?? .float32 }
    public var device: Device { Device(code: ctorch_device(handle)) }
    public var isContiguous: Bool { ctorch_is_contiguous(handle) != 0 }

    /// Size of one dimension (negative indices count from the end).
    public func size(_ dim: Int) -> Int {
        let s = shape
        return s[dim < 0 ? dim + s.count : dim]
    }

    /// A second handle to the same tensor (same storage, same autograd identity).
    public func share() throws -> Tensor { try Tensor.make("share") { ctorch_share($0, handle) } }

    public func sharesStorage(with other: Tensor) -> Bool { ctorch_data_ptr_equal(handle, other.handle) != 0 }

    // MARK: autograd

    public var requiresGrad: Bool { ctorch_requires_grad(handle) != 0 }

    /// Marks the tensor as a leaf whose gradient is accumulated by `backward()`.
    @discardableResult
    public func requiresGrad(_ flag: Bool) throws -> Tensor {
        try Tensor.check("set_requires_grad", ctorch_set_requires_grad(handle, flag ? 1 : 0))
        return self
    }

    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) throws {
        try Tensor.check("backward", ctorch_backward(handle, gradient?.handle, retainGraph ? 1 : 0))
    }

    /// The accumulated gradient, or nil when none was computed.
    public var grad: Tensor? {
        var out: OpaquePointer?
        guard ctorch_grad(&out, handle) == 0, let h = out else { return nil }
        return Tensor(owning: h)
    }

    /// Replaces the gradient (nil clears it, as `zero_grad(set_to_none=True)`).
    public func setGrad(_ g: Tensor?) throws {
        try Tensor.check("set_grad", ctorch_set_grad(handle, g?.handle))
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(shape: \(shape), dtype: \(dtype), device: \(device))" }
}
