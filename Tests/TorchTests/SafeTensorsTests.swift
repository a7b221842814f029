import TestSupport
import Foundation
import Torch
import XCTest

final class SafeTensorsTests: XCTestCase {
    func testPythonFileReadsInSwift() throws {
        let path = try Reference.tempDir("st") + "/py.safetensors"
        try Reference.run("safetensors_check.py", ["write", path])
        let (t, meta) = try SafeTensors.load(path)
        XCTAssertEqual(meta["origin"], "python")
        XCTAssertEqual(t["f32"]!.shape, [3, 4])
        XCTAssertEqual(try t["f32"]!.toArray(Float.self), (0..<12).map { Float($0) - 5.5 })
        XCTAssertEqual(t["bf16"]!.dtype, .bfloat16)
        XCTAssertEqual(try t["bf16"]!.to(dtype: .float32).toArray(Float.self), (0..<12).map { Float($0) - 5.5 })
        XCTAssertEqual(try t["f16"]!.to(dtype: .float32).abs().sum().item(), 36)
        XCTAssertEqual(try t["i64"]!.toArray(Int64.self)[11], 5 * 1_000_000_007)
        XCTAssertEqual(try t["i32"]!.toArray(Int32.self)[0], -5)
        XCTAssertEqual(try t["u8"]!.toArray(UInt8.self), (0..<12).map { UInt8(Double($0) + 0.5) })
        XCTAssertEqual(try t["bool"]!.toArray(Bool.self), (0..<12).map { $0 >= 6 })
        XCTAssertEqual(t["scalar"]!.shape, [])
        XCTAssertEqual(try t["scalar"]!.item(), 2.5)
        XCTAssertEqual(t["empty"]!.shape, [0, 3])
    }

    func testSwiftFileReadsInPython() throws {
        let path = try Reference.tempDir("st") + "/swift.safetensors"
        let base = try Tensor.arange(0, 12, dtype: .float64).sub(5.5).reshape([3, 4])
        let ts: [(String, Tensor)] = try [
            ("f32", base.to(dtype: .float32)), ("bf16", base.to(dtype: .bfloat16)), ("f16", base.to(dtype: .float16)),
            ("f64", base), ("i64", base.to(dtype: .int64)), ("i32", base.to(dtype: .int32)),
            ("u8", base.add(6).to(dtype: .uint8)), ("bool", base.gt(0)), ("empty", Tensor.zeros([0, 2])),
        ]
        try SafeTensors.save(ts, to: path, metadata: ["origin": "swift"])
        let out = try Reference.run("safetensors_check.py", ["read", path])
        let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: [Any]]
        XCTAssertEqual(json["f32"]?[0] as? String, "torch.float32")
        XCTAssertEqual(json["bf16"]?[0] as? String, "torch.bfloat16")
        XCTAssertEqual(json["bool"]?[0] as? String, "torch.bool")
        XCTAssertEqual(json["f64"]?[2] as? Double, 0)
        XCTAssertEqual(json["u8"]?[2] as? Double, 66)
        XCTAssertEqual(json["bool"]?[2] as? Double, 6)
        XCTAssertEqual(json["i32"]?[1] as? [Int], [3, 4])
        XCTAssertEqual(json["empty"]?[1] as? [Int], [0, 2])
    }

    private func file(header: String, dataBytes: Int = 16, declaredLength: UInt64? = nil) throws -> String {
        var d = Data()
        var n = (declaredLength ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(Data(header.utf8))
        d.append(Data(repeating: 0, count: dataBytes))
        let path = try Reference.tempDir("bad") + "/bad.safetensors"
        try d.write(to: URL(fileURLWithPath: path))
        return path
    }

    private func assertRejected(_ path: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.load(path), file: file, line: line) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains(path) && s.contains(fragment), "message '\(s)' should name the file and say '\(fragment)'",
                          file: file, line: line)
        }
    }

    func testMalformedFilesAreRejected() throws {
        assertRejected(try file(header: "{}", declaredLength: 1 << 40), "past the end")
        assertRejected(try file(header: "not json at all"), "not a JSON object")
        assertRejected(try file(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,32]}}"#), "out of range")
        assertRejected(try file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#), "overlap")
        assertRejected(try file(header: #"{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}"#), "unsupported dtype")
        assertRejected(try file(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#), "needs 12")
        assertRejected(try file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#), "invalid shape")
        let tiny = try Reference.tempDir("bad") + "/tiny.safetensors"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: tiny))
        assertRejected(tiny, "fewer than the 8-byte")
        assertRejected("/nonexistent/x.safetensors", "cannot read")
    }

    /// The header's byte ranges must tile the data section exactly: no gap before or between tensors, no overlap,
    /// no bytes after the last one (issue 14 item 8; the reference implementation's "incomplete buffer" rule).
    func testByteRangesMustCoverTheDataExactly() throws {
        let a = #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
        assertRejected(try file(header: "{\(a),\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}"),
                       "4 unused bytes between tensor 'a' (ends at 8) and tensor 'b' (starts at 12)")
        assertRejected(try file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, dataBytes: 12),
                       "4 unused bytes before tensor 'a' (starts at 4)")
        assertRejected(try file(header: "{\(a)}"), "8 bytes after the last tensor 'a' (ends at 8; the data section has 16)")
        assertRejected(try file(header: "{}", dataBytes: 4), "4 bytes after the header, but no tensor")
        let exact = try file(header: "{\(a),\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}")
        XCTAssertEqual(try SafeTensors.load(exact).tensors.keys.sorted(), ["a", "b"])
    }

    func testAtomicWriteLeavesNoTemporaryFiles() throws {
        let dir = try Reference.tempDir("atomic")
        try SafeTensors.save([("x", Tensor.ones([2]))], to: dir + "/a.safetensors")
        try SafeTensors.save([("x", Tensor.zeros([3]))], to: dir + "/a.safetensors")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["a.safetensors"])
        XCTAssertEqual(try SafeTensors.load(dir + "/a.safetensors").tensors["x"]!.shape, [3])
        XCTAssertThrowsError(try SafeTensors.save([("x", Tensor.ones([1]))], to: "/nonexistent-dir/a.safetensors"))
    }
}
