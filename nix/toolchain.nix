# The one compiler of every row, pinned by exact version: the rustc the cargo path uses too.
# Pure, so the tests read it with nix-instantiate and check it against the machine's rustc.
rec {
  rustVersion = "1.96.0";
  # The lock of that release's standard library (rust-src's library/Cargo.lock), which
  # -Zbuild-std needs vendored. Committed: reading it out of rust-src would be
  # import-from-derivation.
  libraryLock = ./. + "/rust-library-${rustVersion}.Cargo.lock";
}
