// Arithmetic operators on tensors and scalars. They throw like every op: write `try a + b * 2`.

extension Tensor {
    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.add(b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.sub(b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.mul(b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.div(b) }
    public static func + (a: Tensor, b: Double) throws -> Tensor { try a.add(b) }
    public static func - (a: Tensor, b: Double) throws -> Tensor { try a.sub(b) }
    public static func * (a: Tensor, b: Double) throws -> Tensor { try a.mul(b) }
    public static func / (a: Tensor, b: Double) throws -> Tensor { try a.div(b) }
    public static func + (a: Double, b: Tensor) throws -> Tensor { try b.add(a) }
    public static func - (a: Double, b: Tensor) throws -> Tensor { try b.rsub(a) }
    public static func * (a: Double, b: Tensor) throws -> Tensor { try b.mul(a) }
    public static prefix func - (a: Tensor) throws -> Tensor { try a.neg() }

    /// Matrix product (PyTorch's `@`).
    public static func .* (a: Tensor, b: Tensor) throws -> Tensor { try a.matmul(b) }

    /// Reduction modes of the loss functions (PyTorch's `reduction=`).
    public enum Reduction: Int {
        case none = 0, mean = 1, sum = 2
    }
}

infix operator .* : MultiplicationPrecedence
