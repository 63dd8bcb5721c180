// Fuzz target: the age v1 text header parser. The grammar is strict, so a file has exactly
// one valid encoding: a parsed header must serialise back to the very bytes it came from.
#include <cstddef>
#include <cstdint>

#include "dumps/age_header.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace snapgov::dumps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = snapgov::fuzz::as_text(data, size);
    auto header = parse_age_header(text);
    if (header) {
        if (serialize_age_header_prefix(header->stanzas) != header->mac_input ||
            !text.starts_with(header->mac_input)) {
            __builtin_trap();
        }
    }
    return 0;
}
