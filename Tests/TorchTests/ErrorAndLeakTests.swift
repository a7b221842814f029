import Foundation
import Torch
import XCTest

final class ErrorAndLeakTests: XCTestCase {
    func testShapeMismatchThrowsWithLibtorchMessage() throws {
        let a = try Tensor.zeros([2, 3]), b = try Tensor.zeros([4, 5])
        XCTAssertThrowsError(try a.matmul(b)) { e in
            guard case let TorchError.libtorch(op, message) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(op, "matmul")
            XCTAssertTrue(message.contains("cannot be multiplied"), message)
            XCTAssertFalse(message.contains("Exception raised from"), "backtrace should be stripped")
        }
        XCTAssertThrowsError(try a.view([7]))
        XCTAssertThrowsError(try Tensor.cat([a, b], dim: 0))
        XCTAssertThrowsError(try a.crossEntropy(target: Tensor.zeros([2])))  // float targets of the wrong shape
        XCTAssertThrowsError(try Tensor([1, 2, 3] as [Float], shape: [2, 2]))
    }

    func testWrongDtypeThrows() throws {
        let t = try Tensor.zeros([2], dtype: .int64)
        XCTAssertThrowsError(try t.toArray(Float.self)) { e in
            XCTAssertEqual(e as? TorchError, .dtypeMismatch(op: "toArray", expected: .float32, actual: .int64))
        }
        XCTAssertThrowsError(try Tensor.embedding(Tensor.zeros([3, 2]), Tensor.zeros([2])))  // float indices
    }

    func testCUDAUnavailableThrowsCleanly() throws {
        try XCTSkipIf(CUDA.isAvailable, "this machine has CUDA")
        XCTAssertThrowsError(try Tensor.zeros([2], device: .cuda(0))) { e in
            XCTAssertTrue("\(e)".contains("CUDA"), "\(e)")
        }
        XCTAssertThrowsError(try Tensor.ones([2]).to(device: .cuda(0)))
        XCTAssertThrowsError(try CUDA.synchronize())
        XCTAssertThrowsError(try Tensor.ones([2]).pinned())
        XCTAssertThrowsError(try CUDA.memoryStats())
        XCTAssertThrowsError(try Generator(seed: 1, device: .cuda(0)))
        XCTAssertThrowsError(try Torch.autocast(.bfloat16) { try Tensor.ones([1]) }.item())
    }

    func testNoGradScope() throws {
        let w = try Tensor.ones([2]).requiresGrad(true)
        let y = try Torch.noGrad { try w * 2 }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(Torch.isGradEnabled)
        XCTAssertTrue(try (w * 2).requiresGrad)
    }

    private func residentBytes() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = Int(s.split(separator: " ")[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// 100k tensor ops after a warm-up: resident memory stays within ±5 %.
    func testNoLeakOver100kOps() throws {
        let a = try Tensor.randn([64, 64]).requiresGrad(true)
        func work(_ n: Int) throws {
            for i in 0..<n {
                let b = try a.mul(1.0001).add(Double(i % 3)).relu()
                if i % 1000 == 0 {
                    let l = try b.matmul(a).sum()
                    try l.backward()
                    try a.setGrad(nil)
                }
                _ = try b.split(16, dim: 0)
            }
        }
        try work(20_000)
        let before = residentBytes()
        try work(20_000)  // 5 ops each: 100k ops
        let after = residentBytes()
        XCTAssertGreaterThan(before, 0)
        XCTAssertLessThan(abs(Double(after - before)) / Double(before), 0.05, "RSS \(before) → \(after)")
    }
}
