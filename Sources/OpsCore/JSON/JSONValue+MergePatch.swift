// JSON Merge Patch (RFC 7386).

extension JSONValue {
    /// Returns the result of applying a JSON Merge Patch (RFC 7386) to this
    /// value.
    ///
    /// If `patch` is not an object, the result is `patch` itself. Otherwise
    /// the result is an object that starts from this value's members (or no
    /// members if this value is not an object) and, for each member of
    /// `patch`: a `null` value removes the key, any other value replaces the
    /// key's value with the (recursive) merge of the existing value and the
    /// patch value. Consequently `null` values inside object patches never
    /// appear in the result, while `null` inside arrays is kept.
    ///
    /// - Parameters:
    ///   - patch: The merge patch document.
    public func merging(patch: JSONValue) -> JSONValue {
        var result = self
        result.applyMergePatch(patch)
        return result
    }

    /// Applies a merge patch in place; see ``merging(patch:)``.
    mutating func applyMergePatch(_ patch: JSONValue) {
        guard case .object(let patchMembers) = patch else {
            self = patch
            return
        }
        var members: [String: JSONValue]
        if case .object(let existing) = self {
            members = existing
        } else {
            members = [:]
        }
        self = .null // drop our reference so `members` can be mutated in place
        for (key, patchValue) in patchMembers {
            if case .null = patchValue {
                members.removeValue(forKey: key)
            } else {
                var value = members.removeValue(forKey: key) ?? .null
                value.applyMergePatch(patchValue)
                members[key] = value
            }
        }
        self = .object(members)
    }
}
