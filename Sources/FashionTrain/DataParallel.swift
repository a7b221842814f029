import Foundation
import Torch

/// Where this process stands in a data-parallel run: its rank, the world size and how to reach rank 0.
public struct DistributedSetup: Sendable, Equatable {
    public var rank: Int
    public var worldSize: Int
    public var host: String
    public var port: Int
    /// Rank on this host (torchrun's LOCAL_RANK): picks cuda:LOCAL_RANK when the device is plain "cuda".
    public var localRank: Int
    public var backend: ProcessGroup.Backend = .gloo
    /// Gradient bucket size in bytes (each bucket is one all-reduce).
    public var bucketBytes: Int = 25 << 20
    /// Seconds a rendezvous or a collective may take before the run stops with an error.
    public var timeout: Double = 300

    public init(rank: Int, worldSize: Int, host: String, port: Int, localRank: Int? = nil) {
        (self.rank, self.worldSize, self.host, self.port) = (rank, worldSize, host, port)
        self.localRank = localRank ?? rank
    }
}

/// Data parallelism over a `ProcessGroup`, what the shared trainer and the recipes call: parameters broadcast from
/// rank 0, gradients averaged in buckets after backward, features gathered. Every rank holds a full model replica
/// and trains on its slice of each global batch.
public final class DataParallel {
    public let group: ProcessGroup
    public let bucketBytes: Int
    /// Where the small tensors of bookkeeping collectives live (NCCL reduces CUDA tensors only).
    public let device: Device
    public var rank: Int { group.rank }
    public var worldSize: Int { group.worldSize }
    /// Rank 0 writes the run folder (config, metrics, checkpoints) and prints progress.
    public var isMain: Bool { group.rank == 0 }

    public init(group: ProcessGroup, bucketBytes: Int = 25 << 20, device: Device = .cpu) {
        self.group = group
        self.bucketBytes = max(1, bucketBytes)
        self.device = device
    }

    /// Joins the group described by `setup` (TCP rendezvous at host:port).
    public convenience init(_ setup: DistributedSetup, device: Device = .cpu) throws {
        try self.init(group: ProcessGroup(rank: setup.rank, worldSize: setup.worldSize, host: setup.host, port: setup.port,
                                          backend: setup.backend, timeout: setup.timeout),
                      bucketBytes: setup.bucketBytes, device: device)
    }

    /// Copies rank 0's parameters and buffers (queues, momentum encoders, BatchNorm statistics) to every rank.
    public func broadcastState(_ model: Module) throws {
        let tensors = model.stateDict().map(\.1)
        try Torch.noGrad { try group.broadcast(tensors, root: 0) }
    }

    /// Averages the gradients of `parameters` over the ranks, in buckets of about `bucketBytes`. A parameter whose
    /// gradient exists on some ranks only (a loss term that met no labelled token on one rank) gets the average with
    /// zeros elsewhere, as one process on the whole batch would have; one without a gradient anywhere keeps none.
    public func averageGradients(_ parameters: [Tensor]) throws {
        let grads = parameters.map(\.grad)
        guard !parameters.isEmpty else { return }
        let present = try Tensor(grads.map { $0 == nil ? Float(0) : 1 }, shape: [grads.count], device: parameters[0].device)
        try group.allReduce([present], op: .max)
        let any = try present.to(device: .cpu).toArray(Float.self)
        var bucket: [(Tensor, Tensor?)] = [], bytes = 0
        func flush() throws {
            guard !bucket.isEmpty else { return }
            let flats = try bucket.map { p, g in try (g ?? p.zerosLike()).reshape([-1]) }
            let flat = try Tensor.cat(flats)
            try group.allReduce([flat], op: .average)
            var offset = 0
            for (p, g) in bucket {
                let n = p.numel
                let part = try flat.narrow(dim: 0, start: offset, length: n).view(p.shape)
                if let g { try g.copy_(part) } else { try p.setGrad(part.clone()) }
                offset += n
            }
            (bucket, bytes) = ([], 0)
        }
        try Torch.noGrad {
            for (i, p) in parameters.enumerated() where any[i] > 0 {
                bucket.append((p, grads[i]))
                bytes += p.numel * 4
                if bytes >= bucketBytes { try flush() }
            }
            try flush()
        }
    }

    /// Every rank's `tensor` (same shape everywhere) concatenated along dim 0 in rank order; no gradient.
    public func allGather(_ tensor: Tensor) throws -> Tensor {
        try Torch.noGrad { try group.allGather(tensor.detach().contiguous()) }
    }

    /// This rank's contiguous share of `n` items cut into whole units of `unit` items (the last unit may be
    /// shorter), dealt in rank order, the first `units % worldSize` ranks taking one unit more. With `unit` a forward
    /// pass's batch, every rank runs exactly the batches one process would run over these items.
    public func share(of n: Int, unit: Int = 1) -> Range<Int> {
        Self.share(of: n, unit: unit, rank: rank, worldSize: worldSize)
    }

    public static func share(of n: Int, unit: Int, rank: Int, worldSize: Int) -> Range<Int> {
        let u = max(1, unit), world = max(1, worldSize)
        let units = (max(0, n) + u - 1) / u
        let base = units / world, extra = units % world
        let first = rank * base + min(rank, extra)
        let count = base + (rank < extra ? 1 : 0)
        return min(n, first * u)..<min(n, (first + count) * u)
    }

    /// Every rank's `tensor` concatenated along dim 0 in rank order, where the ranks' first dimensions may differ
    /// (an uneven split; the other dimensions and the dtype must agree): the row counts are gathered first, every
    /// rank's rows are padded to the largest count, gathered, and the padding is dropped. Returned on `tensor`'s
    /// device; no gradient.
    public func allGatherRows(_ tensor: Tensor) throws -> Tensor {
        let shape = tensor.shape
        guard let rows = shape.first else {
            throw DistributedError.invalidArgument("allGatherRows: a 0-dimensional tensor has no rows to gather")
        }
        let counts = try allGather(Tensor([Int64(rows)], shape: [1], device: device)).to(device: .cpu).toArray(Int64.self)
            .map { Int($0) }
        let most = counts.max() ?? 0
        guard most > 0 else { return tensor }
        return try Torch.noGrad {
            var local = try tensor.detach().to(device: device)
            if rows < most {
                let pad = try Tensor.zeros([most - rows] + shape.dropFirst(), dtype: tensor.dtype, device: device)
                local = try Tensor.cat([local, pad])
            }
            let all = try group.allGather(local.contiguous())
            let parts = try counts.enumerated().filter { $0.element > 0 }.map { r, count in
                try all.narrow(dim: 0, start: r * most, length: count)
            }
            return try Tensor.cat(parts).to(device: tensor.device)
        }
    }

    /// The sum over ranks of a number.
    public func sum(_ value: Double) throws -> Double {
        let t = try Tensor([value], shape: [1], device: device)
        try group.allReduce([t])
        return try t.item()
    }

    /// Waits for every rank (used before rank 0 exits, so that the store it hosts outlives the others' last call).
    public func barrier() throws { try group.barrier() }
}
