#include "core/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace snapgov::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::info)};
std::mutex g_mutex;

const char* name(Level level) {
    switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
    }
    return "info";
}

} // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level)); }

void write(Level level, std::string_view message) {
    if (static_cast<int>(level) < g_level.load()) {
        return;
    }
    std::string line = "snapgov: ";
    line += name(level);
    line += ": ";
    line += message;
    line += '\n';
    const std::lock_guard lock(g_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace snapgov::log
