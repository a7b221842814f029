import Torch

/// The input check shared by the ImageNet backbones (EfficientNet-Lite0, ResNet-50).
enum PixelInput {
    /// Checks that `pixels` is (B, 3, H, W) RGB in [0, 255], uint8 or floating point, and returns it as float32;
    /// errors name `model`.
    static func float32(_ pixels: Tensor, model: String) throws -> Tensor {
        let s = pixels.shape
        guard s.count == 4, s[1] == 3, s[0] > 0, s[2] > 0, s[3] > 0 else {
            throw ModelError.input("\(model): pixels must be (B, 3, H, W) RGB in [0, 255], got shape \(s)")
        }
        guard pixels.dtype == .uint8 || pixels.dtype.isFloatingPoint else {
            throw ModelError.input("\(model): pixels must be uint8 or floating point, got \(pixels.dtype)")
        }
        return pixels.dtype == .float32 ? pixels : try pixels.to(dtype: .float32)
    }
}
