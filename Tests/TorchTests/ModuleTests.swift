import TestSupport
import Foundation
import Torch
import XCTest

private final class Block: Module {
    let norm1: LayerNorm
    let attn: MultiHeadAttention
    init(dim: Int = 8) throws { norm1 = try LayerNorm(8); attn = try MultiHeadAttention(dim: 8, heads: 2) }
}

private final class Seq: Module {
    let linear: Linear
    let norm: LayerNorm
    override var keys: [String: String] { ["linear": "0", "norm": "1"] }
    init(dim: Int = 8) throws { linear = try Linear(8, 8); norm = try LayerNorm(8) }
}

private final class Net: Module {
    let pos: Tensor
    let blocks: [Block]
    let proj: Seq
    let bn: BatchNorm2d
    let tied: Linear
    let decoder: Tensor
    init(dim: Int = 8) throws {
        pos = try Tensor.zeros([1, 4, 8]).requiresGrad(true)
        blocks = [try Block(), try Block()]
        proj = try Seq()
        bn = try BatchNorm2d(3)
        tied = try Linear(8, 8)
        decoder = tied.weight
    }
}

final class ModuleTests: XCTestCase {
    func testDottedNamesFollowPyTorchStateDictConvention() throws {
        let net = try Net()
        let names = net.stateDict().map(\.0)
        XCTAssertEqual(names.first, "pos")
        XCTAssertTrue(names.contains("blocks.1.attn.q.weight"))
        XCTAssertTrue(names.contains("blocks.0.norm1.bias"))
        XCTAssertTrue(names.contains("proj.0.weight"))
        XCTAssertTrue(names.contains("proj.1.weight"))
        XCTAssertTrue(names.contains("bn.running_var"))
        XCTAssertTrue(names.contains("bn.num_batches_tracked"))
        XCTAssertTrue(names.contains("decoder"))
        // tied tensors appear under both names in the state dict, once among parameters
        XCTAssertEqual(net.namedParameters().filter { $0.1 === net.decoder }.count, 1)
        XCTAssertFalse(net.namedParameters().map(\.0).contains("bn.running_mean"))
        XCTAssertEqual(net.parameterCount, 4 * 8 + 2 * (2 * 8 + 4 * 72) + 72 + 16 + 6 + 72)
    }

    func testTrainEvalPropagates() throws {
        let net = try Net()
        net.eval()
        XCTAssertFalse(net.blocks[1].attn.q.training)
        net.train()
        XCTAssertTrue(net.bn.training)
    }

    func testStateDictRoundTripAndErrors() throws {
        let a = try Net(), b = try Net()
        let path = try Reference.tempDir("sd") + "/net.safetensors"
        try a.save(to: path)
        try b.load(from: path)
        for ((na, ta), (_, tb)) in zip(a.stateDict(), b.stateDict()) {
            XCTAssertEqual(try ta.toBytes(), try tb.toBytes(), na)
        }
        var dict = try SafeTensors.load(path).tensors
        dict["blocks.0.attn.q.weight"] = try Tensor.zeros([3, 3])
        dict["extra.weight"] = try Tensor.zeros([1])
        dict.removeValue(forKey: "pos")
        XCTAssertThrowsError(try b.loadStateDict(dict)) { e in
            guard case let TorchError.stateDict(missing, unexpected, mismatched) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(missing, ["pos"])
            XCTAssertEqual(unexpected, ["extra.weight"])
            XCTAssertEqual(mismatched, ["blocks.0.attn.q.weight: expected [8, 8], got [3, 3]"])
        }
        // nothing was changed by the failed load
        XCTAssertEqual(try b.blocks[0].attn.q.weight.toBytes(), try a.blocks[0].attn.q.weight.toBytes())
    }

    func testBatchNormTracksBatches() throws {
        let bn = try BatchNorm2d(3)
        _ = try bn(Tensor.randn([2, 3, 4, 4]))
        XCTAssertEqual(try bn.num_batches_tracked.value.itemInt(), 1)
        XCTAssertNotEqual(try bn.running_mean.value.abs().sum().item(), 0)
        bn.eval()
        _ = try bn(Tensor.randn([2, 3, 4, 4]))
        XCTAssertEqual(try bn.num_batches_tracked.value.itemInt(), 1)
    }

    func testModuleToKeepsParameterIdentity() throws {
        let lin = try Linear(2, 2)
        let w = lin.weight
        try lin.to(.cpu, dtype: .float64)
        XCTAssertTrue(lin.weight === w)
        XCTAssertEqual(lin.weight.dtype, .float64)
    }
}
