// JSONText: JSON read from files says where it is wrong (line and column for syntax, the field otherwise).
@testable import FashionModels
import Foundation
import XCTest

final class JSONTextTests: XCTestCase {
    private struct State: Decodable, Equatable {
        var step: Int
        var weights: String
        var sizes: [Int]
    }

    private func problem(_ text: String) -> String? {
        do {
            _ = try JSONText.decode(State.self, from: Data(text.utf8))
            return nil
        } catch {
            return (error as? JSONText.Problem)?.description ?? "not a Problem: \(error)"
        }
    }

    func testSyntaxErrorsHaveLineAndColumn() {
        XCTAssertEqual(problem("{\"step\": 1, \"weigh"), "not valid JSON: line 1, column 19: unterminated string")
        XCTAssertEqual(problem("{\n \"step\": 1\n \"weights\": \"w\"}"), "not valid JSON: line 3, column 2: expected ',' or '}', found '\"'")
        XCTAssertEqual(problem(""), "not valid JSON: line 1, column 1: expected a value, found end of file")
    }

    func testValueErrorsNameTheField() {
        XCTAssertEqual(problem("{\"step\": \"1\", \"weights\": \"w\", \"sizes\": []}"), "field 'step': expected an integer")
        XCTAssertEqual(problem("{\"step\": 1, \"weights\": \"w\", \"sizes\": [1, true]}"), "field 'sizes[1]': expected an integer")
        XCTAssertEqual(problem("{\"step\": 1, \"sizes\": []}"), "missing field 'weights'")
        XCTAssertEqual(problem("{\"step\": null, \"weights\": \"w\", \"sizes\": []}"), "field 'step': expected an integer, found null")
        XCTAssertEqual(problem("[1]"), "the top level: expected a JSON object")
        XCTAssertNil(problem("{\"step\": 1, \"weights\": \"w\", \"sizes\": [2]}"))
    }
}
