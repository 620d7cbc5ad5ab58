import Foundation
import Net

/// The tests' seeded generator is Net's SplitMix64, so every run sees the same "random" data.
public typealias SplitMix = SplitMix64

extension SplitMix64 {
    public init(state: UInt64) { self.init(seed: state) }

    /// A standard normal sample (Box–Muller).
    public mutating func gaussian() -> Float {
        let u1 = Float.random(in: Float.ulpOfOne...1, using: &self)
        let u2 = Float.random(in: 0...1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
