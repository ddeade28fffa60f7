/// A matrix dimension known at compile time (`Fixed2`) or only at run time (`RuntimeDimension`).
///
/// Kernels generic over it are specialised per type; with a fixed dimension every loop
/// bound is a constant and the small loops unroll, which roughly halves a 2×2 filter step.
@usableFromInline
protocol KernelDimension {
    /// The dimension to loop to: the constant for fixed types, `runtime` otherwise.
    static func resolve(_ runtime: Int) -> Int
}

@usableFromInline enum RuntimeDimension: KernelDimension {
    @inline(__always) @usableFromInline static func resolve(_ runtime: Int) -> Int { runtime }
}
@usableFromInline enum Fixed1: KernelDimension {
    @inline(__always) @usableFromInline static func resolve(_: Int) -> Int { 1 }
}
@usableFromInline enum Fixed2: KernelDimension {
    @inline(__always) @usableFromInline static func resolve(_: Int) -> Int { 2 }
}
@usableFromInline enum Fixed3: KernelDimension {
    @inline(__always) @usableFromInline static func resolve(_: Int) -> Int { 3 }
}
@usableFromInline enum Fixed4: KernelDimension {
    @inline(__always) @usableFromInline static func resolve(_: Int) -> Int { 4 }
}
@usableFromInline enum Fixed6: KernelDimension {
    @inline(__always) @usableFromInline static func resolve(_: Int) -> Int { 6 }
}
