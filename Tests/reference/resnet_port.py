"""Plain-torch ResNet-50 with torchvision's parameter names and arithmetic (torchvision.models.resnet50, v1.5:
stride on the Bottleneck's 3x3 conv2; BatchNorm eps 1e-5), the reference of Sources/FashionModels/ResNet.swift.
Written out because Debian's python3-torch ships no torchvision; its state dict has exactly torchvision's keys
(`conv1.weight`, `layer1.0.downsample.0.weight`, `layer4.2.bn3.running_var`, `fc.bias`, ...).

  resnet_port.py weights --seed S --pth OUT.pth --out OUT.safetensors
      a seeded random model whose BatchNorm weights, biases and running statistics are re-drawn (so that folding
      and normalisation matter), saved as torchvision saves one (torch.save of the state dict, OUT.pth) and
      converted to safetensors the way docs/KALEIDO-PREPARE.md §2 tells users to convert theirs.
  resnet_port.py forward --weights W.safetensors --input IN.safetensors --out OUT.safetensors
      evaluation-mode forward of IN's `pixels` ((N, 3, H, W) uint8 RGB in [0, 255], normalised with torchvision's
      ImageNet mean/std): writes `pooled` (N, 2048), `features` (N, 2048, h, w) and `logits` (N, 1000).
"""
import argparse
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self, layers=(3, 4, 6, 3), num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * 4, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x):
        f = self.features(x)
        p = torch.flatten(self.avgpool(f), 1)
        return f, p, self.fc(p)


def normalize(pixels):
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (pixels.float() / 255 - mean) / std


def cmd_weights(a):
    torch.manual_seed(a.seed)
    m = ResNet50()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.uniform_(0.3, 1.2)
                mod.bias.uniform_(-0.3, 0.3)
                mod.running_mean.uniform_(-0.3, 0.3)
                mod.running_var.uniform_(0.4, 1.6)
                mod.num_batches_tracked.fill_(c)
            if isinstance(mod, nn.Linear):
                mod.bias.uniform_(-0.1, 0.1)
    torch.save(m.state_dict(), a.pth)
    # docs/KALEIDO-PREPARE.md §2: a torchvision .pth to the safetensors file `--backbone resnet50` reads.
    sd = torch.load(a.pth, map_location="cpu", weights_only=True)
    st.save({k: v.contiguous() for k, v in sd.items()}, a.out, {"format": "resnet50", "source": os.path.basename(a.pth)})
    print(a.out)


def cmd_forward(a):
    m = ResNet50()
    m.load_state_dict(st.load(a.weights))
    m.eval()
    pixels = st.load(a.input)["pixels"]
    with torch.no_grad():
        f, p, logits = m(normalize(pixels))
    st.save({"features": f.contiguous(), "pooled": p.contiguous(), "logits": logits.contiguous()}, a.out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("weights")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--pth", required=True)
    w.add_argument("--out", required=True)
    f = sub.add_parser("forward")
    f.add_argument("--weights", required=True)
    f.add_argument("--input", required=True)
    f.add_argument("--out", required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    {"weights": cmd_weights, "forward": cmd_forward}[a.cmd](a)


if __name__ == "__main__":
    main()
