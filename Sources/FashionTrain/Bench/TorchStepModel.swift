import Torch

/// The small network of `fashionvl bench torch-step`: conv stem → tokens → attention block → MLP → classifier.
/// Its PyTorch twin is `TorchStepBench.pythonSource`; both use the same shapes and ops.
public final class TorchStepModel: Module {
    public let stem: Conv2d
    public let norm1: LayerNorm
    public let attn: MultiHeadAttention
    public let norm2: LayerNorm
    public let fc1: Linear
    public let fc2: Linear
    public let head: Linear

    public init(width: Int = 64, heads: Int = 4, classes: Int = 10) throws {
        stem = try Conv2d(3, width, kernelSize: 3, stride: 2, padding: 1)
        norm1 = try LayerNorm(width)
        attn = try MultiHeadAttention(dim: width, heads: heads)
        norm2 = try LayerNorm(width)
        fc1 = try Linear(width, 4 * width)
        fc2 = try Linear(4 * width, width)
        head = try Linear(width, classes)
    }

    public func callAsFunction(_ images: Tensor) throws -> Tensor {
        var x = try stem(images).gelu().flatten(startDim: 2).transpose(1, 2)  // (B, N, C)
        x = try x + attn(norm1(x))
        x = try x + fc2(fc1(norm2(x)).gelu())
        return try head(x.mean(dims: [1]))
    }
}

/// One training step of `TorchStepModel` (forward, cross-entropy, backward, AdamW), timed in Swift and in
/// PyTorch (a persistent python3 subprocess running `pythonSource`) in alternating rounds.
public enum TorchStepBench {
    public static let batch = 32, imageSize = 32

    public static func makeStep(seed: UInt64 = 0) throws -> () throws -> Void {
        Torch.manualSeed(seed)
        let model = try TorchStepModel()
        let opt = AdamW(ParamGroup.decayAndNoDecay(model.namedParameters(), weightDecay: 0.01), lr: 1e-3)
        let gen = try Generator(seed: seed)
        let x = try Tensor.randn([batch, 3, imageSize, imageSize], generator: gen)
        let y = try Tensor.randint(low: 0, high: 10, [batch], generator: gen)
        return {
            let loss = try model(x).crossEntropy(target: y)
            try loss.backward()
            try opt.step()
            try opt.zeroGrad()
        }
    }

    public static let pythonSource = #"""
import json, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
B, S, W, H = 32, 32, 64, 4
class Attn(nn.Module):
    def __init__(s):
        super().__init__(); s.q, s.k, s.v, s.proj = (nn.Linear(W, W) for _ in range(4))
    def forward(s, x):
        b, n, d = x.shape
        sp = lambda t: t.view(b, n, H, d // H).transpose(1, 2)
        q, k, v = sp(s.q(x)), sp(s.k(x)), sp(s.v(x))
        a = torch.softmax(q @ k.transpose(-2, -1) * (d // H) ** -0.5, -1) @ v
        return s.proj(a.transpose(1, 2).reshape(b, n, d))
class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.stem = nn.Conv2d(3, W, 3, 2, 1); s.norm1 = nn.LayerNorm(W); s.attn = Attn(); s.norm2 = nn.LayerNorm(W)
        s.fc1 = nn.Linear(W, 4 * W); s.fc2 = nn.Linear(4 * W, W); s.head = nn.Linear(W, 10)
    def forward(s, x):
        x = F.gelu(s.stem(x)).flatten(2).transpose(1, 2)
        x = x + s.attn(s.norm1(x))
        x = x + s.fc2(F.gelu(s.fc1(s.norm2(x))))
        return s.head(x.mean(1))
torch.manual_seed(0)
m = Net()
decay = [p for n, p in m.named_parameters() if p.ndim > 1]
no = [p for n, p in m.named_parameters() if p.ndim <= 1]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no, "weight_decay": 0.0}], lr=1e-3)
g = torch.Generator().manual_seed(0)
x = torch.randn(B, 3, S, S, generator=g); y = torch.randint(0, 10, (B,), generator=g)
for line in sys.stdin:
    n = int(line); times = []
    for _ in range(n):
        t = time.perf_counter()
        F.cross_entropy(m(x), y).backward(); opt.step(); opt.zero_grad(set_to_none=True)
        times.append((time.perf_counter() - t) * 1000)
    print(json.dumps(times), flush=True)
"""#
}
