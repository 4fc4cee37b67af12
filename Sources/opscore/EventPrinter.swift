import Foundation
import OpsCore

/// Prints feed entries for `watch`: one JSON line with `stream_id`, or a line for people.
struct EventPrinter {
    let format: OutputFormat
    let agent: String?
    let session: SessionID?

    /// Prints an entry that passes the filters; returns `false` when stdout is gone.
    func print(_ entry: FeedEntry) -> Bool {
        let event = entry.event
        if agent != nil || session != nil {
            guard let event else { return true }
            if let agent, event.agentID != agent { return true }
            if let session, event.sessionID != session { return true }
        }
        switch format {
        case .json:
            // Only one-line JSON objects are events; anything else in the stream is skipped.
            guard let line = entry.jsonWithStreamID else { return true }
            return Output.line(line)
        case .text:
            guard let event else { return true }
            let previous = event.previousStatus.map { "\($0.rawValue) -> " } ?? ""
            return Output.line("\(event.at)  \(event.kind.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0))  \(event.sessionID)  v\(event.version)  \(previous)\(event.status.rawValue)  agent=\(Output.quotedIfNeeded(event.agentID))  origin=\(event.origin)  stream_id=\(entry.streamID)")
        }
    }

    /// Prints the `feed.gap` line of a partition; returns `false` when stdout is gone.
    func printGap(partition: Int, firstKept: StreamID) -> Bool {
        let label = KeySpace.partitionLabels[partition]
        switch format {
        case .json:
            // The documented field order: type, partition, first_kept.
            return Output.line(#"{"type":"feed.gap","partition":"\#(label)","first_kept":"\#(firstKept)"}"#)
        case .text:
            return Output.line("feed.gap  partition \(label): events were trimmed before they were read; going on from \(firstKept)")
        }
    }
}
