// A main() for the fuzz targets where libFuzzer is not available (a gcc build): runs the
// target once on each file named on the command line, so the seed corpora and the
// regression inputs replay in every build. Options starting with '-' (libFuzzer's) are
// ignored. Exits non-zero when a file cannot be read; a crash ends the process as it would
// under libFuzzer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    int ran = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string path = argv[i];
        if (path.starts_with("-")) {
            continue;
        }
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
            return 2;
        }
        const std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                                      std::istreambuf_iterator<char>()};
        (void)LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                     bytes.size());
        ++ran;
    }
    std::fprintf(stderr, "replay: %d inputs ran without a crash\n", ran);
    return 0;
}
