/// Finds YAML anchors (`&name`) in raw text without parsing it.
///
/// An anchor token can only start where libyaml starts a token: at the beginning of a line (after
/// indentation), or after one of the indicators `-` `?` `:` `,` `[` `{` (and blanks), or after a
/// tag (`!!map &a`). The scan flags every `&` followed by an anchor character (`[0-9A-Za-z_-]`, as
/// libyaml reads them) in such a position. It does not know about quotes, comments or block
/// scalars, so it may flag an `&` that is really text (`note: "a: &b"`), but it never misses an
/// anchor: without anchors, aliases have nothing to expand.
enum AnchorScanner {
    /// The 1-based line and column (in Unicode scalars, as libyaml counts) of the first possible
    /// anchor, or `nil` when the text certainly has none.
    static func firstAnchor(in text: String) -> (line: Int, column: Int)? {
        let scalars = Array(text.unicodeScalars)
        // Fast path: manifests rarely contain `&` at all.
        guard scalars.contains("&") else { return nil }
        var line = 1
        var column = 1
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if isLineBreak(scalar) {
                // CR LF is one line break.
                if scalar == "\r", index + 1 < scalars.count, scalars[index + 1] == "\n" {
                    index += 1
                }
                line += 1
                column = 1
                index += 1
                continue
            }
            if scalar == "&", index + 1 < scalars.count, isAnchorCharacter(scalars[index + 1]),
                mayStartToken(before: index, in: scalars)
            {
                return (line, column)
            }
            column += 1
            index += 1
        }
        return nil
    }

    private static func mayStartToken(before index: Int, in scalars: [Unicode.Scalar]) -> Bool {
        var cursor = index - 1
        while cursor >= 0, isBlank(scalars[cursor]) {
            cursor -= 1
        }
        guard cursor >= 0, !isLineBreak(scalars[cursor]) else { return true }
        switch scalars[cursor] {
        case "-", "?", ":", ",", "[", "{":
            return true
        default:
            break
        }
        // A tag token (`!tag`, `!!map`, `!<tag:…>`) directly before: look back through the word
        // for its `!`. A quote or a brace is in no tag, so the word is not one: without this stop,
        // compact JSON such as `{"name":"a!b","address":"1&2"}` (one long word) read as tagged.
        while cursor >= 0, !isBlank(scalars[cursor]), !isLineBreak(scalars[cursor]) {
            switch scalars[cursor] {
            case "!": return true
            case "\"", "{", "}": return false
            default: cursor -= 1
            }
        }
        return false
    }

    private static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\u{FEFF}"
    }

    private static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}": true
        default: false
        }
    }

    private static func isAnchorCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "0"..."9", "a"..."z", "A"..."Z", "_", "-": true
        default: false
        }
    }
}
