#include "daemon/cli.hpp"

int main(int argc, char** argv) {
    return snapgov::daemon::run_cli(argc, argv);
}
