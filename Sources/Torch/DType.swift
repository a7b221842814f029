import CTorch

/// Element types a tensor can hold (codes shared with libctorch's `enum ctorch_dtype`).
public enum DType: Int32, CaseIterable, Sendable, CustomStringConvertible {
    case float32 = 0, bfloat16 = 1, float16 = 2, int64 = 3, int32 = 4, uint8 = 5, bool = 6, float64 = 7

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .bfloat16, .float16: return 2
        case .int64, .float64: return 8
        case .uint8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool { [.float32, .bfloat16, .float16, .float64].contains(self) }

    /// The safetensors name of the dtype (F32, BF16, …).
    public var safetensorsName: String {
        switch self {
        case .float32: return "F32"
        case .bfloat16: return "BF16"
        case .float16: return "F16"
        case .int64: return "I64"
        case .int32: return "I32"
        case .uint8: return "U8"
        case .bool: return "BOOL"
        case .float64: return "F64"
        }
    }

    public init?(safetensorsName: String) {
        guard let d = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = d
    }

    public var description: String { Self.names[Int(rawValue)] }
    private static let names = ["float32", "bfloat16", "float16", "int64", "int32", "uint8", "bool", "float64"]
}

/// Where a tensor lives.
public enum Device: Equatable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    /// libctorch's device code: 0 = cpu, k + 1 = cuda:k.
    public var code: Int32 {
        switch self {
        case .cpu: return 0
        case let .cuda(i): return Int32(i + 1)
        }
    }

    init(code: Int32) { self = code <= 0 ? .cpu : .cuda(Int(code) - 1) }

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case let .cuda(i): return "cuda:\(i)"
        }
    }

    /// Parses "cpu", "cuda" or "cuda:N".
    public init(parsing text: String) throws {
        if text == "cpu" { self = .cpu; return }
        if text == "cuda" { self = .cuda(0); return }
        if text.hasPrefix("cuda:"), let i = Int(text.dropFirst(5)), i >= 0 { self = .cuda(i); return }
        throw TorchError.invalidArgument("unknown device '\(text)': expected cpu, cuda or cuda:N")
    }
}
