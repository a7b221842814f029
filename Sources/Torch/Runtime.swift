import CTorch
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide libtorch settings.
public enum Torch {
    /// libtorch's intra-op thread count (libtorch starts with 1 here; set it explicitly).
    public static func setNumThreads(_ n: Int) { ctorch_set_num_threads(Int32(n)) }
    public static var numThreads: Int { Int(ctorch_get_num_threads()) }
    /// Seeds libtorch's default generators (prefer explicit `Generator`s).
    public static func manualSeed(_ seed: UInt64) { ctorch_manual_seed(seed) }
    /// State of libtorch's default CPU generator (dropout and ops called without a generator), for checkpoints.
    public static func defaultGeneratorState() throws -> [UInt8] {
        try Tensor.make("default_generator_get_state") { ctorch_default_generator_get_state($0) }.toArray(UInt8.self)
    }

    public static func setDefaultGeneratorState(_ bytes: [UInt8]) throws {
        let t = try Tensor(bytes)
        try Tensor.check("default_generator_set_state", ctorch_default_generator_set_state(t.handle))
    }

    /// glibc's largest mmap threshold (32 MiB on 64-bit): allocations up to it can come from the heap.
    public static let heapAllocationLimit = 32 << 20

    /// Makes glibc keep freed memory for reuse instead of returning it to the kernel: CPU tensors up to
    /// `heapAllocationLimit` bytes then come from the heap (no fresh zeroed pages, so no page faults) and a freed
    /// heap top is kept up to `retain` bytes. For inference loops that allocate the same activations every batch
    /// (the Kaleido feature cache: a third of its CPU time was page faults). Process-wide; returns whether glibc
    /// took both settings (false elsewhere).
    @discardableResult
    public static func retainFreedMemory(retain: Int = 1 << 30) -> Bool {
        #if canImport(Glibc)
        // mallopt(3) is not in Swift's Glibc module (malloc.h); M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3.
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        let mallopt = unsafeBitCast(sym, to: (@convention(c) (Int32, Int32) -> Int32).self)
        return mallopt(-3, Int32(heapAllocationLimit)) == 1 && mallopt(-1, Int32(min(retain, Int(Int32.max)))) == 1
        #else
        return false
        #endif
    }

    /// The libtorch version the shim was compiled against, e.g. "1.13.1".
    public static var version: String { String(cString: ctorch_torch_version()) }
    public static var builtWithCUDA: Bool { ctorch_built_with_cuda() != 0 }

    public static var isGradEnabled: Bool {
        get { ctorch_is_grad_enabled() != 0 }
        set { ctorch_set_grad_enabled(newValue ? 1 : 0) }
    }

    /// Runs `body` with gradient recording off (PyTorch's `torch.no_grad()`), restoring the mode afterwards.
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        let was = isGradEnabled
        isGradEnabled = false
        defer { isGradEnabled = was }
        return try body()
    }

    /// Runs `body` with CUDA autocast to `dtype` (bf16 or f16), restoring the previous state afterwards.
    public static func autocast<R>(_ dtype: DType = .bfloat16, enabled: Bool = true, _ body: () throws -> R) throws -> R {
        let was = ctorch_autocast_enabled() != 0
        try Tensor.check("set_autocast", ctorch_set_autocast(enabled ? 1 : 0, dtype.rawValue))
        defer {
            _ = ctorch_set_autocast(was ? 1 : 0, dtype.rawValue)
            if !was { ctorch_clear_autocast_cache() }
        }
        return try body()
    }
}

/// CUDA queries; every call fails cleanly (throws) on a machine without CUDA.
public enum CUDA {
    public static var isAvailable: Bool { ctorch_cuda_is_available() != 0 }
    public static var deviceCount: Int { Int(ctorch_cuda_device_count()) }

    public static func synchronize(_ device: Int = 0) throws {
        try Tensor.check("cuda_synchronize", ctorch_cuda_synchronize(Int32(device)))
    }

    public struct MemoryStats: Codable, Sendable {
        public var allocatedBytes: Int
        public var reservedBytes: Int
        public var peakAllocatedBytes: Int
    }

    public static func memoryStats(_ device: Int = 0) throws -> MemoryStats {
        var a: Int64 = 0, r: Int64 = 0, p: Int64 = 0
        try Tensor.check("cuda_memory_stats", ctorch_cuda_memory_stats(Int32(device), &a, &r, &p))
        return MemoryStats(allocatedBytes: Int(a), reservedBytes: Int(r), peakAllocatedBytes: Int(p))
    }

    public static func resetPeakMemory(_ device: Int = 0) throws {
        try Tensor.check("cuda_reset_peak", ctorch_cuda_reset_peak(Int32(device)))
    }
}

/// An explicit, seeded random stream (libtorch's Generator). Its state can be saved and restored exactly.
public final class Generator: @unchecked Sendable {
    public let handle: OpaquePointer
    public let device: Device

    public init(seed: UInt64, device: Device = .cpu) throws {
        var out: OpaquePointer?
        try Tensor.check("generator_new", ctorch_generator_new(&out, seed, device.code))
        guard let h = out else { throw TorchError.libtorch(op: "generator_new", message: "returned no generator") }
        handle = h
        self.device = device
    }

    deinit { ctorch_generator_free(handle) }

    /// The generator state as bytes (for checkpoints).
    public func state() throws -> [UInt8] {
        try Tensor.make("generator_get_state") { ctorch_generator_get_state($0, handle) }.toArray(UInt8.self)
    }

    public func setState(_ bytes: [UInt8]) throws {
        let t = try Tensor(bytes)
        try Tensor.check("generator_set_state", ctorch_generator_set_state(handle, t.handle))
    }
}
