import TestSupport
import Foundation
import Torch
import XCTest

final class OptimizerTests: XCTestCase {
    /// 10 steps of AdamW and SGD (two groups, clipping, a changing lr) give PyTorch's weights and losses.
    func testAdamWAndSGDMatchTorchOptim() throws {
        Torch.setNumThreads(1)
        let dir = try Reference.tempDir("adamw")
        try Reference.run("adamw_ref.py", ["make", dir])
        try Reference.run("adamw_ref.py", ["run", dir])
        let initial = try SafeTensors.load(dir + "/init.safetensors").tensors
        for name in ["adamw", "sgd"] {
            let expected = try SafeTensors.load(dir + "/\(name).safetensors").tensors
            let p = try ["w1", "b1", "w2", "b2"].map { try initial[$0]!.clone().requiresGrad(true) }
            let groups = [ParamGroup(params: [p[0], p[2]], weightDecay: 0.1), ParamGroup(params: [p[1], p[3]], weightDecay: 0)]
            let adam = AdamW(groups, lr: 0.05, betas: (0.9, 0.95))
            let sgd = SGD(groups, lr: 0.05, momentum: 0.9)
            var losses: [Double] = []
            for step in 0..<10 {
                adam.lr = 0.05 * (1 - Double(step) / 20)
                sgd.lr = adam.lr
                let h = try initial["x"]!.linear(weight: p[0], bias: p[1]).gelu().linear(weight: p[2], bias: p[3])
                let loss = try h.crossEntropy(target: initial["y"]!)
                try loss.backward()
                try clipGradNorm(p, maxNorm: 0.5)
                if name == "adamw" { try adam.step(); try adam.zeroGrad() } else { try sgd.step(); try sgd.zeroGrad() }
                losses.append(try loss.item())
            }
            for (i, n) in ["w1", "b1", "w2", "b2"].enumerated() {
                try assertClose(p[i], expected[n]!, atol: 1e-6, rtol: 1e-5, "\(name).\(n)")
            }
            let ref = try expected["losses"]!.toArray(Double.self)
            for (a, b) in zip(losses, ref) { XCTAssertEqual(a, b, accuracy: 1e-6, "\(name) loss") }
        }
    }

    func testParamGroupsSkipDecayOnBiasesAndNorms() throws {
        let lin = try Linear(4, 3), norm = try LayerNorm(3)
        let groups = ParamGroup.decayAndNoDecay([("fc.weight", lin.weight), ("fc.bias", lin.bias!),
                                                 ("ln.weight", norm.weight!)], weightDecay: 0.01)
        XCTAssertEqual(groups.map(\.params.count), [1, 2])
        XCTAssertEqual(groups.map(\.weightDecay), [0.01, 0])
    }

    func testWarmupCosineSchedule() {
        let s = WarmupCosineSchedule(baseLR: 1.0, minLR: 0.1, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(s.lr(at: 0), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.lr(at: 9), 1.0, accuracy: 1e-12)
        XCTAssertEqual(s.lr(at: 10), 1.0, accuracy: 1e-12)
        XCTAssertEqual(s.lr(at: 60), 0.55, accuracy: 1e-12)
        XCTAssertEqual(s.lr(at: 110), 0.1, accuracy: 1e-12)
    }

    func testClipGradNormReturnsNormAndScales() throws {
        let p = try Tensor([3.0, 4.0] as [Float]).requiresGrad(true)
        try p.mul(1).sum().backward()  // grad = [1, 1]
        let p2 = try Tensor([0.0, 0.0] as [Float]).requiresGrad(true)
        try (p2 * Tensor([3.0, 4.0] as [Float])).sum().backward()  // grad = [3, 4]
        let norm = try clipGradNorm([p, p2], maxNorm: 1)
        XCTAssertEqual(norm, 27.0.squareRoot(), accuracy: 1e-5)
        let g = try p2.grad!.toArray(Float.self)
        XCTAssertEqual(Double(g[0]), 3 / 27.0.squareRoot(), accuracy: 1e-5)
    }
}
