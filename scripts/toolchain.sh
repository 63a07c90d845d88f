# Sourced by the scripts: use the distribution's Rust (Debian's rustc-web/cargo-web, 1.96,
# with the library source for -Zbuild-std) ahead of any rustup toolchain on PATH.
# Set SLEEPER_TOOLCHAIN=path to keep PATH as it is (e.g. inside `nix develop`).
if [ -z "${SLEEPER_TOOLCHAIN:-}" ] && [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ]; then
  export PATH="/usr/bin:$PATH" CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc
fi
cd "$(dirname "$0")/.." || exit 1
