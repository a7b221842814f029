import TestSupport
import Foundation
import Torch
import XCTest

/// Every op of Tests/reference/torch_ops_ref.py, computed in Swift on the same inputs and compared.
final class OpParityTests: XCTestCase {
    static var inputs: [String: Tensor] = [:]
    static var expected: [String: Tensor] = [:]

    override class func setUp() {
        Torch.setNumThreads(1)
        do {
            let dir = try Reference.tempDir("opref")
            try Reference.run("torch_ops_ref.py", [dir])
            inputs = try SafeTensors.load(dir + "/inputs.safetensors").tensors
            expected = try SafeTensors.load(dir + "/expected.safetensors").tensors
        } catch {
            XCTFail("reference generation failed: \(error)")
        }
    }

    private func i(_ n: String) -> Tensor { Self.inputs[n]! }

    private func check(_ name: String, _ actual: Tensor, atol: Double = 1e-5) throws {
        guard let e = Self.expected[name] else { return XCTFail("no reference value for \(name)") }
        var a = actual
        if a.dtype == .bool { a = try a.to(dtype: .uint8) }
        XCTAssertEqual(a.dtype, e.dtype, "\(name): dtype")
        try assertClose(a, e, atol: atol, name)
    }

    func testLinearAlgebraAndConvolution() throws {
        try check("matmul", i("a").matmul(i("b")))
        try check("bmm", i("ba").bmm(i("bb")))
        try check("baddbmm", i("bc").baddbmm(i("ba"), i("bb"), beta: 0.5, alpha: 2))
        try check("linear", i("a").linear(weight: i("w35"), bias: i("bias3")))
        try check("conv2d", i("img").conv2d(weight: i("cw"), bias: i("cb"), stride: [2], padding: [1]))
        let ctIn = try i("img").slice(dim: 2, end: 4).slice(dim: 3, end: 4).contiguous()
        let ctW = try i("tw").slice(dim: 0, end: 3).contiguous()
        try check("conv_transpose2d", ctIn.convTranspose2d(weight: ctW, stride: [2], padding: [1], outputPadding: [1]))
    }

    func testNormalisationAndActivations() throws {
        let x = i("x")
        try check("layer_norm", x.layerNorm(shape: [5], weight: i("ln_w"), bias: i("ln_b"), eps: 1e-6))
        let g = try i("img").repeat([1, 2, 1, 1]).slice(dim: 1, end: 4)
        try check("group_norm", g.groupNorm(groups: 2, weight: i("gn_w"), bias: i("gn_b")))
        let rm = try Tensor.zeros([3]), rv = try Tensor.ones([3])
        try check("batch_norm", i("img").batchNorm(weight: nil, bias: nil, runningMean: rm, runningVar: rv, training: true))
        try check("batch_norm.running_mean", rm)
        try check("batch_norm.running_var", rv)
        try check("gelu", x.gelu())
        try check("relu", x.relu())
        try check("sigmoid", x.sigmoid())
        try check("tanh", x.tanh())
        try check("softmax", x.softmax(dim: -1))
        try check("log_softmax", x.logSoftmax(dim: 1))
        try check("embedding", Tensor.embedding(i("emb"), i("ids"), paddingIdx: 0))
    }

    func testAttention() throws {
        try check("attention.additive", Tensor.attention(i("q"), i("k"), i("v"), mask: i("amask")))
        try check("attention.bool", Tensor.attention(i("q"), i("k"), i("v"), mask: i("bmask")))
        try check("attention.scale", Tensor.attention(i("q"), i("k"), i("v"), scale: 0.125))
    }

    func testResamplingAndShapes() throws {
        let img = i("img"), x = i("x"), a = i("a")
        try check("bilinear", img.upsampleBilinear(size: [11, 5]))
        try check("bilinear.ac", img.upsampleBilinear(size: [16, 16], alignCorners: true))
        try check("nearest", img.upsampleNearest(size: [5, 12]))
        try check("bicubic", img.upsampleBicubic(size: [12, 12]), atol: 1e-4)
        try check("pad", img.pad([1, 2, 0, 3], value: 0.5))
        try check("cat", Tensor.cat([a, a * 2], dim: 1))
        try check("stack", Tensor.stack([a, a + 1], dim: 0))
        try check("split.1", x.split(2, dim: 2)[1])
        try check("chunk.2", x.chunk(3, dim: 2)[2])
        try check("permute", x.permute([2, 0, 1]).contiguous())
        try check("flatten", x.flatten(startDim: 1))
        try check("unfold", x.unfold(dim: 2, size: 2, step: 1).contiguous())
        try check("slice.step", x.slice(dim: 1, start: 1, end: 4, step: 2).slice(dim: 2, step: 2).contiguous())
        try check("expand", i("bias3").view([1, 3]).expand([4, 3]).contiguous())
        try check("repeat", a.repeat([2, 1]))
    }

