/// Errors raised by the Torch module. Every libtorch failure carries the op name and libtorch's message.
public enum TorchError: Error, CustomStringConvertible, Equatable {
    /// A libtorch call failed; `message` is the C++ exception's text.
    case libtorch(op: String, message: String)
    /// A host buffer or shape did not match what the tensor needs.
    case shapeMismatch(op: String, expected: [Int], actual: [Int])
    /// The tensor's dtype is not the one the operation needs.
    case dtypeMismatch(op: String, expected: DType, actual: DType)
    /// A state dict did not match a module's parameters.
    case stateDict(missing: [String], unexpected: [String], mismatched: [String])
    /// A file could not be read or written, or is malformed.
    case file(path: String, reason: String)
    /// An argument outside what the function accepts.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .libtorch(op, message): return "libtorch error in \(op): \(message)"
        case let .shapeMismatch(op, expected, actual): return "\(op): expected shape \(expected), got \(actual)"
        case let .dtypeMismatch(op, expected, actual): return "\(op): expected dtype \(expected), got \(actual)"
        case let .stateDict(missing, unexpected, mismatched):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys: \(missing.joined(separator: ", "))") }
            if !unexpected.isEmpty { parts.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
            if !mismatched.isEmpty { parts.append("mismatched: \(mismatched.joined(separator: "; "))") }
            return "state dict does not match the model: " + parts.joined(separator: "; ")
        case let .file(path, reason): return "\(path): \(reason)"
        case let .invalidArgument(message): return message
        }
    }
}
