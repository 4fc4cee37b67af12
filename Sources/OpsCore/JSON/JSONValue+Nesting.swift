extension JSONValue {
    /// Whether arrays and objects nest deeper than `limit` levels (a top-level
    /// object is one level), counted as the parser counts them. Stops descending
    /// past the limit, so even a value nested far too deep costs little stack.
    func nestsDeeper(than limit: Int) -> Bool {
        switch self {
        case .array(let elements):
            guard limit > 0 else { return true }
            return elements.contains { $0.nestsDeeper(than: limit - 1) }
        case .object(let members):
            guard limit > 0 else { return true }
            return members.values.contains { $0.nestsDeeper(than: limit - 1) }
        default:
            return false
        }
    }
}
