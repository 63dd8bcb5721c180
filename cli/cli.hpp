#pragma once
/// The `snapgov` command line. `main` only calls `run_cli`.

namespace snapgov::cli {

/// Parses arguments, runs one command, and returns the process exit code:
/// 0 compliant/success, 1 violations found or remaining, 2 usage, configuration or runtime
/// error. Never calls exit(), and no exception escapes it.
[[nodiscard]] int run_cli(int argc, char** argv) noexcept;

} // namespace snapgov::cli
