//! The positional arguments of a bench program, shared by those that take some.

/// The `n`th positional argument (flags such as cargo's `--bench` are skipped), or
/// `default`.
pub(crate) fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}