    func testIndexingAndReductions() throws {
        let x = i("x")
        try check("index_select", x.indexSelect(dim: 2, index: i("idx")))
        try check("gather", x.gather(dim: 2, index: i("gidx")))
        try check("scatter", Tensor.zeros([3, 4, 5]).scatter(dim: 2, index: i("gidx"), src: x))
        try check("scatter_add", Tensor.zeros([3, 4, 5]).scatterAdd(dim: 2, index: i("gidx"), src: x))
        try check("masked_fill", x.maskedFill(x.gt(0.5), -1.0))
        try check("where", Tensor.where(x.gt(0), x, x * 0.1))
        try check("sum.dims", x.sum(dims: [0, 2], keepdim: true))
        try check("mean", x.mean())
        let (mv, mi) = try x.max(dim: 1)
        try check("max.values", mv)
        try check("max.indices", mi)
        try check("var", x.variance(dims: [2]))
        try check("std", x.std(dims: [1, 2], keepdim: true))
        try check("norm", x.norm())
        try check("norm.dims", x.norm(p: 1, dims: [2]))
        try check("logsumexp", x.logsumexp(dims: [1]))
        try check("argmax", x.argmax(dim: 2))
        let (tv, ti) = try x.topk(2, dim: -1)
        try check("topk.values", tv)
        try check("topk.indices", ti)
        let (sv, si) = try x.sort(dim: 1, descending: true)
        try check("sort.values", sv)
        try check("sort.indices", si)
        try check("gt", x.gt(0.2))
        try check("logical", x.gt(0).logicalAnd(x.lt(1)).logicalOr(x.lt(-1)))
        try check("clamp", x.clamp(min: -0.5, max: 0.7))
        try check("math", x.abs().sqrt() + x.pow(2).exp().log1p() + x.abs().add(1).rsqrt())
    }

    func testLosses() throws {
        let lg = i("logits"), tg = i("target"), pr = i("probs")
        try check("cross_entropy", lg.crossEntropy(target: tg))
        try check("cross_entropy.smooth", lg.crossEntropy(target: tg, labelSmoothing: 0.1))
        try check("kl_div", lg.logSoftmax(dim: 1).klDiv(target: pr))
        try check("smooth_l1", lg.smoothL1Loss(target: pr, beta: 0.5))
        try check("mse", lg.mseLoss(target: pr))
        try check("l1", lg.l1Loss(target: pr))
        try check("bce_logits", lg.binaryCrossEntropyWithLogits(target: pr))
    }

    func testSeededRandomStreamsMatchPyTorch() throws {
        let gen = try Generator(seed: 7)
        try check("rand", Tensor.rand([3, 4], generator: gen))
        try check("randn", Tensor.randn([3, 4], generator: gen))
        try check("randint", Tensor.randint(low: 0, high: 10, [6], generator: gen))
        try check("randperm", Tensor.randperm(8, generator: gen))
        try check("bernoulli", Tensor.full([10], 0.5).bernoulli(generator: gen))
    }

    func testGeneratorStateRoundTrip() throws {
        let gen = try Generator(seed: 3)
        _ = try Tensor.rand([5], generator: gen)
        let state = try gen.state()
        let first = try Tensor.rand([4], generator: gen).toArray(Float.self)
        try gen.setState(state)
        XCTAssertEqual(try Tensor.rand([4], generator: gen).toArray(Float.self), first)
    }

    func testDefaultGeneratorStateRoundTrip() throws {
        Torch.manualSeed(11)
        let state = try Torch.defaultGeneratorState()
        let a = try Tensor.ones([64]).dropout(p: 0.5, training: true).toArray(Float.self)
        try Torch.setDefaultGeneratorState(state)
        XCTAssertEqual(try Tensor.ones([64]).dropout(p: 0.5, training: true).toArray(Float.self), a)
    }

    func testGradients() throws {
        func leaf(_ n: String) throws -> Tensor { try i(n).clone().requiresGrad(true) }
        let a = try leaf("a"), w = try leaf("w35"), b = try leaf("bias3"), lw = try leaf("ln_w"), lb = try leaf("ln_b")
        let h = try a.linear(weight: w, bias: b).gelu().repeat([1, 2]).slice(dim: 1, end: 5)
            .layerNorm(shape: [5], weight: lw, bias: lb)
        let loss1 = try (h.softmax(dim: -1) * Tensor.arange(0, 5, dtype: .float32)).sum() + h.pow(2).mean()
        try loss1.backward()
        for (n, t) in [("a", a), ("w35", w), ("bias3", b), ("ln_w", lw), ("ln_b", lb)] {
            try check("grad1.\(n)", XCTUnwrap(t.grad, n))
        }
        let ci = try leaf("img"), cw = try leaf("cw")
        let y = try ci.conv2d(weight: cw, padding: [1]).batchNorm(weight: nil, bias: nil, runningMean: nil, runningVar: nil, training: true)
        let loss2 = try y.relu().upsampleBilinear(size: [4, 4], alignCorners: true).smoothL1Loss(target: Tensor.zeros([2, 4, 4, 4]))
        try loss2.backward()
        try check("grad2.img", XCTUnwrap(ci.grad))
        try check("grad2.cw", XCTUnwrap(cw.grad))
        let q = try leaf("q"), k = try leaf("k"), v = try leaf("v"), lg = try leaf("logits")
        let att = try Tensor.attention(q, k, v)
        let loss3 = try att.square().sum() + lg.crossEntropy(target: i("target"), labelSmoothing: 0.1)
        try loss3.backward()
        for (n, t) in [("q", q), ("k", k), ("v", v), ("logits", lg)] { try check("grad3.\(n)", XCTUnwrap(t.grad)) }
    }
}
