/// Persistent, non-trained state of a module (BatchNorm's running statistics, position ids): saved in the
/// state dict, never handed to an optimizer.
public final class Buffer {
    public var value: Tensor
    public init(_ value: Tensor) { self.value = value }
}

/// Base class of layers and models. Parameters, buffers and submodules are found by reflection on stored
/// properties, in declaration order, and named as PyTorch names them in a state dict:
///  - a `Tensor` or `Tensor?` property is a parameter (`weight`, `bias`),
///  - a `Buffer` property is a buffer,
///  - a `Module` property is a submodule (`attn.q.weight`), a `[Module]` property a list (`blocks.1.attn…`).
/// The property name is the key; `keys` renames properties whose PyTorch name is not a Swift identifier
/// (e.g. `["linear": "0", "norm": "1"]` for an `nn.Sequential`).
open class Module {
    public private(set) var training = true

    public init() {}

    /// Property name → state-dict key, for names Swift cannot spell.
    open var keys: [String: String] { [:] }

    /// Switches this module and all submodules to training (true) or evaluation (false) mode.
    public func train(_ on: Bool = true) {
        training = on
        for (_, child) in children() { child.train(on) }
    }

    public func eval() { train(false) }

    private enum Entry {
        case parameter(Tensor)
        case buffer(Buffer)
        case module(Module)
    }

    private func entries() -> [(String, Entry)] {
        var out: [(String, Entry)] = []
        var mirrors: [Mirror] = []
        var m: Mirror? = Mirror(reflecting: self)
        while let mm = m { mirrors.append(mm); m = mm.superclassMirror }
        for mirror in mirrors.reversed() {
            for child in mirror.children {
                guard let label = child.label else { continue }
                let key = keys[label] ?? label
                switch child.value {
                case let t as Tensor: out.append((key, .parameter(t)))
                case let b as Buffer: out.append((key, .buffer(b)))
                case let mod as Module: out.append((key, .module(mod)))
                case let list as [Module]:
                    for (i, mod) in list.enumerated() { out.append(("\(key).\(i)", .module(mod))) }
                default: continue
                }
            }
        }
        return out
    }

    /// Direct submodules with their keys.
    public func children() -> [(String, Module)] {
        entries().compactMap { if case let .module(m) = $0.1 { return ($0.0, m) } else { return nil } }
    }

    /// All parameters with dotted names. A tensor reachable under two names (tied weights) is listed once,
    /// under its first name, unless `removeDuplicates` is false.
    public func namedParameters(removeDuplicates: Bool = true) -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Tensor)] = []
        collect(prefix: "", into: &out, buffers: false)
        guard removeDuplicates else { return out }
        return out.filter { seen.insert(ObjectIdentifier($0.1)).inserted }
    }

    public func parameters() -> [Tensor] { namedParameters().map(\.1) }

    /// All buffers with dotted names.
    public func namedBuffers() -> [(String, Buffer)] {
        var out: [(String, Buffer)] = []
        collectBuffers(prefix: "", into: &out)
        return out
    }

    /// Parameters and buffers in PyTorch's state-dict order (each module's own entries first, then its
    /// children), tied tensors under every name.
    public func stateDict() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        collect(prefix: "", into: &out, buffers: true)
        return out
    }

    private func collect(prefix: String, into out: inout [(String, Tensor)], buffers: Bool) {
        let es = entries()
        for (key, e) in es {
            switch e {
            case let .parameter(t): out.append((prefix + key, t))
            case let .buffer(b): if buffers { out.append((prefix + key, b.value)) }
            case .module: continue
            }
        }
        for (key, e) in es { if case let .module(m) = e { m.collect(prefix: prefix + key + ".", into: &out, buffers: buffers) } }
    }

    private func collectBuffers(prefix: String, into out: inout [(String, Buffer)]) {
        for (key, e) in entries() {
            switch e {
            case let .buffer(b): out.append((prefix + key, b))
            case let .module(m): m.collectBuffers(prefix: prefix + key + ".", into: &out)
            case .parameter: continue
            }
        }
    }

    /// Total number of parameter elements (tied tensors counted once).
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.numel } }

    /// Copies `values` into this module's parameters and buffers, by name, checking every shape. With
    /// `strict`, missing and unexpected keys are errors; `optional` names may be absent from `values`. Every
    /// checkpoint of every family loads here, so the values are checked here too: a floating-point parameter
    /// must come as floating-point numbers (integers or booleans are a damaged or foreign file, not weights) and
    /// all of them finite (NaN/Inf weights would only show up as NaN outputs or losses later).
    /// Fails before changing anything when any key, shape, dtype or value does not match.
    public func loadStateDict(_ values: [String: Tensor], strict: Bool = true, optional: Set<String> = []) throws {
        let own = stateDict()
        let ownNames = Set(own.map(\.0))
        let parameterNames = Set(namedParameters(removeDuplicates: false).map(\.0))
        var missing: [String] = [], mismatched: [String] = []
        for (name, t) in own {
            guard let v = values[name] else {
                if !optional.contains(name) { missing.append(name) }
                continue
            }
            if v.shape != t.shape {
                mismatched.append("\(name): expected \(t.shape), got \(v.shape)")
            } else if parameterNames.contains(name), t.dtype.isFloatingPoint {
                if !v.dtype.isFloatingPoint {
                    mismatched.append("\(name): dtype \(v.dtype), expected floating-point weights")
                } else if v.numel > 0 {
                    let bad = try v.isfinite().logicalNot().sum().itemInt()
                    if bad > 0 { mismatched.append("\(name): \(bad) of \(v.numel) values are not finite (NaN/Inf)") }
                }
            }
        }
        let unexpected = values.keys.filter { !ownNames.contains($0) }.sorted()
        if !mismatched.isEmpty || (strict && (!missing.isEmpty || !unexpected.isEmpty)) {
            throw TorchError.stateDict(missing: missing, unexpected: strict ? unexpected : [], mismatched: mismatched)
        }
        try Torch.noGrad {
            for (name, t) in own {
                guard let v = values[name] else { continue }
                try t.copy_(v.dtype == t.dtype ? v : v.to(dtype: t.dtype))
            }
        }
    }

    /// Moves every parameter and buffer to `device` (optionally converting floating-point ones to `dtype`).
    /// Parameters keep their identity (PyTorch's `param.data = …`), so optimizers built before stay valid.
    public func to(_ device: Device, dtype: DType? = nil) throws {
        try Torch.noGrad {
            for (_, b) in namedBuffers() {
                b.value = try b.value.to(device: device)
                if let dtype, b.value.dtype.isFloatingPoint { b.value = try b.value.to(dtype: dtype) }
            }
            for p in parameters() {
                var v = try p.to(device: device)
                if let dtype, v.dtype.isFloatingPoint { v = try v.to(dtype: dtype) }
                try p.setData(v)
            }
        }
    }
}
