import Torch
import XCTest

/// Asserts that two tensors have the same shape and values within `atol + rtol·|expected|`.
func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Double = 1e-5, rtol: Double = 1e-5, _ name: String,
                 file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(actual.shape, expected.shape, "\(name): shape", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    let a = try actual.to(dtype: .float64), e = try expected.to(dtype: .float64)
    let diff = try a.sub(e).abs()
    let tol = try e.abs().mul(rtol).add(atol)
    let bad = try diff.gt(tol).any().itemInt()
    let worst = actual.numel == 0 ? 0 : try diff.max().item()
    XCTAssertEqual(bad, 0, "\(name): max |Δ| = \(worst)", file: file, line: line)
}
