#pragma once
/// Files and folders snapgov keeps for itself (the state directory, its journals): one rule
/// for all of them. Whoever can write a journal decides what recovery does with it (which
/// file is wiped, which checkpoint is redefined from which XML), so only the user snapgov
/// runs as may write them.

#include <string>

#include <sys/stat.h>

#include "core/error.hpp"

namespace snapgov {

/// Refuses (ErrorCode::config) what another user owns or what group or others may write.
/// `what` names it in the message ("state directory", "journal"); the message says why it
/// matters and how to fix it.
[[nodiscard]] Result<void> check_private(const struct stat& st, const std::string& path,
                                         const std::string& what);

/// The same on an open file or folder.
[[nodiscard]] Result<void> check_private_fd(int fd, const std::string& path,
                                            const std::string& what);

} // namespace snapgov
